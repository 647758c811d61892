// Training throughput of LeNet-5 on 32x32 inputs through the real Trainer:
// float training vs quantized retraining (w_q swapped in for every
// forward/backward) with Δ fixed, re-estimated at epoch ends, and
// re-estimated after every update (first_epochs). Synthetic inputs: the
// arithmetic is the same as on Fashion-MNIST.
#include <benchmark/benchmark.h>

#include "app/runtime.h"
#include "data/dataset.h"
#include "models/network.h"
#include "quant/hook.h"
#include "train/trainer.h"

namespace {

using namespace qretrain;

data::Dataset synthetic_images(std::int64_t n) {
  torch::manual_seed(0);
  data::Dataset d;
  d.name = "synthetic";
  d.input_shape = {1, 32, 32};
  d.num_classes = 10;
  d.train = {torch::randn({n, 1, 32, 32}), torch::randint(0, 10, {n}, torch::kInt64)};
  d.dev = {torch::randn({64, 1, 32, 32}), torch::randint(0, 10, {64}, torch::kInt64)};
  return d;
}

// Args: mode (0 float, 1 quantized with Δ refit per epoch, 2 quantized with Δ
// refit after every update), OpenMP intra-op threads (OpenBLAS keeps 2).
void BM_TrainLeNet5(benchmark::State& state) {
  const int mode = static_cast<int>(state.range(0));
  const int bits = 2;
  config::RuntimeConfig rt;
  rt.threads = static_cast<int>(state.range(1));
  app::configure_threads(rt);
  static data::Dataset data = synthetic_images(64 * 100);
  config::NetworkConfig net;
  net.kind = "lenet5";
  double samples_per_s = 0;
  for (auto _ : state) {
    auto model = models::make_network(net, {data.input_shape, data.num_classes});
    std::unique_ptr<quant::QuantHook> hook;
    if (mode > 0) hook = std::make_unique<quant::QuantHook>(*model, bits);
    train::Trainer trainer(model, data, torch::kCPU, hook.get());
    train::FitOptions opt;
    opt.train.optimizer = "sgd_nesterov";
    opt.train.momentum = 0.9;
    opt.train.batch_size = 64;
    opt.train.patience = 4;
    opt.recipe = {5e-4, 1e-9, 1};
    if (mode == 1) opt.policy.when = train::StepPolicy::When::EpochEnd;
    if (mode == 2) opt.policy = {train::StepPolicy::When::EveryUpdateFirstEpochs, 1};
    opt.tag = "bench";
    samples_per_s = trainer.fit(opt).samples_per_s;
  }
  state.counters["samples_per_s"] = samples_per_s;
  state.SetLabel(std::string(mode == 0 ? "float" : mode == 1 ? "quantized, adaptive: epoch"
                                                              : "quantized, adaptive: first_epochs 1") +
                 "; " + app::thread_summary());
}
BENCHMARK(BM_TrainLeNet5)
    ->ArgNames({"mode", "omp"})
    ->Args({0, 1})
    ->Args({1, 1})
    ->Args({2, 1})
    ->Args({0, 2})
    ->Args({1, 2})
    ->Iterations(3)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
