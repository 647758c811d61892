// `qretrain table --paper N` and `qretrain report` end to end: the configs a
// paper table lists are resolved (even when their data is not on this
// machine), their stores read, and bad or missing input is a one-line error
// with exit code 2.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>

#include "config/config.h"
#include "methods/session.h"
#include "report/store.h"
#include "test_util.h"

namespace qretrain {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using qretrain::testing::run_qretrain;
using qretrain::testing::TempDir;

// A folder laid out like the repository: configs/paper/table3.yaml listing
// a config on the paper's data (SVHN, not present) and a stand-in one.
struct Repo {
  TempDir dir;
  Repo() {
    fs::create_directories(dir.path() / "configs" / "paper");
    dir.write("configs/paper/table3.yaml", R"yaml(title: "Paper Table 3: SVHN test error (%)"
dataset: SVHN
reproduced_by: [configs/svhn_L.yaml, configs/standin.yaml]
rows:
  - {bits: 0, method: float, L: 6.45}
  - {bits: 2, method: adaptive, L: 8.01}
)yaml");
    dir.write("configs/svhn_L.yaml", "name: svhn_L\ndataset:\n  kind: svhn\n  path: data/svhn\nnetwork:\n  kind: "
                                     "lenet5\noutput:\n  dir: out\n");
    dir.write("configs/standin.yaml", "name: standin\ndataset:\n  kind: fashion-mnist\n  path: configs\nnetwork:\n  "
                                      "kind: lenet5\noutput:\n  dir: out\n");
  }
  void store_runs() const {
    fs::create_directories(dir.path() / "out");
    report::Store store(dir.file("out/results.sqlite"));
    // Its data folder is relative to the repository; it is not part of a cell's identity.
    const auto standin = config::load(dir.file("configs/standin.yaml"), {"dataset.path=" + dir.file("configs")});
    for (const auto& [method, bits, test] :
         {std::tuple<const char*, int, double>{"float", 0, 9.73}, {"adaptive", 2, 11.14}}) {
      report::RunRecord r;
      r.cell_key = methods::cell_key(standin, method, bits, 1);  // the cells the config names
      r.experiment = "standin";
      r.dataset = "Fashion-MNIST";
      r.network = "L";
      r.method = method;
      r.bits = bits;
      r.seed = 1;
      r.test_metric = test;
      r.dev_metric = test;
      r.commit = "0123abcd";
      r.machine = "cli-box";
      r.group_names = {"fc.weight"};
      for (int e = 0; e < 3; ++e) {
        train::EvalPoint p;
        p.epoch = e;
        p.train_loss = e == 0 ? std::nan("") : 1.0 / e;
        p.dev_metric = test + 3 - e;
        if (bits) p.deltas = {0.1 + 0.01 * e};
        r.curve.push_back(p);
      }
      store.put(r);
    }
  }
};

TEST(CliPaper, TableShowsTheStandInRunsBesideThePaperWithoutConfig) {
  Repo repo;
  repo.store_runs();
  auto r = run_qretrain("table --paper 3", repo.dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("## Paper Table 3: SVHN test error (%)"));
  EXPECT_THAT(r.out, HasSubstr("### Ours: `configs/standin.yaml` on Fashion-MNIST"));
  EXPECT_THAT(r.out, HasSubstr("Data: **Fashion-MNIST**, a stand-in for the paper's SVHN."));
  EXPECT_THAT(r.out, HasSubstr("| Floating result |  | 9.73 | 6.45 |"));
  EXPECT_THAT(r.out, HasSubstr("| 2-bit (3 points) | Adaptive | **11.14** | 8.01 |"));
  EXPECT_THAT(r.out, HasSubstr("- `configs/svhn_L.yaml` (no runs of this configuration of experiment 'svhn_L' in out/results.sqlite; the "
                               "paper's SVHN data): `qretrain run --config configs/svhn_L.yaml`"));

  r = run_qretrain("table --paper 3 --format csv -o t3.csv", repo.dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::ifstream f(repo.dir.path() / "t3.csv");
  const std::string csv((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_THAT(csv, HasSubstr("configs/standin.yaml,standin,Fashion-MNIST,stand-in,2,adaptive,L,11.1400,0.0000,1,0,1,"
                             "8.01\n"));
}

TEST(CliPaper, BadNumbersAndMissingStoresAreOneLineErrors) {
  Repo repo;
  auto r = run_qretrain("table --paper 3", repo.dir.path());  // nothing run yet
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("nothing stored yet from configs/svhn_L.yaml (no results store out/results.sqlite), "
                               "configs/standin.yaml (no results store out/results.sqlite); run `qretrain run "
                               "--config configs/svhn_L.yaml` or `qretrain run --config configs/standin.yaml`"));
  EXPECT_FALSE(fs::exists(repo.dir.path() / "out"));

  r = run_qretrain("table --paper 7", repo.dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--paper: no paper table 7 (configs/paper/table7.yaml not found; known: 3;"));

  r = run_qretrain("table --paper", repo.dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--paper"));

  r = run_qretrain("table --paper x", repo.dir.path());
  EXPECT_EQ(r.exit_code, 2);

  repo.store_runs();
  r = run_qretrain("--config configs/standin.yaml table --paper 3", repo.dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("leave out --config"));

  r = run_qretrain("table --paper 3 --compare adaptive,conventional", repo.dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--paper and --compare"));
}

TEST(CliPaper, ReportWritesMarkdownAndImages) {
  ASSERT_EQ(std::system("gnuplot --version >/dev/null 2>&1"), 0) << "gnuplot is missing: scripts/install-deps.sh installs gnuplot-nox";
  Repo repo;
  auto r = run_qretrain("report -o results/REPORT.md", repo.dir.path());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("report: nothing stored yet"));
  EXPECT_FALSE(fs::exists(repo.dir.path() / "results"));

  repo.store_runs();
  r = run_qretrain("report", repo.dir.path());  // default -o results/REPORT.md
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("wrote results/REPORT.md; figures (PNG + SVG) in results/report: 1"));
  std::ifstream f(repo.dir.path() / "results" / "REPORT.md");
  const std::string md((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_THAT(md, HasSubstr("| Table 3 | `configs/standin.yaml` | Fashion-MNIST (stand-in for SVHN) | 2 (partial grid: 2 of 10 runs) | 0123abcd | "
                            "cli-box |"));
  EXPECT_THAT(md, HasSubstr("![training curves of standin network L](report/curves-standin-L.png)"));
  EXPECT_THAT(md, Not(HasSubstr("Fig. 2")));  // no configs/paper/fig2.yaml here
  EXPECT_GT(fs::file_size(repo.dir.path() / "results" / "report" / "curves-standin-L.png"), 1000u);
  EXPECT_GT(fs::file_size(repo.dir.path() / "results" / "report" / "curves-standin-L.svg"), 1000u);
}

}  // namespace
}  // namespace qretrain
