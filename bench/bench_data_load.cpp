// Loading Fashion-MNIST as a sweep cell does (the settings of
// configs/sweep_bench_lenet5.yaml: 20,000 training + 5,000 dev images, the
// full test set), normalisation included: decoded from the gzip idx files,
// and from a warm decoded-data cache (data/image_cache.h: map, checksum,
// checks). Skipped without Debian's dataset-fashion-mnist.
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "data/dataset.h"

namespace {

namespace fs = std::filesystem;
const char* kFashion = "/usr/share/datasets/fashion-mnist";

qretrain::config::DatasetConfig sweep_cell_config(const std::string& cache_dir) {
  qretrain::config::DatasetConfig cfg;
  cfg.kind = "fashion-mnist";
  cfg.path = kFashion;
  cfg.train_limit = 20000;
  cfg.dev_size = 5000;
  cfg.cache_dir = cache_dir;
  return cfg;
}

// A cache folder of this process, filled on first use, removed at exit.
fs::path g_cache_dir;
struct RemoveCacheAtExit {
  ~RemoveCacheAtExit() {
    std::error_code ec;
    if (!g_cache_dir.empty()) fs::remove_all(g_cache_dir, ec);
  }
} g_remove_cache_at_exit;

const std::string& warm_cache_dir() {
  static const std::string dir = [] {
    g_cache_dir = fs::temp_directory_path() / ("qretrain-bench-cache-" + std::to_string(::getpid()));
    qretrain::data::Dataset data = qretrain::data::load(sweep_cell_config(g_cache_dir.string()));
    qretrain::data::write_pending_cache(data);
    return g_cache_dir.string();
  }();
  return dir;
}

bool have_fashion(benchmark::State& state) {
  if (fs::is_directory(kFashion)) return true;
  state.SkipWithError("no /usr/share/datasets/fashion-mnist (apt-get install dataset-fashion-mnist)");
  return false;
}

void BM_LoadFashionMnist_Decode(benchmark::State& state) {
  if (!have_fashion(state)) return;
  for (auto _ : state) {
    qretrain::data::Dataset d = qretrain::data::load(sweep_cell_config(""));
    benchmark::DoNotOptimize(d.train.x.data_ptr());
  }
}
BENCHMARK(BM_LoadFashionMnist_Decode)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(3)->ReportAggregatesOnly(true);

void BM_LoadFashionMnist_Cached(benchmark::State& state) {
  if (!have_fashion(state)) return;
  const auto cfg = sweep_cell_config(warm_cache_dir());
  for (auto _ : state) {
    qretrain::data::Dataset d = qretrain::data::load(cfg);
    if (d.pending_cache_write) state.SkipWithError("the cache was not used");
    benchmark::DoNotOptimize(d.train.x.data_ptr());
  }
}
BENCHMARK(BM_LoadFashionMnist_Cached)->Unit(benchmark::kMillisecond)->UseRealTime()->Repetitions(3)->ReportAggregatesOnly(true);

}  // namespace
