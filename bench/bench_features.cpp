// Feature extraction (123-dim log mel + energy + Δ + ΔΔ) of a 3 s utterance,
// reported as seconds of audio processed per wall-clock second. The argument
// is the LibTorch intra-op thread count; 0 keeps the library default.
#include "data/features.h"

#include <benchmark/benchmark.h>

#include <string>

#include <torch/torch.h>

namespace {

namespace features = qretrain::data::features;

constexpr double kUtteranceSeconds = 3.0;

void BM_Features(benchmark::State& state) {
  const int default_threads = torch::get_num_threads();
  const int threads = state.range(0) == 0 ? default_threads : static_cast<int>(state.range(0));
  torch::set_num_threads(threads);

  const features::Options opts;
  const features::Extractor extractor(opts);  // built once, as the loader does
  torch::manual_seed(2017);
  const auto wave = 1000 * torch::randn({static_cast<int64_t>(kUtteranceSeconds * opts.sample_rate)});
  for (auto _ : state) benchmark::DoNotOptimize(extractor.compute(wave));

  state.SetLabel("threads=" + std::to_string(threads));
  state.counters["audio_s_per_s"] =
      benchmark::Counter(kUtteranceSeconds * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  torch::set_num_threads(default_threads);
}
BENCHMARK(BM_Features)->Arg(1)->Arg(0)->Unit(benchmark::kMicrosecond)->UseRealTime();

}  // namespace
