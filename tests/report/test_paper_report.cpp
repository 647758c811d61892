// The paper's tables from the stores (`table --paper N`) and the report:
// which config's numbers land where, how each is labelled (a stand-in is never
// shown as the paper's dataset), the named errors when nothing is stored, the
// grouping of training curves, and the images and Markdown of the report.
#include "report/paper_report.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>

#include "report/curves.h"
#include "test_util.h"

namespace qretrain::report {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using qretrain::testing::error_of;
using qretrain::testing::TempDir;
using qretrain::testing::slurp;

// A run of experiment "std" on the stand-in data; `points` evaluations whose
// dev metric falls from `dev0` by 1 per epoch (none for direct quantization).
RunRecord run(const std::string& network, const std::string& method, int bits, double test, int points,
              double dev0 = 30) {
  RunRecord r;
  r.cell_key = network + "-" + method + "-" + std::to_string(bits);
  r.experiment = "std";
  r.dataset = "Fashion-MNIST";
  r.network = network;
  r.method = method;
  r.bits = bits;
  r.seed = 1;
  r.step_policy = method == "float" ? "-" : "epoch";
  r.test_metric = test;
  r.dev_metric = dev0 - (points - 1);
  r.config_yaml = "name: std\n";
  r.commit = "abc123def456";
  r.machine = "testbox (2 cores)";
  r.started_at = "2026-01-02T03:04:05Z";
  r.finished_at = "2026-01-02T03:14:05Z";
  if (method != "float") r.group_names = {"fc1.weight", "out.weight"};
  for (int i = 0; i < points; ++i) {
    train::EvalPoint p;
    p.epoch = i;
    p.updates = 100 * i;
    p.lr = 1e-3;
    p.train_loss = i == 0 ? std::nan("") : 1.0 / i;
    p.dev_metric = dev0 - i;
    if (method != "float") {
      p.deltas.push_back(0.01 * bits + 0.001 * i);
      p.deltas.push_back(0.02 * bits);
    }
    r.curve.push_back(p);
  }
  return r;
}

void fill_standin_store(const std::string& path) {
  Store store(path);
  store.put(run("L", "float", 0, 9.73, 4, 12));
  store.put(run("L", "direct", 2, 29.18, 0));
  store.put(run("L", "conventional", 2, 11.08, 3, 40));
  store.put(run("L", "adaptive", 2, 11.14, 3, 41));
  RunRecord failed = run("L", "adaptive", 3, 0, 2);
  failed.status = "failed";
  failed.failure = "loss became NaN";
  store.put(failed);
  store.put(run("C", "float", 0, 8.94, 2, 11));
}

PaperTable paper_table3() {
  PaperTable p;
  p.title = "Paper Table 3: SVHN test error (%)";
  p.dataset = "SVHN";
  p.values[{0, "float"}]["L"] = 6.45;
  p.values[{2, "conventional"}]["L"] = 8.37;
  p.values[{2, "adaptive"}]["L"] = 8.01;
  return p;
}

Source source(const std::string& config, const std::string& experiment, const std::string& store, bool stand_in) {
  Source s;
  s.config_path = config;
  s.experiment = experiment;
  s.store_path = store;
  s.stand_in = stand_in;
  // The config's cells: here every run the store holds for the experiment.
  if (fs::exists(store))
    for (const auto& r : Store(store).runs(experiment)) s.cell_keys.push_back(r.cell_key);
  return s;
}

struct Fixture {
  TempDir dir;
  std::string store = dir.file("runs/results.sqlite");
  std::vector<SourceRuns> sources;
  Fixture() {
    fs::create_directories(dir.path() / "runs");
    fill_standin_store(store);
    // The paper's data first (never run here: no store), then the stand-in.
    sources.push_back(read_source(source("configs/svhn_L.yaml", "svhn_L", dir.file("svhn/results.sqlite"), false)));
    sources.push_back(read_source(source("configs/std.yaml", "std", store, true)));
  }
};

TEST(PaperTables, MarkdownShowsOursBesideThePaperLabelledWithTheStandIn) {
  Fixture f;
  EXPECT_FALSE(f.sources[0].store_exists);
  EXPECT_FALSE(fs::exists(f.dir.file("svhn/results.sqlite")));  // reading never creates a store
  ASSERT_EQ(f.sources[1].runs.size(), 6u);

  const std::string md = render_paper_tables(paper_table3(), f.sources, "md", 2);
  EXPECT_THAT(md, HasSubstr("## Paper Table 3: SVHN test error (%)\n"));
  EXPECT_THAT(md, HasSubstr("### Ours: `configs/std.yaml` on Fashion-MNIST\n"));
  EXPECT_THAT(md, HasSubstr("Data: **Fashion-MNIST**, a stand-in for the paper's SVHN."));
  EXPECT_THAT(md, HasSubstr("the paper's numbers on SVHN, not on this data"));
  EXPECT_THAT(md, Not(HasSubstr("(the paper's dataset)")));
  // Our value, then the paper's, per network.
  EXPECT_THAT(md, HasSubstr("| L | L (paper) | C | C (paper) |"));
  EXPECT_THAT(md, HasSubstr("| Floating result |  | 9.73 | 6.45 | 8.94 |  |"));
  EXPECT_THAT(md, HasSubstr("| 2-bit (3 points) | Direct | 29.18 |  |  |  |"));
  EXPECT_THAT(md, HasSubstr("|  | Conventional | **11.08** | 8.37 |  |  |"));
  EXPECT_THAT(md, HasSubstr("|  | Adaptive | 11.14 | 8.01 |  |  |"));
  EXPECT_THAT(md, HasSubstr("| 3-bit (7 points) | Adaptive | failed |"));
  EXPECT_THAT(md, HasSubstr("at commit abc123def456 on testbox (2 cores)"));
  EXPECT_THAT(md, HasSubstr("`qretrain run --config configs/std.yaml`"));
  // The paper's own data: listed as not run, with the command.
  EXPECT_THAT(md, HasSubstr("Not run yet:\n\n- `configs/svhn_L.yaml` (no results store " +
                            f.dir.file("svhn/results.sqlite") +
                            "; the paper's SVHN data): `qretrain run --config configs/svhn_L.yaml`"));
}

TEST(PaperTables, PaperDataIsLabelledAsThePapersDataset) {
  Fixture f;
  f.sources[1].source.stand_in = false;  // as if the runs were on the paper's data
  const std::string md = render_paper_tables(paper_table3(), {f.sources[1]}, "md", 2);
  EXPECT_THAT(md, HasSubstr("Data: **Fashion-MNIST** (the paper's dataset)."));
  EXPECT_THAT(md, Not(HasSubstr("stand-in")));
}

TEST(PaperTables, CsvPrefixesEveryRowWithConfigDatasetAndKindOfData) {
  Fixture f;
  const std::string csv = render_paper_tables(paper_table3(), f.sources, "csv");
  EXPECT_EQ(csv.rfind("config,experiment,dataset,data,bits,method,network,test_error_mean,test_error_std,seeds,"
                      "failed,best,paper\n",
                      0),
            0u)
      << csv;
  EXPECT_THAT(csv, HasSubstr("\nconfigs/std.yaml,std,Fashion-MNIST,stand-in,0,float,L,9.7300,0.0000,1,0,0,6.45\n"));
  EXPECT_THAT(csv, HasSubstr("\nconfigs/std.yaml,std,Fashion-MNIST,stand-in,2,adaptive,L,11.1400,0.0000,1,0,0,8.01\n"));
  EXPECT_THAT(csv, HasSubstr("\nconfigs/std.yaml,std,Fashion-MNIST,stand-in,0,float,C,8.9400,0.0000,1,0,0,\n"));
  EXPECT_THAT(csv, Not(HasSubstr("svhn_L")));  // no rows for a config without runs
}

TEST(PaperTables, LatexIsOneBooktabsTablePerConfigWithRuns) {
  Fixture f;
  const std::string tex = render_paper_tables(paper_table3(), f.sources, "tex");
  EXPECT_THAT(tex, HasSubstr("% configs/svhn_L.yaml: not run yet (no results store"));
  EXPECT_THAT(tex, HasSubstr("% Paper Table 3: SVHN test error (%) from configs/std.yaml: data Fashion-MNIST, a "
                             "stand-in for the paper's SVHN\n"));
  EXPECT_THAT(tex, HasSubstr("\\toprule"));
  EXPECT_THAT(tex, HasSubstr("L & L (paper) & C & C (paper)"));
  EXPECT_THAT(tex, HasSubstr("& \\textbf{11.08} & 8.37 &"));
}

TEST(PaperTables, NothingStoredNamesEveryConfigItsStoreAndTheCommand) {
  Fixture f;
  // The stand-in's store exists but holds another experiment.
  f.sources[1] = read_source(source("configs/other.yaml", "other", f.store, true));
  const std::string e = error_of([&] { render_paper_tables(paper_table3(), f.sources, "md"); });
  EXPECT_THAT(e, HasSubstr("Paper Table 3: SVHN test error (%): nothing stored yet from configs/svhn_L.yaml (no "
                           "results store " +
                           f.dir.file("svhn/results.sqlite") + ")"));
  EXPECT_THAT(e, HasSubstr("configs/other.yaml (no runs of this configuration of experiment 'other' in " + f.store + ")"));
  EXPECT_THAT(e, HasSubstr("run `qretrain run --config configs/svhn_L.yaml` or `qretrain run --config "
                           "configs/other.yaml`"));
}

TEST(Curves, OneFigurePerNetworkFloatFirstMethodsInOrderDirectAndFailedLeftOut) {
  TempDir dir;
  Store store(dir.file("r.sqlite"));
  store.put(run("L", "adaptive", 4, 9.1, 3, 20));
  fill_standin_store(dir.file("r.sqlite"));
  const auto figures = curve_figures(store, store.runs("std"), "std", "error rate");
  ASSERT_EQ(figures.size(), 2u);
  const CurveFigure& l = figures[0];
  EXPECT_EQ(l.network, "L");  // first stored network first
  EXPECT_EQ(figures[1].network, "C");
  ASSERT_EQ(l.panels.size(), 3u);  // float, 2-bit, 4-bit; 3-bit only failed
  EXPECT_EQ(l.panels[0].bits, 0);
  EXPECT_EQ(l.panels[1].bits, 2);
  EXPECT_EQ(l.panels[2].bits, 4);
  ASSERT_EQ(l.panels[1].lines.size(), 2u);  // direct has no curve
  EXPECT_EQ(l.panels[1].lines[0].method, "conventional");
  EXPECT_EQ(l.panels[1].lines[1].method, "adaptive");
  EXPECT_EQ(l.runs, 4);
  EXPECT_TRUE(l.has_float_reference);
  EXPECT_DOUBLE_EQ(l.float_reference, 9.0);  // best dev of the float run: 12 - 3
  EXPECT_EQ(l.datasets, std::vector<std::string>{"Fashion-MNIST"});
  EXPECT_EQ(l.commits, std::vector<std::string>{"abc123def456"});
  // Data blocks in panel/line order; a missing training loss is "?".
  const std::string data = curve_figure_data(l);
  EXPECT_EQ(data.rfind("# 0-bit float seed 1: epoch dev_metric train_loss\n0 12 ?\n1 11 1\n2 10 0.5\n", 0), 0u)
      << data;
  EXPECT_THAT(data, HasSubstr("# 2-bit conventional seed 1: epoch dev_metric train_loss\n0 40 ?\n1 39 1\n"));
}

ReportInput report_input(const Fixture& f) {
  ReportInput in;
  ReportInput::TableEntry t;
  t.number = 3;
  t.paper_file = "configs/paper/table3.yaml";
  t.paper = paper_table3();
  t.sources = f.sources;
  in.tables.push_back(t);
  in.figure_file = "configs/paper/fig2.yaml";
  in.figure.title = "Paper Fig. 2: step size of each layer";
  in.figure.dataset = "TIMIT";
  in.figure.network = "L";
  in.figure_sources = {f.sources[1]};
  return in;
}

TEST(Report, WritesTablesFigureAndCurvesLabelledWithDataCommitAndMachine) {
  ASSERT_EQ(std::system("gnuplot --version >/dev/null 2>&1"), 0) << "gnuplot is missing: scripts/install-deps.sh installs gnuplot-nox";
  Fixture f;
  const std::string out = f.dir.file("results/REPORT.md");
  const fs::path images = f.dir.path() / "results" / "report";
  EXPECT_EQ(report_image_dir(out), images.string());
  fs::create_directories(images);
  std::ofstream(images / "stale.png") << "old";
  std::ofstream(images / "notes.txt") << "mine";

  EXPECT_EQ(write_report(report_input(f), out), 3);  // Fig. 2 + curves of L and C
  const std::string md = slurp(out);
  EXPECT_EQ(md.rfind("# Results report\n", 0), 0u);
  // Overview: one row per listed config.
  EXPECT_THAT(md, HasSubstr("| Table 3 | `configs/svhn_L.yaml` | not run (no store) | 0 | | |\n"));
  // 6 runs, one of them failed: a sweep runs that cell again.
  EXPECT_THAT(md, HasSubstr("| Table 3 | `configs/std.yaml` | Fashion-MNIST (stand-in for SVHN) | 6 (partial grid: 5 "
                            "of 6 runs) | abc123def456 | "
                            "testbox (2 cores) |\n"));
  EXPECT_THAT(md, HasSubstr("| Fig. 2 | `configs/std.yaml` | Fashion-MNIST (stand-in for TIMIT) | 6 (partial grid: 5 "
                            "of 6 runs) |"));
  // The table, as `table --paper 3` renders it.
  EXPECT_THAT(md, HasSubstr("## Paper Table 3: SVHN test error (%)\n"));
  EXPECT_THAT(md, HasSubstr("| Floating result |  | 9.73 | 6.45 | 8.94 |  |"));
  // Fig. 2 from the adaptive runs of network L (2-bit only: 3-bit failed).
  EXPECT_THAT(md, HasSubstr("![Fig. 2 from std on Fashion-MNIST](report/fig2-std.png)"));
  EXPECT_THAT(md, HasSubstr("adaptive retraining, network L, seeds 1 (a line each), bit widths 2 "));
  EXPECT_THAT(md, HasSubstr("data: Fashion-MNIST, a stand-in for the paper's TIMIT; commit abc123def456; machine "
                            "testbox (2 cores)."));
  // Curves: one figure per network.
  EXPECT_THAT(md, HasSubstr("![training curves of std network L](report/curves-std-L.png)"));
  EXPECT_THAT(md, HasSubstr("3 curves ([SVG](report/curves-std-L.svg)). Data: Fashion-MNIST (a stand-in dataset); "
                            "commit abc123def456; machine testbox (2 cores)."));
  EXPECT_THAT(md, HasSubstr("![training curves of std network C](report/curves-std-C.png)"));

  for (const char* name : {"fig2-std.png", "curves-std-L.png", "curves-std-C.png"})
    EXPECT_EQ(slurp(images / name).substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << name;
  const std::string svg = slurp(images / "curves-std-L.svg");
  EXPECT_THAT(svg, HasSubstr("<svg"));
  EXPECT_THAT(svg, HasSubstr("conventional"));
  EXPECT_THAT(svg, HasSubstr("abc123def456"));  // the figure carries its commit too
  EXPECT_TRUE(fs::exists(images / "fig2-std.csv"));
  EXPECT_FALSE(fs::exists(images / "stale.png"));  // an earlier report's image
  EXPECT_TRUE(fs::exists(images / "notes.txt"));   // not ours: kept

  // Deterministic given the store.
  const std::string png = slurp(images / "curves-std-L.png");
  write_report(report_input(f), out);
  EXPECT_EQ(slurp(out), md);
  EXPECT_EQ(slurp(images / "curves-std-L.png"), png);
  EXPECT_EQ(slurp(images / "curves-std-L.svg"), svg);
}

TEST(Report, APartialGridIsSaidInTheOverviewTheTableAndTheClaims) {
  ASSERT_EQ(std::system("gnuplot --version >/dev/null 2>&1"), 0) << "gnuplot is missing: scripts/install-deps.sh installs gnuplot-nox";
  Fixture f;
  // The stand-in config has two more cells than the store holds runs for.
  f.sources[1].source.cell_keys.push_back("cell-not-run-yet-1");
  f.sources[1].source.cell_keys.push_back("cell-not-run-yet-2");
  const std::string out = f.dir.file("results/REPORT.md");
  write_report(report_input(f), out);
  const std::string md = slurp(out);
  EXPECT_THAT(md, HasSubstr("| Table 3 | `configs/std.yaml` | Fashion-MNIST (stand-in for SVHN) | 6 (partial grid: 5 "
                            "of 8 runs) |"));
  EXPECT_THAT(md, HasSubstr("**Partial grid: 5 of the configuration's 8 runs (network × method × bit width × seed) "
                            "have a result, 1 failed;"));
  EXPECT_THAT(md, HasSubstr("- Table 3, `configs/std.yaml`, partial grid: 5 of 8 runs:"));
}

TEST(Report, NothingStoredOrNoGnuplotIsAClearErrorAndWritesNothing) {
  Fixture f;
  const std::string out = f.dir.file("results/REPORT.md");
  ReportInput empty = report_input(f);
  empty.tables[0].sources = {f.sources[0]};
  empty.figure_sources = {};
  EXPECT_THAT(error_of([&] { write_report(empty, out); }),
              HasSubstr("report: nothing stored yet from configs/svhn_L.yaml"));

  const char* old_path = std::getenv("PATH");
  const std::string saved = old_path ? old_path : "";
  TempDir empty_bin;
  ::setenv("PATH", empty_bin.path().c_str(), 1);
  const std::string e = error_of([&] { write_report(report_input(f), out); });
  ::setenv("PATH", saved.c_str(), 1);
  EXPECT_THAT(e, HasSubstr("gnuplot not found"));
  EXPECT_FALSE(fs::exists(out));
  EXPECT_FALSE(fs::exists(f.dir.path() / "results"));
}

}  // namespace
}  // namespace qretrain::report
