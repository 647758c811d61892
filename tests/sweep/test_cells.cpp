// The grid as cells (methods/cells.h) and result files (sweep/cell_files.h):
// counts and dependencies worked out by hand, duplicate identities refused,
// result files published whole and merged into the store idempotently.
#include "methods/cells.h"

#include <cmath>
#include <set>

#include <fmt/format.h>
#include <gmock/gmock.h>

#include "methods/session.h"
#include "sweep/cell_files.h"
#include "sweep/slurm.h"
#include "sweep/sweep.h"
#include "app/runtime.h"
#include "test_util.h"

namespace qretrain {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using qretrain::testing::TempDir;

config::ExperimentConfig load_yaml(const TempDir& dir, const std::string& yaml,
                                   const std::vector<std::string>& overrides = {}) {
  return config::load(dir.write("grid.yaml", yaml), overrides);
}

const char* kGrid = R"(name: cells
network:
  kind: ffdnn
grid:
  networks: [ffdnn:16, ffdnn:32x32]
seeds: [1, 2]
quant:
  bits: [2, 4]
  methods: [direct, adaptive, gradual, control]
  gradual:
    start_bits: 5
)";

std::size_t index_of(const methods::Grid& g, const std::string& name) {
  for (std::size_t i = 0; i < g.cells.size(); ++i)
    if (g.cells[i].name() == name) return i;
  ADD_FAILURE() << "no cell " << name;
  return 0;
}

TEST(Grid, CellsAndDependenciesOfEveryMethod) {
  TempDir dir;
  const methods::Grid g = methods::expand_grid(load_yaml(dir, kGrid));
  // Per (network, seed): float + direct x2 + adaptive x2 + gradual 5,4,3,2 + control = 10.
  ASSERT_EQ(g.cells.size(), 2u * 2u * 10u);
  ASSERT_EQ(g.variants.size(), 2u);
  const auto& c = g.cells;
  const std::size_t base = index_of(g, "32x32 seed 2 float");
  EXPECT_TRUE(c[base].after.empty());
  EXPECT_EQ(c[index_of(g, "32x32 seed 2 direct 4-bit")].after, std::vector<std::size_t>{base});
  EXPECT_EQ(c[index_of(g, "32x32 seed 2 control")].after, std::vector<std::size_t>{base});
  // The gradual chain 5 -> 4 -> 3 -> 2: each stage after the previous one.
  EXPECT_EQ(c[index_of(g, "32x32 seed 2 gradual 5-bit")].after, std::vector<std::size_t>{base});
  for (int b = 4; b >= 2; --b)
    EXPECT_EQ(c[index_of(g, fmt::format("32x32 seed 2 gradual {}-bit", b))].after,
              std::vector<std::size_t>{index_of(g, fmt::format("32x32 seed 2 gradual {}-bit", b + 1))});
  // Every cell comes after its dependencies, and every key is distinct.
  std::set<std::string> keys;
  for (std::size_t i = 0; i < c.size(); ++i) {
    for (std::size_t d : c[i].after) EXPECT_LT(d, i);
    keys.insert(c[i].key);
  }
  EXPECT_EQ(keys.size(), c.size());
  // (That the in-process runner stores under these keys is checked end to
  // end by Cli.TinyRunWritesCompleteRecordsAndATable.)
  EXPECT_EQ(g.find(c[base].key), &c[base]);
  EXPECT_EQ(g.find("nope"), nullptr);
}

TEST(Grid, KeysIgnoreOtherCellsAndRuntime) {
  // Adding bit widths, methods or threads does not rename existing cells: a
  // grown grid resumes with everything already run.
  TempDir dir;
  const methods::Grid small = methods::expand_grid(load_yaml(dir, kGrid, {"quant.bits=[2]"}));
  const methods::Grid big = methods::expand_grid(load_yaml(dir, kGrid, {"runtime.threads=2"}));
  for (const auto& cell : small.cells) EXPECT_NE(big.find(cell.key), nullptr) << cell.name();
  // A change of the retraining recipe renames the quantized cells, not the baselines.
  const methods::Grid other = methods::expand_grid(load_yaml(dir, kGrid, {"retrain.lr=0.1"}));
  for (const auto& cell : big.cells)
    EXPECT_EQ(other.find(cell.key) != nullptr, cell.method == "float") << cell.name();
}

TEST(Grid, KeysOfAReferenceGridArePinned) {
  // Moving identities orphans every stored result: a change that does it must
  // fail here and be made on purpose (config::kIdentityScheme, README).
  TempDir dir;
  const methods::Grid g = methods::expand_grid(load_yaml(dir, kGrid));
  std::vector<std::string> got;
  for (const char* name : {"16 seed 1 float", "16 seed 1 direct 2-bit", "16 seed 1 adaptive 2-bit",
                           "32x32 seed 2 gradual 5-bit", "32x32 seed 2 control"})
    got.push_back(g.cells[index_of(g, name)].key);
  EXPECT_EQ(got, (std::vector<std::string>{"7d4e6874557a3d45", "67bab56cbb930ff1", "2a4b6e6ce167b0b1",
                                           "4f96ec8b5b2c68d1", "e3cf67f544605f1d"}));
}

TEST(Grid, RefitOrderRenamesOnlyAdaptiveCells) {
  TempDir dir;
  const methods::Grid a = methods::expand_grid(load_yaml(dir, kGrid));
  const methods::Grid b = methods::expand_grid(load_yaml(dir, kGrid, {"quant.adaptive.refit=before_eval"}));
  ASSERT_EQ(a.cells.size(), b.cells.size());
  for (std::size_t i = 0; i < a.cells.size(); ++i)
    EXPECT_EQ(a.cells[i].key == b.cells[i].key, a.cells[i].method.find("adaptive") == std::string::npos)
        << a.cells[i].name();
}

TEST(Grid, GranularityAndLayerBitsRenameOnlyQuantizedCells) {
  // Both keys came after the identity scheme: at their defaults every key
  // stays (KeysOfAReferenceGridArePinned); set, they rename the cells they
  // change and no float baseline or control, and a map's order is no part of it.
  TempDir dir;
  const methods::Grid a = methods::expand_grid(load_yaml(dir, kGrid));
  for (const char* setting : {"quant.granularity=channel", "quant.layer_bits={first: 8, last: 8}"}) {
    const methods::Grid b = methods::expand_grid(load_yaml(dir, kGrid, {setting}));
    ASSERT_EQ(a.cells.size(), b.cells.size());
    for (std::size_t i = 0; i < a.cells.size(); ++i) {
      const bool quantized = a.cells[i].method != "float" && a.cells[i].method != "control";
      EXPECT_EQ(a.cells[i].key != b.cells[i].key, quantized) << setting << ": " << a.cells[i].name();
    }
  }
  const methods::Grid one = methods::expand_grid(load_yaml(dir, kGrid, {"quant.layer_bits={first: 8, last: 6}"}));
  const methods::Grid other = methods::expand_grid(load_yaml(dir, kGrid, {"quant.layer_bits={last: 6, first: 8}"}));
  for (std::size_t i = 0; i < one.cells.size(); ++i) EXPECT_EQ(one.cells[i].key, other.cells[i].key);
  // A per-channel method is its own cell beside the per-tensor one.
  const methods::Grid both =
      methods::expand_grid(load_yaml(dir, kGrid, {"quant.methods=[adaptive, adaptive@channel, lsq, lsq@channel]"}));
  EXPECT_NE(both.cells[index_of(both, "16 seed 1 adaptive 2-bit")].key,
            both.cells[index_of(both, "16 seed 1 adaptive@channel 2-bit")].key);
  EXPECT_EQ(both.cells[index_of(both, "16 seed 1 adaptive 2-bit")].key,
            a.cells[index_of(a, "16 seed 1 adaptive 2-bit")].key);
}

TEST(Grid, BadGridsFailBeforeAnythingRuns) {
  TempDir dir;
  auto error_of = [&](const std::vector<std::string>& overrides) -> std::string {
    try {
      methods::expand_grid(load_yaml(dir, kGrid, overrides));
    } catch (const UserError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_THAT(error_of({"quant.bits=[]"}), HasSubstr("quant.bits"));
  EXPECT_THAT(error_of({"seeds=[]"}), HasSubstr("seeds"));
  EXPECT_THAT(error_of({"quant.methods=[]"}), HasSubstr("quant.methods"));
  EXPECT_THAT(error_of({"quant.bits=[2, 9]"}), HasSubstr("quant.bits"));
  EXPECT_THAT(error_of({"quant.bits=[1]"}), HasSubstr("quant.bits"));
  EXPECT_THAT(error_of({"quant.methods=[direct, magic]"}), HasSubstr("magic"));
  EXPECT_THAT(error_of({"grid.networks=[ffdnn:16, transformer]"}), HasSubstr("transformer"));
  EXPECT_THAT(error_of({"seeds=[1, 1]"}), HasSubstr("listed twice"));
  EXPECT_THAT(error_of({"quant.bits=[2, 2]"}), HasSubstr("listed twice"));
  EXPECT_THAT(error_of({"grid.networks=[ffdnn:16, ffdnn:16]"}), HasSubstr("grid.networks"));
}

report::RunRecord run_of(const std::string& key, const std::string& finished, double metric) {
  report::RunRecord r;
  r.cell_key = key;
  r.experiment = "cells";
  r.dataset = "d";
  r.network = "16";
  r.method = "direct";
  r.bits = 2;
  r.seed = 1;
  r.test_metric = metric;
  r.finished_at = finished;
  r.curve.push_back({0, 0, 0.1, 1.0, metric, 0.5, {0.25, 0.5}});
  return r;
}

TEST(CellFiles, PublishedWholeAndMergedOnce) {
  TempDir dir;
  const std::string out = dir.file("out");
  report::Store held(":memory:");
  held.put(run_of("k1", "t1", 12.5));
  sweep::publish_cell_file(out, "k1", held);
  EXPECT_EQ(sweep::cell_file_status(out, "k1"), "ok");
  EXPECT_EQ(sweep::cell_file_status(out, "k2"), "");
  // Nothing but the published file is left in the folder (no temporaries).
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "out" / "cells")) {
    ++files;
    EXPECT_EQ(e.path().filename().string(), "k1.sqlite");
  }
  EXPECT_EQ(files, 1);

  report::Store store(dir.file("store.sqlite"));
  auto first = sweep::collect(store, out);
  EXPECT_EQ(first.files, 1);
  EXPECT_EQ(first.merged, 1);
  auto again = sweep::collect(store, out);
  EXPECT_EQ(again.merged, 0);
  EXPECT_EQ(again.unchanged, 1);
  auto stored = store.run_with_curve("k1");
  ASSERT_TRUE(stored);
  EXPECT_EQ(stored->test_metric, 12.5);
  ASSERT_EQ(stored->curve.size(), 1u);
  EXPECT_EQ(stored->curve[0].deltas, (std::vector<double>{0.25, 0.5}));

  // A rerun of the cell replaces its record: still one run per cell.
  report::Store rerun(":memory:");
  rerun.put(run_of("k1", "t2", 11.0));
  sweep::publish_cell_file(out, "k1", rerun);
  EXPECT_EQ(sweep::collect_one(store, out, "k1"), "ok");
  EXPECT_EQ(store.runs("cells").size(), 1u);
  EXPECT_EQ(store.run_with_curve("k1")->test_metric, 11.0);

  // A damaged file is reported by name and merges nothing.
  dir.write("out/cells/k3.sqlite", "garbage, not SQLite");
  auto damaged = sweep::collect(store, out);
  ASSERT_EQ(damaged.unreadable.size(), 1u);
  EXPECT_THAT(damaged.unreadable[0], HasSubstr("k3.sqlite"));
  EXPECT_EQ(store.runs("cells").size(), 1u);
}

TEST(CellFiles, FailureRecordIsAFailedRunWithTheReason) {
  TempDir dir;
  const methods::Grid g = methods::expand_grid(load_yaml(dir, kGrid));
  const auto& cell = g.cells[1];
  sweep::publish_failure(dir.file("out"), cell.key,
                         sweep::failure_record(g.variants[cell.variant], cell, "process killed by signal 9"));
  report::Store store(dir.file("store.sqlite"));
  sweep::collect(store, dir.file("out"));
  auto r = store.run_with_curve(cell.key);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, "failed");
  EXPECT_EQ(r->failure, "process killed by signal 9");
  EXPECT_EQ(r->method, cell.method);
  EXPECT_TRUE(std::isnan(r->test_metric));
}

TEST(Sweep, ThreadsSplitBetweenJobs) {
  TempDir dir;
  auto grid = load_yaml(dir, kGrid);
  EXPECT_EQ(sweep::thread_overrides(grid, 4), (std::vector<std::string>{"runtime.cores=4"}));
  EXPECT_EQ(sweep::thread_overrides(grid, 0), (std::vector<std::string>{"runtime.cores=1"}));
  auto fewer = load_yaml(dir, kGrid, {"runtime.cores=1"});
  EXPECT_EQ(sweep::thread_overrides(fewer, 2), (std::vector<std::string>{"runtime.cores=1"}));
}

// The plan a cell makes of its cores (README "Threads").
TEST(Threads, PlanPerWorkloadAndBackend) {
  config::RuntimeConfig rt;
  rt.cores = 2;
  rt.gemm = "openblas";
  auto dense = app::plan_threads(rt, false);
  EXPECT_EQ(dense.gemm, gemm::Backend::OpenBlas);
  EXPECT_EQ(dense.threads, 1);
  EXPECT_EQ(dense.blas_threads, 2);
  auto conv = app::plan_threads(rt, true);
  EXPECT_EQ(conv.threads, 2);
  EXPECT_EQ(conv.blas_threads, 1);
  rt.gemm = "onednn";  // one OpenMP pool for products and convolutions
  for (bool convolutional : {false, true}) {
    auto p = app::plan_threads(rt, convolutional);
    EXPECT_EQ(p.gemm, gemm::Backend::OneDnn);
    EXPECT_EQ(p.threads, 2);
    EXPECT_EQ(p.blas_threads, 1);
  }
  rt.threads = 3;
  rt.blas_threads = 5;
  auto fixed = app::plan_threads(rt, false);
  EXPECT_EQ(fixed.threads, 3);
  EXPECT_EQ(fixed.blas_threads, 5);
  rt.gemm = "auto";
  EXPECT_EQ(app::plan_threads(rt, false).gemm,
            gemm::cpu_has_avx512() ? gemm::Backend::OneDnn : gemm::Backend::OpenBlas);
}

TEST(Slurm, OneArrayPerDependencyLevelAndOnlyMissingCells) {
  TempDir dir;
  auto cfg = load_yaml(dir, kGrid, {"seeds=[1]", "grid.networks=[ffdnn:16]", "output.dir=" + dir.file("out")});
  const methods::Grid g = methods::expand_grid(cfg);
  report::Store store(dir.file("out/results.sqlite"));
  sweep::SweepOptions so;
  so.program = "/opt/qretrain";
  so.config_path = dir.file("grid.yaml");
  sweep::SlurmOptions slurm;
  slurm.cpus_per_cell = 4;
  slurm.sbatch_args = "--partition=cpu";
  // Levels: float; direct, adaptive, gradual 5-bit, control; gradual 4; 3; 2.
  std::string script = sweep::slurm_script(cfg, g, store, so, slurm);
  for (int l = 0; l < 5; ++l) EXPECT_THAT(script, HasSubstr(fmt::format("L{}=$(submit cells-{}", l, l)));
  EXPECT_THAT(script, Not(HasSubstr("L5=")));
  EXPECT_THAT(script, HasSubstr("--kill-on-invalid-dep=yes --cpus-per-task=4 --partition=cpu"));
  EXPECT_THAT(script, HasSubstr("--dependency=afterany:$L0:$L1:$L2:$L3:$L4"));
  EXPECT_THAT(script, HasSubstr("'runtime.cores=4'"));
  EXPECT_THAT(script, HasSubstr("QRETRAIN=${QRETRAIN:-'/opt/qretrain'}"));
  // With the float baseline stored, the chain starts one level lower.
  auto base = run_of(g.cells[0].key, "t", 10);
  store.put(base);
  script = sweep::slurm_script(cfg, g, store, so, slurm);
  EXPECT_THAT(script, Not(HasSubstr("L4=")));
  EXPECT_THAT(script, Not(HasSubstr(g.cells[0].key)));
}

}  // namespace
}  // namespace qretrain
