// QStep on a 1M-weight Gaussian layer, one call per iteration, per bit width.
// Target: <= 30 ms per call on one core at every width.
#include "quant/qstep.h"

#include <benchmark/benchmark.h>

#include <cstddef>
#include <random>
#include <vector>

namespace {

const std::vector<float>& gaussian_weights() {
  static const std::vector<float> w = [] {
    std::mt19937 rng(2017);
    std::normal_distribution<float> gauss(0.0f, 0.05f);
    std::vector<float> v(std::size_t{1} << 20);
    for (auto& x : v) x = gauss(rng);
    return v;
  }();
  return w;
}

void BM_QStep(benchmark::State& state) {
  const auto& w = gaussian_weights();
  const int bits = static_cast<int>(state.range(0));
  qretrain::quant::StepResult r;
  for (auto _ : state) {
    r = qretrain::quant::qstep(w, bits);
    benchmark::DoNotOptimize(r);
  }
  state.counters["nodes"] = static_cast<double>(r.nodes);
  state.counters["delta"] = r.delta;
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(w.size()));
}
BENCHMARK(BM_QStep)->DenseRange(2, 8)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
