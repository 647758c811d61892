// Character language-model training throughput (characters/s) of the 3-layer
// LSTM through the real Trainer: 64 streams, 128-step windows (TBPTT with
// k1 = k2 = 128, or the paper's k2 = 256), float vs quantized 2-bit (Δ fixed,
// or re-estimated after every update as in the first epoch of 'adaptive'), and
// the achieved model FLOP/s as a fraction of the sgemm peak measured in the
// same run with the same BLAS threads.
#include <benchmark/benchmark.h>

#include <map>

#include <fmt/format.h>

#include "app/runtime.h"
#include "bench_util.h"
#include "data/text.h"
#include "models/network.h"
#include "quant/hook.h"
#include "train/trainer.h"

namespace {

using namespace qretrain;

// Random bytes: throughput does not depend on the text.
data::Dataset random_text(std::int64_t bytes) {
  torch::manual_seed(0);
  auto stream = torch::randint(0, 256, {bytes}, torch::kUInt8);
  data::text::ByteCorpus corpus{"random bytes", stream, stream.slice(0, 0, 4096), stream.slice(0, 0, 4096)};
  return data::text::to_dataset(corpus, {});
}

// Multiply-adds per character: each layer's gates 4H (n + H), the output
// projection H x 256. Training costs 3x (forward, weight gradients, input
// gradients) minus the first layer's input gradients: its one-hot input needs
// none. With k2 > k1 the re-read context adds (k2 - k1) / k1 more passes of
// the LSTM layers; only the model work per new character is counted.
double training_flops_per_char(std::int64_t hidden, std::int64_t layers) {
  const double first_input = static_cast<double>(4 * hidden * data::text::kSymbols);
  double macs = first_input + static_cast<double>(hidden * data::text::kSymbols);
  for (std::int64_t l = 0; l < layers; ++l) macs += static_cast<double>(4 * hidden * hidden);
  for (std::int64_t l = 1; l < layers; ++l) macs += static_cast<double>(4 * hidden * hidden);
  return 2.0 * (3.0 * macs - first_input);
}

// Args: cells per layer, mode (0 float, 1 quantized 2-bit Δ fixed, 2 quantized
// 2-bit Δ refit after every update), unroll k2 (k1 = 128), OpenBLAS threads
// (0 = the recurrent default: all cores; 1 OpenMP thread either way).
void BM_TrainLstmLm(benchmark::State& state) {
  const std::int64_t hidden = state.range(0);
  const int mode = static_cast<int>(state.range(1));
  const int unroll = static_cast<int>(state.range(2));
  config::RuntimeConfig rt;
  rt.blas_threads = static_cast<int>(state.range(3));
  app::configure_threads(rt, false);
  // The peak with the same BLAS threads as the workload.
  static std::map<std::int64_t, double> peaks;
  if (!peaks.count(state.range(3))) peaks[state.range(3)] = bench::sgemm_peak_flops();
  const double peak = peaks[state.range(3)];
  static data::Dataset data = random_text(64 * 4096);
  config::NetworkConfig net;
  net.kind = "lstm_lm";
  net.hidden = {static_cast<int>(hidden), static_cast<int>(hidden), static_cast<int>(hidden)};
  double chars_per_s = 0;
  for (auto _ : state) {
    torch::manual_seed(1);
    auto model = models::make_network(net, {data.input_shape, data.num_classes});
    std::unique_ptr<quant::QuantHook> hook;
    if (mode > 0) hook = std::make_unique<quant::QuantHook>(*model, 2);
    train::Trainer trainer(model, data, torch::kCPU, hook.get());
    train::FitOptions opt;
    opt.train.optimizer = "rmsprop";
    opt.train.streams = 64;
    opt.train.bptt_steps = 128;
    opt.train.bptt_unroll = unroll;
    opt.train.epoch_chars = 64 * 128 * 12;  // 12 updates
    opt.train.patience = 4;
    opt.recipe = {5e-4, 1e-9, 1};
    if (mode == 2) opt.policy = {train::StepPolicy::When::EveryUpdateFirstEpochs, 1};
    opt.tag = "bench";
    chars_per_s = trainer.fit(opt).samples_per_s;
  }
  const double flops = chars_per_s * training_flops_per_char(hidden, 3);
  state.counters["chars_per_s"] = chars_per_s;
  state.counters["model_GFLOP_per_s"] = flops / 1e9;
  state.counters["sgemm_peak_GFLOP_per_s"] = peak / 1e9;
  state.counters["fraction_of_peak"] = flops / peak;
  const char* modes[] = {"float", "quantized 2-bit, Δ fixed", "quantized 2-bit, Δ refit every update"};
  state.SetLabel(fmt::format("LSTM 3x{}, {}, 64 streams, TBPTT(128,{}); {}", hidden, modes[mode], unroll,
                             app::thread_summary()));
}
BENCHMARK(BM_TrainLstmLm)
    ->ArgNames({"hidden", "quant", "unroll", "blas"})
    ->Args({256, 0, 128, 0})
    ->Args({256, 1, 128, 0})
    ->Args({256, 2, 128, 0})
    ->Args({256, 0, 128, 1})
    ->Args({256, 1, 128, 1})
    ->Args({256, 0, 256, 0})
    ->Args({64, 0, 128, 0})
    ->Args({64, 0, 128, 1})
    ->Iterations(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
