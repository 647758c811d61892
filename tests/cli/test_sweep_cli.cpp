// qretrain sweep / cell / collect end to end on a tiny grid: results equal
// to `qretrain run`, a diverging cell recorded as failed while the rest
// completes, nothing rerun when everything is done, and bad grids refused
// before anything is written.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <functional>
#include <iterator>
#include <thread>

#include <gmock/gmock.h>

#include "report/store.h"
#include "test_util.h"

namespace qretrain {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using qretrain::testing::run_qretrain;
using qretrain::testing::slurp;
using qretrain::testing::TempDir;
using qretrain::testing::occurrences;

const char* kSweepConfig = R"(name: tinysweep
dataset:
  path: fm
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
  TempDir dir;
  qretrain::testing::fashion_fixture(dir);
  dir.write("grid.yaml", kSweepConfig);
  qretrain::testing::CommandResult swept, sequential;
  {
    qretrain::testing::ScopedEnv diverge("QRETRAIN_TEST_DIVERGE", "adaptive:3");
    swept = run_qretrain("sweep --config grid.yaml --jobs 2", dir.path());
    // Without the decoded-data cache (its folder cannot be created): the
    // cells' data comes from the cache, so equal tables below also say that
    // cached and decoded data train alike.
    dir.write("not-a-folder", "");
    sequential = run_qretrain("run --config grid.yaml --set runtime.progress=off --set runtime.blas_threads=1 "
                              "--set output.dir=seq --set dataset.cache_dir=not-a-folder/cache",
                              dir.path());
  }
  ASSERT_EQ(swept.exit_code, 0) << swept.err;
  ASSERT_EQ(sequential.exit_code, 0) << sequential.err;
  EXPECT_THAT(sequential.err, HasSubstr("cannot write the data cache not-a-folder/cache/decoded-fashion-mnist-"));
  // The sweep decoded the data once and wrote the cache; every cell read it.
  EXPECT_THAT(swept.err, HasSubstr("Fashion-MNIST: decoded splits cached at cache/decoded-fashion-mnist-"));
  int cache_files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "cache")) cache_files += e.is_regular_file();
  EXPECT_EQ(cache_files, 1);
  int cells_from_cache = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "out" / "logs" / "cells"))
    cells_from_cache += occurrences(qretrain::testing::slurp(e.path()), "decoded splits from the cache") == 1;
  EXPECT_EQ(cells_from_cache, 12);
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
  EXPECT_EQ(occurrences(swept.err, "| started "), 12) << swept.err;  // each cell once, in that wording
  EXPECT_EQ(occurrences(again.err, "| started "), 0) << again.err;
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

// Cells that would train for hours: the budget and patience are out of reach.
const char* kLongCellsConfig = R"(name: longcells
dataset:
  path: fm
  train_limit: 300
  dev_size: 100
  test_limit: 200
network:
  kind: ffdnn
  hidden: [16]
train:
  lr: 0.02
  max_epochs: 100000
  patience: 100000
quant:
  bits: [2]
  methods: [direct]
seeds: [1, 2, 3]
runtime:
  checkpoint_every_s: 1
)";

std::size_t files_in(const std::filesystem::path& dir, const std::string& ext) {
  std::size_t n = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec))
    n += it->path().extension() == ext;
  return n;
}

// Processes (other than this one) whose working directory is `dir`: the
// sweep's cells run there.
int processes_in(const std::filesystem::path& dir) {
  int n = 0;
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos || std::stoi(name) == ::getpid()) continue;
    std::error_code link_ec;
    const auto cwd = std::filesystem::read_symlink(it->path() / "cwd", link_ec);
    n += !link_ec && cwd == dir;
  }
  return n;
}

bool wait_until(const std::function<bool()>& ready, double seconds, int poll_ms) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < until) {
    if (ready()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
  }
  return ready();
}

// SIGTERM sent to the sweep process alone (not its group) reaches its running
// cells at once, however long they would train: they save their state and
// stop, and the sweep exits 130 within seconds. Sent twice: the moment the
// first cell starts (the sweep is then still starting the others, which is
// when a blocking waitpid() missed it), and once every cell trains.
TEST(SweepCli, SigtermToTheSweepAloneStopsItsCellsAtOnce) {
  TempDir dir;
  qretrain::testing::fashion_fixture(dir);
  dir.write("grid.yaml", kLongCellsConfig);
  for (const bool while_starting : {true, false}) {
    SCOPED_TRACE(while_starting ? "SIGTERM as the cells start" : "SIGTERM while the cells train");
    const std::string out = while_starting ? "out_start" : "out_train";
    const std::filesystem::path logs = dir.path() / out / "logs" / "cells", resume = dir.path() / out / "resume";
    const std::string set_out = "output.dir=" + out;
    const std::string sweep_log = dir.file(out + ".log");
    const pid_t sweep = ::fork();
    ASSERT_GE(sweep, 0);
    if (sweep == 0) {
      if (::chdir(dir.path().c_str()) != 0) ::_exit(126);
      const int fd = ::open(sweep_log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::execl(QRETRAIN_BINARY, QRETRAIN_BINARY, "sweep", "--config", "grid.yaml", "--jobs", "3", "--set",
              set_out.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    const bool started = while_starting
                             ? wait_until([&] { return files_in(logs, ".log") >= 1; }, 120, 1)
                             : wait_until([&] { return files_in(resume, ".pt") >= 3; }, 240, 20);
    EXPECT_TRUE(started) << "the cells did not start";
    ASSERT_EQ(::kill(sweep, SIGTERM), 0);
    int status = 0;
    const bool exited = wait_until([&] { return ::waitpid(sweep, &status, WNOHANG) == sweep; }, 30, 10);
    if (!exited) {
      ::kill(sweep, SIGKILL);  // its cells get SIGTERM from PR_SET_PDEATHSIG
      ::waitpid(sweep, &status, 0);
    }
    ASSERT_TRUE(exited) << "the sweep did not stop within 30 s of SIGTERM (its cells train for hours)";
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 130);
    // The sweep waited for its cells: none outlives it.
    EXPECT_EQ(processes_in(dir.path()), 0);
    std::ifstream in(sweep_log);
    const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_THAT(log, HasSubstr("stopping: running cells save their state"));
    EXPECT_THAT(log, HasSubstr("stopped"));
    if (!while_starting) {
      // Each training cell got the signal, saved its state and stopped.
      EXPECT_EQ(files_in(resume, ".pt"), 3u);
      std::size_t interrupted = 0;
      std::string cell_logs;
      for (const auto& e : std::filesystem::directory_iterator(logs)) {
        const std::string text = slurp(e.path());
        interrupted += text.find("interrupted at epoch") != std::string::npos &&
                       text.find("(training state saved)") != std::string::npos;
        cell_logs += "--- " + e.path().filename().string() + "\n" + text;
      }
      EXPECT_EQ(interrupted, 3u) << "sweep log:\n" << log << "cell logs:\n" << cell_logs;
    }
  }
}

// Each bad grid or option: exit 2, one line naming the problem, nothing written.
TEST(SweepCli, BadGridsAreErrorsBeforeAnythingRuns) {
  TempDir dir;
  std::filesystem::create_directories(dir.path() / "fm");  // the grid is checked before the data is read
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

// A grid continued on a fresh machine from the archived result files (a
// fresh output.dir: no store, no checkpoints): finished cells are not run
// again; the float baseline is trained again once, before the cells still to
// run (its weights did not travel), and a finished cell that started from
// another baseline than the stored one runs again.
TEST(SweepCli, ContinuesFromTheArchiveOnAFreshMachine) {
  TempDir dir;
  qretrain::testing::fashion_fixture(dir);
  const std::string one_seed = std::string(kSweepConfig).replace(std::string(kSweepConfig).find("seeds: [1, 2]"), 13,
                                                                 "seeds: [1]");
  dir.write("grid.yaml", one_seed);
  const std::string first_part = "--set 'quant.bits=[2]' --set 'quant.methods=[direct,adaptive]'";
  auto first = run_qretrain("sweep --config grid.yaml --jobs 2 --set output.archive=kept " + first_part, dir.path());
  ASSERT_EQ(first.exit_code, 0) << first.err;
  EXPECT_THAT(first.err, HasSubstr("all 3 cells have results (0 failed)"));
  int kept = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "kept")) kept += e.path().extension() == ".sqlite";
  EXPECT_EQ(kept, 3);

  // The archived adaptive 2-bit run claims another baseline, as if its group's
  // float run had been trained again elsewhere after it ran.
  std::string adaptive_key, float_digest;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "kept")) {
    report::Store file(e.path().string());
    for (auto r : file.all_runs_with_curves()) {
      if (r.cell_key != e.path().stem().string()) continue;
      EXPECT_EQ(r.baseline_digest.size(), 16u) << r.method;
      if (r.method == "float") {
        float_digest = r.baseline_digest;
        EXPECT_THAT(r.stop_reason, HasSubstr("epoch budget of 2 spent"));
      }
      if (r.method == "adaptive") {
        adaptive_key = r.cell_key;
        r.baseline_digest = "0123456789abcdef";
        file.put(r);
      }
    }
  }
  ASSERT_FALSE(adaptive_key.empty());

  // Fresh output.dir, the whole grid: float, direct and adaptive at 2 and 3 bits, control.
  auto second = run_qretrain("sweep --config grid.yaml --jobs 2 --set output.archive=kept --set output.dir=fresh",
                             dir.path());
  ASSERT_EQ(second.exit_code, 0) << second.err;
  EXPECT_THAT(second.err, HasSubstr("archive kept: 3 result files, 3 runs merged into the store"));
  EXPECT_THAT(second.err, HasSubstr("its float weights are not on this machine; training it again"));
  EXPECT_THAT(second.err, HasSubstr("adaptive 2-bit: running it again (it started from another float baseline"));
  EXPECT_THAT(second.err, HasSubstr("all 6 cells have results (0 failed)"));
  // Run here: the float again, the stale adaptive 2-bit, and the 3 new cells; not the direct 2-bit.
  const auto logs = std::distance(std::filesystem::directory_iterator(dir.path() / "fresh" / "logs" / "cells"),
                                  std::filesystem::directory_iterator{});
  EXPECT_EQ(logs, 5);
  report::Store store((dir.path() / "fresh" / "results.sqlite").string());
  // Trained again on the same machine and threads: the same weights.
  EXPECT_EQ(store.baseline_digest(adaptive_key), float_digest);
  int archived = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path() / "kept")) archived += e.path().extension() == ".sqlite";
  EXPECT_EQ(archived, 6);

  // A clone with the archive alone tables it without running anything: the
  // same table as the store the runs were made in (but for the footer's
  // command, which names the overrides given).
  auto made_here = run_qretrain("table --config grid.yaml --set output.dir=fresh", dir.path());
  auto from_archive = run_qretrain("table --config grid.yaml --set output.archive=kept --set output.dir=clone", dir.path());
  ASSERT_EQ(from_archive.exit_code, 0) << from_archive.err;
  EXPECT_THAT(from_archive.err, HasSubstr("archive kept: 6 result files, 6 runs merged into clone/results.sqlite"));
  auto body = [](const std::string& table) { return table.substr(0, table.find("Produced by")); };
  EXPECT_EQ(body(from_archive.out), body(made_here.out));
  EXPECT_THAT(from_archive.out, HasSubstr("1 on the epoch cap; of the retraining runs"));
}

}  // namespace
}  // namespace qretrain
