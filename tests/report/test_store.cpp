// The SQLite results store: round trips, replacement, and atomicity under SIGKILL.
#include "report/store.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <tuple>

#include <sqlite3.h>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "report/table.h"
#include "test_util.h"
#include "util/error.h"

namespace qretrain::report {
namespace {

using qretrain::testing::TempDir;

RunRecord sample_run(const std::string& key, const std::string& method, int bits, double test, int points = 3) {
  RunRecord r;
  r.cell_key = key;
  r.experiment = "exp";
  r.dataset = "Fashion-MNIST";
  r.network = "L";
  r.method = method;
  r.bits = bits;
  r.seed = 1;
  r.step_policy = "epoch";
  r.test_metric = test;
  r.dev_metric = test + 1;
  r.updates = points;  // the tests below check evals/step_sizes rows against this
  r.config_yaml = "name: exp\n";
  r.commit = "abc";
  r.machine = "m";
  r.started_at = "t0";
  r.finished_at = "t1";
  r.group_names = {"conv1.weight", "fc1.weight"};
  for (int i = 0; i < points; ++i) {
    train::EvalPoint p;
    p.epoch = i;
    p.updates = 10 * i;
    p.lr = 1e-3;
    p.train_loss = 0.5;
    p.dev_metric = 20 - i;
    p.deltas = {0.1 + i, 0.2 + i};
    r.curve.push_back(p);
  }
  return r;
}

TEST(Store, SelectionTakesOnlyTheConfigurationsCellsAndCountsTheRest) {
  TempDir dir;
  Store store(dir.file("r.sqlite"));
  store.put(sample_run("mine-a", "float", 0, 10));
  store.put(sample_run("theirs", "float", 0, 11));  // same experiment, another recipe
  store.put(sample_run("mine-b", "direct", 2, 30));
  RunRecord old = sample_run("old", "direct", 2, 31);
  old.identity_scheme = 1;
  store.put(old);
  RunRecord elsewhere = sample_run("mine-c", "direct", 3, 20);
  elsewhere.experiment = "another";
  store.put(elsewhere);
  const Selection s = store.select("exp", {"mine-a", "mine-b", "mine-c", "absent"});
  ASSERT_EQ(s.runs.size(), 2u);
  EXPECT_EQ(s.runs[0].cell_key, "mine-a");
  EXPECT_EQ(s.runs[1].cell_key, "mine-b");
  EXPECT_EQ(s.other_settings, 1);
  EXPECT_EQ(s.older_scheme, 1);
  const Table t = build_table("exp", s);
  EXPECT_NE(render_markdown(t).find("Not shown: 1 run made with other settings and 1 run stored under an older "
                                    "identity scheme of this experiment"),
            std::string::npos);
}

// `table --compare A,B` shows only A's and B's runs. The configuration's other
// runs are neither shown nor "made with other settings", and its float runs
// still decide which of A's and B's runs trained from a replaced baseline.
TEST(Store, SelectionOfSomeMethodsKeepsTheStaleCheckAndCountsNoOtherSettings) {
  TempDir dir;
  Store store(dir.file("s.sqlite"));
  const std::vector<std::tuple<const char*, const char*, int, const char*>> made = {
      {"k-float", "float", 0, "digest-A"},
      {"k-adaptive", "adaptive", 2, "digest-A"},
      {"k-conventional", "conventional", 2, "digest-B"},  // trained from an older float baseline
      {"k-direct", "direct", 2, "digest-A"},
      {"k-other", "adaptive", 3, "digest-A"}};  // not a cell of this configuration
  for (const auto& [key, method, bits, digest] : made) {
    RunRecord r = sample_run(key, method, bits, 10.0);
    r.baseline_digest = digest;
    store.put(r);
  }
  const std::vector<std::string> config = {"k-float", "k-adaptive", "k-conventional", "k-direct"};
  const Selection pair = store.select("exp", config, {"adaptive", "conventional"});
  ASSERT_EQ(pair.runs.size(), 1u);
  EXPECT_EQ(pair.runs[0].cell_key, "k-adaptive");
  EXPECT_EQ(pair.stale, 1);
  EXPECT_EQ(pair.other_settings, 1);
  const Selection all = store.select("exp", config);
  EXPECT_EQ(all.runs.size(), 3u);
  EXPECT_EQ(all.stale, 1);
  EXPECT_EQ(all.other_settings, 1);
}

// A store filled from archived result files gets them in file-name order, not
// in the order they ran: the selection, and so the table with its commit and
// machine lists, must come out the same whichever order the runs were put in.
TEST(Store, SelectionIsInStartOrderWhateverOrderTheRunsWereStored) {
  TempDir dir;
  std::vector<RunRecord> made;
  const char* commits[] = {"c-first", "c-second", "c-third"};
  const char* keys[] = {"zz-ran-first", "aa-ran-second", "mm-ran-third"};
  for (int i = 0; i < 3; ++i) {
    RunRecord r = sample_run(keys[i], i == 0 ? "float" : "direct", i == 0 ? 0 : i + 1, 10.0 + i);
    r.commit = commits[i], r.machine = fmt::format("machine-{}", i);
    r.started_at = fmt::format("2026-12-0{}T10:00:00Z", i + 1), r.finished_at = fmt::format("2026-12-0{}T11:00:00Z", i + 1);
    made.push_back(r);
  }
  Store as_run(dir.file("as_run.sqlite")), reversed(dir.file("reversed.sqlite"));
  for (int i = 0; i < 3; ++i) as_run.put(made[i]), reversed.put(made[2 - i]);
  const std::vector<std::string> wanted = {"aa-ran-second", "mm-ran-third", "zz-ran-first"};
  const Selection a = as_run.select("exp", wanted), b = reversed.select("exp", wanted);
  ASSERT_EQ(b.runs.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.runs[i].cell_key, keys[i]) << i;
  const std::string text = render_markdown(build_table("exp", b));
  EXPECT_EQ(text, render_markdown(build_table("exp", a)));
  EXPECT_NE(text.find("at commit c-first, c-second, c-third on machine-0; machine-1; machine-2"), std::string::npos)
      << text;
}

// A store written before runs carried their identity scheme opens, and its
// runs read back as scheme 1: listed, never matched by a current cell key.
TEST(Store, OlderStoreWithoutIdentitySchemeIsMigrated) {
  TempDir dir;
  const std::string path = dir.file("old.sqlite");
  {
    Store store(path);
    store.put(sample_run("k-old", "adaptive", 2, 12.5));
  }
  {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "ALTER TABLE runs DROP COLUMN identity_scheme;", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
  }
  Store store(path);
  auto back = store.run_with_curve("k-old");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->identity_scheme, 1);
  EXPECT_EQ(back->curve.size(), 3u);
  EXPECT_EQ(store.select("exp", {"k-new"}).older_scheme, 1);
  store.put(sample_run("k-new", "adaptive", 2, 11.5));
  EXPECT_EQ(store.run_with_curve("k-new")->identity_scheme, config::kIdentityScheme);
}

// Stores written before the renames call the Δ table `steps` and the update
// counts runs.steps and evals.step (the schema of commit d783a06, made here
// by renaming a current store back): they open with every value in place,
// under the new names, and a second open changes nothing.
TEST(Store, StoreWithTheOlderStepNamesIsRenamedAndReadsTheSame) {
  TempDir dir;
  const std::string path = dir.file("old.sqlite");
  RunRecord written = sample_run("k-old", "adaptive", 2, 12.5);
  written.updates = 1234;
  {
    Store store(path);
    store.put(written);
  }
  auto sql = [&](const std::string& statement) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, statement.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  };
  sql("ALTER TABLE step_sizes RENAME TO steps; ALTER TABLE runs RENAME COLUMN updates TO steps; "
      "ALTER TABLE evals RENAME COLUMN updates TO step;");
  auto tables = [&] {
    sqlite3* db = nullptr;
    sqlite3_open(path.c_str(), &db);
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", -1, &st, nullptr);
    std::string names;
    while (sqlite3_step(st) == SQLITE_ROW) names += std::string(reinterpret_cast<const char*>(sqlite3_column_text(st, 0))) + " ";
    sqlite3_finalize(st);
    sqlite3_close(db);
    return names;
  };
  ASSERT_EQ(tables(), "evals runs steps ");
  for (int open = 0; open < 2; ++open) {
    SCOPED_TRACE(open);
    Store store(path);
    auto back = store.run_with_curve("k-old");
    ASSERT_TRUE(back);
    EXPECT_EQ(back->updates, 1234);
    ASSERT_EQ(back->curve.size(), written.curve.size());
    for (std::size_t i = 0; i < written.curve.size(); ++i) {
      EXPECT_EQ(back->curve[i].updates, written.curve[i].updates);
      EXPECT_EQ(back->curve[i].deltas, written.curve[i].deltas);
    }
    EXPECT_EQ(tables(), "evals runs step_sizes ");
  }
  {
    Store store(path);
    store.put(sample_run("k-new", "adaptive", 3, 11.5));  // and it takes new runs
    EXPECT_EQ(store.run_with_curve("k-new")->curve.size(), 3u);
  }
  // An older build opening the renamed store makes an empty `steps` beside
  // `step_sizes`: the next open drops it, and every step size is still read.
  sql("CREATE TABLE steps (run_id INTEGER NOT NULL, eval_idx INTEGER NOT NULL, grp INTEGER NOT NULL, "
      "delta REAL NOT NULL, PRIMARY KEY (run_id, eval_idx, grp));");
  ASSERT_EQ(tables(), "evals runs step_sizes steps ");
  Store store(path);
  EXPECT_EQ(tables(), "evals runs step_sizes ");
  EXPECT_EQ(store.run_with_curve("k-old")->curve[2].deltas, written.curve[2].deltas);
}

TEST(Store, RoundTripWithCurveAndSteps) {
  TempDir dir;
  Store store(dir.file("r.sqlite"));
  store.put(sample_run("k1", "adaptive", 2, 12.5));
  auto back = store.run_with_curve("k1");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->method, "adaptive");
  EXPECT_DOUBLE_EQ(back->test_metric, 12.5);
  EXPECT_EQ(back->group_names, (std::vector<std::string>{"conv1.weight", "fc1.weight"}));
  ASSERT_EQ(back->curve.size(), 3u);
  EXPECT_EQ(back->curve[2].deltas, (std::vector<double>{2.1, 2.2}));
  EXPECT_EQ(back->curve[1].updates, 10);
  EXPECT_TRUE(store.has_ok("k1"));
  EXPECT_FALSE(store.has_ok("k2"));
}

TEST(Store, SameCellReplacesInsteadOfDuplicating) {
  TempDir dir;
  Store store(dir.file("r.sqlite"));
  store.put(sample_run("k1", "direct", 2, 50));
  store.put(sample_run("k1", "direct", 2, 40, 2));
  auto runs = store.runs("exp");
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_DOUBLE_EQ(runs[0].test_metric, 40);
  EXPECT_EQ(store.run_with_curve("k1")->curve.size(), 2u);
}

TEST(Store, NotAStoreIsAClearError) {
  TempDir dir;
  dir.write("junk.sqlite", std::string(4096, 'x'));
  try {
    Store s(dir.file("junk.sqlite"));
    FAIL() << "opened a junk file";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("junk.sqlite"), std::string::npos) << e.what();
  }
}

// A step-size row that points past its run's curve (a damaged or
// hand-edited store) is a user error naming the store, not a range_check
// abort in `qretrain export`.
TEST(Store, StepRowPastTheCurveNamesTheStore) {
  TempDir dir;
  const std::string path = dir.file("r.sqlite");
  {
    Store store(path);
    store.put(sample_run("k1", "adaptive", 2, 12.5));
  }
  for (const char* idx : {"99", "-1"}) {
    SCOPED_TRACE(idx);
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
    const std::string sql = std::string("UPDATE step_sizes SET eval_idx = ") + idx + " WHERE eval_idx = 1 OR eval_idx = 99";
    ASSERT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(db);
    Store store(path);
    try {
      store.run_with_curve("k1");
      FAIL() << "read a step size of evaluation " << idx;
    } catch (const UserError& e) {
      EXPECT_NE(std::string(e.what()).find(path + ": damaged results store"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(std::string("evaluation ") + idx + ", but 3 evaluations"),
                std::string::npos)
          << e.what();
    }
  }
}

// A writer killed at random moments never leaves a run without its full
// curve: every stored run has exactly `steps` evaluation rows.
TEST(Store, SigkillNeverLeavesAHalfWrittenRun) {
  TempDir dir;
  const std::string path = dir.file("r.sqlite");
  { Store init(path); }
  for (int round = 0; round < 5; ++round) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      Store store(path);
      for (int i = 0;; ++i) store.put(sample_run(std::to_string(round) + "-" + std::to_string(i), "direct", 2, i, 200));
    }
    usleep(50000 + 37000 * round);
    kill(child, SIGKILL);
    int status = 0;
    waitpid(child, &status, 0);
  }
  Store store(path);
  auto runs = store.runs("exp");
  EXPECT_GT(runs.size(), 5u);
  for (const auto& r : runs) {
    auto full = store.run_with_curve(r.cell_key);
    ASSERT_EQ(static_cast<std::int64_t>(full->curve.size()), r.updates) << r.cell_key;
    for (const auto& p : full->curve) ASSERT_EQ(p.deltas.size(), 2u);
  }
}

TEST(Table, PaperShapeMeanStdBestAndFailures) {
  std::vector<RunRecord> runs;
  auto add = [&](const std::string& net, const std::string& method, int bits, double v, int seed,
                 const std::string& status = "ok") {
    RunRecord r = sample_run(net + method + std::to_string(bits) + std::to_string(seed), method, bits, v);
    r.network = net;
    r.seed = seed;
    r.status = status;
    runs.push_back(r);
  };
  add("L", "float", 0, 9.0, 1);
  add("L", "direct", 2, 40.0, 1);
  add("L", "conventional", 2, 12.0, 1);
  add("L", "conventional", 2, 14.0, 2);
  add("L", "adaptive", 2, 11.0, 1);
  add("C", "float", 0, 8.0, 1);
  add("C", "direct", 2, 30.0, 1);
  add("C", "adaptive", 2, 0.0, 1, "failed");
  Table t = build_table("exp", runs);
  EXPECT_EQ(t.columns, (std::vector<std::string>{"L", "C"}));
  ASSERT_EQ(t.rows.size(), 4u);  // float, direct, conventional, adaptive
  EXPECT_EQ(t.rows[0].method, "float");
  EXPECT_EQ(t.rows[2].method, "conventional");
  EXPECT_DOUBLE_EQ(t.rows[2].cells[0].mean, 13.0);
  EXPECT_NEAR(t.rows[2].cells[0].stdev, std::sqrt(2.0), 1e-12);
  EXPECT_TRUE(t.rows[3].cells[0].best);   // adaptive 11 < conventional 13 < direct 40
  EXPECT_FALSE(t.rows[2].cells[0].best);
  EXPECT_TRUE(t.rows[1].cells[1].best);   // C: the failed adaptive run cannot win
  EXPECT_EQ(t.rows[3].cells[1].failed, 1);
  const std::string md = render_markdown(t);
  EXPECT_NE(md.find("| Floating result |  | 9.00 (1 seed) | 8.00 (1 seed) |"), std::string::npos) << md;
  EXPECT_NE(md.find("| 2-bit (3 points) | Direct | 40.00 (1 seed) | **30.00 (1 seed)** |"), std::string::npos) << md;
  EXPECT_NE(md.find("|  | Conventional | 13.00 ± 1.41 |  |"), std::string::npos) << md;
  EXPECT_NE(md.find("|  | Adaptive | **11.00 (1 seed)** | failed |"), std::string::npos) << md;
  const std::string csv = render_csv(t);
  EXPECT_NE(csv.find("2,adaptive,L,11.0000,0.0000,1,0,1\n"), std::string::npos) << csv;
  EXPECT_NE(csv.find("2,adaptive,C,,,0,1,0\n"), std::string::npos) << csv;
  const std::string tex = render_latex(t);
  EXPECT_NE(tex.find("\\begin{tabular}{llrr}\n\\toprule\n & & L & C \\\\\n\\midrule\n"), std::string::npos) << tex;
  EXPECT_NE(tex.find("Floating result &  & 9.00 (1 seed) & 8.00 (1 seed) \\\\\n\\midrule\n2-bit (3 points) & Direct & "
                     "40.00 (1 seed) & \\textbf{30.00 (1 seed)} \\\\\n"),
            std::string::npos)
      << tex;
  EXPECT_NE(tex.find(" & Conventional & 13.00 $\\pm$ 1.41 &  \\\\\n"), std::string::npos) << tex;
  EXPECT_NE(tex.find(" & Adaptive & \\textbf{11.00 (1 seed)} & failed \\\\\n\\bottomrule"), std::string::npos) << tex;

  // Language models: bits per character to three decimals, named as such.
  t.metric = "bits per character";
  EXPECT_EQ(render_markdown(t).rfind("Test bits per character (BPC) of experiment `exp`", 0), 0u);
  EXPECT_NE(render_markdown(t).find("| Floating result |  | 9.000 (1 seed) | 8.000 (1 seed) |"), std::string::npos);
  EXPECT_EQ(render_csv(t).rfind("bits,method,network,test_bpc_mean,test_bpc_std,", 0), 0u);
}

TEST(Table, WallTimeIsTheUnionOfTheRunsIntervalsAcrossSweeps) {
  EXPECT_EQ(parse_utc_time("1970-01-02T00:00:10Z"), std::optional<double>(86410.0));
  EXPECT_EQ(parse_utc_time("2026-12-07T02:41:02Z"), std::optional<double>(1796611262.0));  // date -u -d @1796611262
  EXPECT_FALSE(parse_utc_time("t0"));
  EXPECT_FALSE(parse_utc_time("2026-12-07T02:41:02+01:00"));
  EXPECT_FALSE(parse_utc_time("2026-12-07T02:41:02Z trailing"));
  // [0,10] and [5,20] overlap into [0,20] (20 s), [30,40] stands apart (10 s), [32,35] lies inside it.
  EXPECT_DOUBLE_EQ(union_length({{30, 40}, {0, 10}, {32, 35}, {5, 20}}), 30.0);
  EXPECT_DOUBLE_EQ(union_length({}), 0.0);

  // Two runs side by side for 10 minutes, then one more a day later for 5.
  std::vector<RunRecord> runs;
  auto add = [&](const std::string& key, const std::string& from, const std::string& to) {
    RunRecord r = sample_run(key, "float", 0, 9.0);
    r.started_at = from, r.finished_at = to, r.wall_s = 60;
    runs.push_back(r);
  };
  add("a", "2026-12-01T10:00:00Z", "2026-12-01T10:10:00Z");
  add("b", "2026-12-01T10:02:00Z", "2026-12-01T10:08:00Z");
  add("c", "2026-12-02T09:00:00Z", "2026-12-02T09:05:00Z");
  const Table t = build_table("exp", runs);
  EXPECT_DOUBLE_EQ(t.busy_wall_s, 15 * 60.0);
  EXPECT_NE(render_markdown(t).find("3.0 min of run time summed, 15.0 min of wall time with at least one of them "
                                    "running, 2026-12-01T10:00:00Z to 2026-12-02T09:05:00Z."),
            std::string::npos)
      << render_markdown(t);
  RunRecord reused = sample_run("d", "float", 0, 9.0);  // a baseline reused from the cache: its training was earlier
  reused.started_at = "2026-11-20T00:00:00Z", reused.finished_at = "2026-12-01T10:00:00Z";
  reused.note = "reused from the cache runs/baselines/x.pt (its training record: ...)";
  runs.push_back(reused);
  EXPECT_DOUBLE_EQ(build_table("exp", runs).busy_wall_s, 15 * 60.0);
  runs[1].started_at = "t0";  // a time that does not parse: no wall time claimed
  EXPECT_EQ(build_table("exp", runs).busy_wall_s, 0.0);
}

TEST(Table, ColumnsFollowTheConfigsNetworkOrder) {
  std::vector<RunRecord> runs;
  for (const auto& [net, v] : {std::pair<const char*, double>{"C", 8.0}, {"V", 7.0}, {"L", 9.0}}) {
    RunRecord r = sample_run(std::string("f") + net, "float", 0, v);
    r.network = net;
    runs.push_back(r);
  }
  RunRecord direct = sample_run("dL", "direct", 2, 30.0);  // L only: the other columns of its row are empty
  runs.push_back(direct);
  Table t = build_table("exp", runs);
  ASSERT_EQ(t.columns, (std::vector<std::string>{"C", "V", "L"}));  // as stored
  order_columns(t, {"L", "C", "X"});  // X has no runs; V is not named
  EXPECT_EQ(t.columns, (std::vector<std::string>{"L", "C", "V"}));
  EXPECT_DOUBLE_EQ(t.rows[0].cells[0].mean, 9.0);
  EXPECT_DOUBLE_EQ(t.rows[0].cells[1].mean, 8.0);
  EXPECT_DOUBLE_EQ(t.rows[0].cells[2].mean, 7.0);
  EXPECT_EQ(t.rows[1].cells[0].n, 1);
  EXPECT_EQ(t.rows[1].cells[1].n + t.rows[1].cells[2].n, 0);
  EXPECT_NE(render_markdown(t).find("| Floating result |  | 9.00 | 8.00 | 7.00 |"), std::string::npos);
}

TEST(Table, PartialGridSaysSoAndEvenSeedsNeedNoCount) {
  std::vector<RunRecord> runs;
  for (int seed : {1, 2}) {
    for (const auto& [method, bits, v] : {std::tuple<const char*, int, double>{"float", 0, 9.0 + seed},
                                          {"adaptive", 2, 11.0 + seed}}) {
      RunRecord r = sample_run(std::string(method) + std::to_string(seed), method, bits, v);
      r.seed = seed;
      runs.push_back(r);
    }
  }
  Table t = build_table("exp", runs);
  t.grid_cells = 4;  // every cell of the configuration has its run
  std::string md = render_markdown(t);
  EXPECT_NE(md.find("| Floating result |  | 10.50 ± 0.71 |"), std::string::npos) << md;
  EXPECT_EQ(md.find("seed"), std::string::npos) << md;
  EXPECT_EQ(md.find("Partial grid"), std::string::npos) << md;
  EXPECT_EQ(partial_grid_note(t), "");

  t.grid_cells = 6;  // a third seed still to run
  t.seeds = 3;
  md = render_markdown(t);
  EXPECT_NE(md.find("**Partial grid: 4 of the configuration's 6 runs (network × method × bit width × seed) have a "
                    "result; a sweep"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| Floating result |  | 10.50 ± 0.71 (2 seeds) |"), std::string::npos) << md;
  EXPECT_EQ(partial_grid_label(t), "partial grid: 4 of 6 runs");
  const std::string tex = render_latex(t);
  EXPECT_NE(tex.find("\\textbf{Partial grid: 4 of 6 runs.} Best method"), std::string::npos) << tex;

  // A failed run is no result: with it the grid is still partial, and says so.
  RunRecord failed = sample_run("adaptive3", "adaptive", 2, 0.0);
  failed.seed = 3;
  failed.status = "failed";
  runs.push_back(failed);
  Table with_failure = build_table("exp", runs);
  with_failure.grid_cells = 6;
  with_failure.seeds = 3;
  EXPECT_NE(render_markdown(with_failure).find("4 of the configuration's 6 runs (network × method × bit width × seed) "
                                               "have a result, 1 failed;"),
            std::string::npos)
      << render_markdown(with_failure);
  with_failure.grid_cells = 5;
  EXPECT_NE(partial_grid_note(with_failure), "");

  t.grid_cells = 0;  // not known: nothing claimed either way
  EXPECT_EQ(render_markdown(t).find("Partial grid"), std::string::npos);
}

}  // namespace
}  // namespace qretrain::report
