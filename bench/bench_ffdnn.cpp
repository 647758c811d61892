// FFDNN training throughput on phoneme frames (frames/s) through the real
// Trainer — float training vs quantized retraining with Δ re-estimated at
// every epoch end — and the achieved model FLOP/s as a fraction of this
// machine's sgemm peak, measured in the same run with the same BLAS threads.
//
// Inputs have the stand-in's layout: 123-dim frames gathered into 11-frame
// windows (1353 inputs) at batch time, 61 output classes.
#include <benchmark/benchmark.h>

#include <fmt/format.h>

#include "app/runtime.h"
#include "bench_util.h"
#include "data/dataset.h"
#include "data/timit.h"
#include "models/network.h"
#include "quant/hook.h"
#include "train/trainer.h"

namespace {

using namespace qretrain;

constexpr std::int64_t kFrameDims = 123, kContext = 5, kClasses = 61;

// Synthetic utterances of 300 frames each, windows clamped at their edges.
data::Dataset synthetic_frames(std::int64_t frames) {
  torch::manual_seed(0);
  data::Dataset d;
  d.name = "synthetic frames";
  d.input_shape = {(2 * kContext + 1) * kFrameDims};
  d.num_classes = kClasses;
  auto make_split = [](std::int64_t n) {
    data::Split s = data::Split::of(torch::randn({n, kFrameDims}), torch::randint(0, kClasses, {n}, torch::kInt64));
    s.context = data::timit::context_index(std::vector<std::int64_t>(n / 300, 300), kContext);
    return s;
  };
  d.train = make_split(frames);
  d.dev = make_split(300);
  return d;
}

// Multiply-adds per frame of a dense net; training costs 3x (forward, weight
// gradients, input gradients) minus the first layer's input gradients, which
// nobody needs.
double training_flops_per_frame(std::int64_t inputs, std::int64_t hidden, std::int64_t layers) {
  const double first = static_cast<double>(inputs * hidden);
  double macs = first + static_cast<double>(hidden * kClasses);
  for (std::int64_t l = 1; l < layers; ++l) macs += static_cast<double>(hidden * hidden);
  return 2.0 * (3.0 * macs - first);
}

// Args: hidden units, mode (0 float, 1 quantized 2-bit with Δ refit each epoch), batch size.
void BM_TrainFFDNN(benchmark::State& state) {
  const std::int64_t hidden = state.range(0);
  const int mode = static_cast<int>(state.range(1));
  const std::int64_t batch = state.range(2);
  config::RuntimeConfig rt;  // the dense default: 1 OpenMP thread, all cores to OpenBLAS
  app::configure_threads(rt, false);
  static const double peak = bench::sgemm_peak_flops();
  static data::Dataset data = synthetic_frames(300 * 200);
  config::NetworkConfig net;
  net.kind = "ffdnn";
  net.hidden = {static_cast<int>(hidden), static_cast<int>(hidden)};
  double frames_per_s = 0;
  for (auto _ : state) {
    auto model = models::make_network(net, {data.input_shape, data.num_classes});
    std::unique_ptr<quant::QuantHook> hook;
    if (mode == 1) hook = std::make_unique<quant::QuantHook>(*model, 2);
    train::Trainer trainer(model, data, torch::kCPU, hook.get());
    train::FitOptions opt;
    opt.train.optimizer = "sgd_nesterov";
    opt.train.momentum = 0.9;
    opt.train.batch_size = static_cast<int>(batch);
    opt.train.patience = 4;
    opt.recipe = {5e-4, 1e-9, 1};
    if (mode == 1) opt.policy.when = train::StepPolicy::When::Epoch;
    opt.tag = "bench";
    frames_per_s = trainer.fit(opt).samples_per_s;
  }
  const double flops = frames_per_s * training_flops_per_frame(data.input_shape[0], hidden, 2);
  state.counters["frames_per_s"] = frames_per_s;
  state.counters["model_GFLOP_per_s"] = flops / 1e9;
  state.counters["sgemm_peak_GFLOP_per_s"] = peak / 1e9;
  state.counters["fraction_of_peak"] = flops / peak;
  state.SetLabel(fmt::format("FFDNN {0}x{0}, {1}, batch {2}; {3}", hidden, mode ? "quantized 2-bit, Δ per epoch" : "float",
                             batch, app::thread_summary()));
}
BENCHMARK(BM_TrainFFDNN)
    ->ArgNames({"hidden", "quant", "batch"})
    ->Args({512, 0, 256})
    ->Args({512, 1, 256})
    ->Args({1024, 0, 256})
    ->Args({1024, 1, 256})
    ->Args({512, 0, 128})
    ->Args({1024, 0, 128})
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
