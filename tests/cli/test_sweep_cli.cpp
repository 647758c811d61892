// qretrain sweep / cell / collect end to end on a tiny grid: results equal
// to `qretrain run`, a diverging cell recorded as failed while the rest
// completes, nothing rerun when everything is done, and bad grids refused
// before anything is written.
#include <gmock/gmock.h>

#include "report/store.h"
#include "test_util.h"

namespace qretrain {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using qretrain::testing::run_qretrain;
using qretrain::testing::TempDir;

const char* kSweepConfig = R"(name: tinysweep
dataset:
  train_limit: 1500
  dev_size: 300
  test_limit: 500
network:
  kind: ffdnn
  hidden: [32]
train:
  lr: 0.02
  max_epochs: 2
retrain:
  max_epochs: 1
quant:
  bits: [2, 3]
  methods: [direct, adaptive, control]
seeds: [1, 2]
output:
  dir: out
)";

TEST(SweepCli, ParallelSweepEqualsSequentialRunAndRecordsTheDivergedCell) {
  if (!qretrain::testing::have_fashion_mnist()) GTEST_SKIP() << "dataset-fashion-mnist is not installed";
  TempDir dir;
  dir.write("grid.yaml", kSweepConfig);
  ::setenv("QRETRAIN_TEST_DIVERGE", "adaptive:3", 1);
  auto swept = run_qretrain("sweep --config grid.yaml --jobs 2", dir.path());
  auto sequential = run_qretrain("run --config grid.yaml --set runtime.progress=off --set runtime.blas_threads=1 --set output.dir=seq", dir.path());
  ::unsetenv("QRETRAIN_TEST_DIVERGE");
  ASSERT_EQ(swept.exit_code, 0) << swept.err;
  ASSERT_EQ(sequential.exit_code, 0) << sequential.err;
  // 2 seeds x (float + direct x2 + adaptive x2 + control) = 12 cells.
  EXPECT_THAT(swept.err, HasSubstr("all 12 cells have results (2 failed)"));
  EXPECT_THAT(swept.out, HasSubstr("| 3-bit (7 points) | Direct |"));
  EXPECT_THAT(swept.out, HasSubstr("|  | Adaptive | failed (2x) |"));
  EXPECT_THAT(swept.out, HasSubstr("|  | Control: float + retraining epochs |"));
  // Same numbers as one process running the cells in order.
  auto table_of = [&](const std::string& out) {
    auto t = run_qretrain("table --config grid.yaml --format csv --set output.dir=" + out, dir.path());
    EXPECT_EQ(t.exit_code, 0) << t.err;
    return t.out;
  };
  EXPECT_EQ(table_of("out"), table_of("seq"));
  report::Store store(dir.file("out/results.sqlite"));
  auto runs = store.runs("tinysweep");
  ASSERT_EQ(runs.size(), 12u);
  for (const auto& r : runs) {
    if (r.method == "adaptive" && r.bits == 3) {
      EXPECT_EQ(r.status, "failed");
      EXPECT_THAT(r.failure, HasSubstr("training loss became nan"));
    } else {
      EXPECT_EQ(r.status, "ok") << r.method << " " << r.bits << ": " << r.failure;
    }
  }
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "out" / "cells"))
    files += e.path().extension() == ".sqlite";
  EXPECT_EQ(files, 12);
  // Everything has a result: a second sweep starts nothing; collect merges nothing new.
  auto again = run_qretrain("sweep --config grid.yaml --jobs 2", dir.path());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_THAT(again.err, HasSubstr("12 cells, 10 done, 2 failed before"));
  EXPECT_THAT(again.err, Not(HasSubstr("started")));
  auto collected = run_qretrain("collect --config grid.yaml", dir.path());
  EXPECT_EQ(collected.exit_code, 0) << collected.err;
  EXPECT_THAT(collected.err, HasSubstr("12 result files, 0 runs merged, 12 already in"));
  EXPECT_THAT(collected.err, HasSubstr("12 of 12 cells have results (2 failed)"));
  // --retry-failed reruns only the failed cells (they pass without the forced divergence).
  auto retried = run_qretrain("sweep --config grid.yaml --jobs 2 --retry-failed", dir.path());
  ASSERT_EQ(retried.exit_code, 0) << retried.err;
  EXPECT_THAT(retried.err, HasSubstr("12 cells, 10 done, 0 failed before"));
  EXPECT_THAT(retried.err, HasSubstr("all 12 cells have results (0 failed)"));
}

// Each bad grid or option: exit 2, one line naming the problem, nothing written.
TEST(SweepCli, BadGridsAreErrorsBeforeAnythingRuns) {
  TempDir dir;
  dir.write("grid.yaml", kSweepConfig);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"--set quant.bits=[]", "quant.bits"},
      {"--set seeds=[]", "seeds"},
      {"--set quant.methods=[]", "quant.methods"},
      {"--set quant.bits=[2,9]", "quant.bits"},
      {"--set quant.bits=[3,3]", "listed twice"},
      {"--set seeds=[4,4]", "listed twice"},
      {"--set quant.methods=[direct,fancy]", "fancy"},
      {"--set grid.networks=[ffdnn:32,ffdnn:32]", "grid.networks"},
      {"--set grid.networks=[ffdnn:32,resnet]", "resnet"},
      {"--jobs 0", "--jobs"},
  };
  for (const auto& [args, needle] : cases) {
    SCOPED_TRACE(args);
    auto r = run_qretrain("sweep --config grid.yaml " + args, dir.path());
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_THAT(r.err, HasSubstr(needle));
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir.path() / "out")) << "something was written";
  }
  auto cell = run_qretrain("cell --config grid.yaml --key 0123456789abcdef", dir.path());
  EXPECT_EQ(cell.exit_code, 2);
  EXPECT_THAT(cell.err, HasSubstr("no such cell"));
}

}  // namespace
}  // namespace qretrain
