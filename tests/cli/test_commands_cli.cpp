// The reading commands of the qretrain program end to end, each checked
// against something it does not compute itself: `table --format tex` and
// `table -o`, `export --format csv` and `plot --network/--seed` against the
// runs read back from the results store (report::Store); `config --keys`
// against the schema and `config --dump`; `data inspect` against the fixture
// files' own bytes; `sample` against the period of the text it was trained on.
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <fmt/format.h>
#include <gmock/gmock.h>

#include "config/schema.h"
#include "report/store.h"
#include "test_util.h"

namespace qretrain {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using qretrain::testing::CommandResult;
using qretrain::testing::run_qretrain;
using qretrain::testing::TempDir;
using qretrain::testing::split;
using qretrain::testing::lines_of;
using qretrain::testing::slurp;

// One CSV record per line (no field of these files spans lines), with
// quoted fields ("a,b", doubled quotes) as RFC 4180 writes them.
std::vector<std::string> csv_fields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') out.back() += '"', ++i;
      else if (c == '"') quoted = false;
      else out.back() += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      out.emplace_back();
    } else {
      out.back() += c;
    }
  }
  return out;
}

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double sample_std(const std::vector<double>& v) {
  const double m = mean_of(v);
  double ss = 0;
  for (double x : v) ss += (x - m) * (x - m);
  return v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0.0;
}

// ---- One stored grid shared by the table, export and plot tests ----------
//
// Two small FFDNNs on the Fashion-MNIST fixture, two seeds, direct and
// adaptive at 2 and 3 bits: 2 x 2 x (1 + 2 + 2) = 20 runs, about 2 s. The
// learning rate is low and the training set small so that the errors are
// far from 0% (the fixture is easy) and differ between seeds: a table of
// "0.00 ± 0.00" would not tell a mean from a std. The name has an
// underscore so that LaTeX escaping shows.
const char* kGridConfig = R"(name: grid_tex
dataset:
  path: fm
  train_limit: 300
  dev_size: 300
  test_limit: 500
grid:
  networks: [ffdnn:32, ffdnn:16x16]
train:
  lr: 0.001
  max_epochs: 2
retrain:
  max_epochs: 2
quant:
  bits: [2, 3]
  methods: [direct, adaptive]
  adaptive:
    update: epoch
seeds: [1, 2]
output:
  dir: out
)";

class StoredGrid : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir;
    qretrain::testing::fashion_fixture(*dir_);
    dir_->write("g.yaml", kGridConfig);
    const CommandResult r = run_qretrain(
        "run --config g.yaml --set runtime.progress=off --set runtime.threads=1 --set runtime.blas_threads=1", dir_->path());
    ran_ = r.exit_code == 0;
    if (!ran_) std::cerr << "grid run failed: " << r.err << "\n";
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override { ASSERT_TRUE(ran_) << "the shared grid run failed"; }
  static const fs::path& dir() { return dir_->path(); }
  static std::vector<report::RunRecord> stored() {
    return report::Store((dir() / "out" / "results.sqlite").string()).runs("grid_tex");
  }

  static TempDir* dir_;
  static bool ran_;
};
TempDir* StoredGrid::dir_ = nullptr;
bool StoredGrid::ran_ = false;

// The LaTeX table: booktabs structure, one column per network, and every
// number equal to the mean (and sample standard deviation over the two
// seeds) of the stored test errors, the best method of each bit width and
// network in bold. A renderer that drops a row, swaps columns, prints the
// dev error or the population std, or marks the wrong cell fails here.
TEST_F(StoredGrid, TableTexIsABooktabsTableOfTheStoredTestErrors) {
  const auto runs = stored();
  ASSERT_EQ(runs.size(), 20u);
  auto tex = run_qretrain("table --config g.yaml --format tex", dir());
  ASSERT_EQ(tex.exit_code, 0) << tex.err;
  const auto lines = lines_of(tex.out);

  // Structure: environments opened and closed in order, rules in place,
  // braces balanced on every line, '%' and '_' escaped in the caption.
  std::vector<std::string> structure;
  for (const auto& l : lines)
    if (l.rfind("\\begin{", 0) == 0 || l.rfind("\\end{", 0) == 0 || l == "\\toprule" || l == "\\midrule" ||
        l == "\\bottomrule")
      structure.push_back(l);
  EXPECT_EQ(structure, (std::vector<std::string>{"\\begin{table}[t]", "\\begin{tabular}{llrr}", "\\toprule",
                                                 "\\midrule", "\\midrule", "\\midrule", "\\bottomrule",
                                                 "\\end{tabular}", "\\end{table}"}));
  for (const auto& l : lines) {
    if (l.rfind("%", 0) == 0) continue;  // comment lines
    int depth = 0;
    for (std::size_t i = 0; i < l.size(); ++i) {
      if (l[i] == '\\' && i + 1 < l.size() && (l[i + 1] == '{' || l[i + 1] == '}')) {
        ++i;
        continue;
      }
      depth += l[i] == '{' ? 1 : l[i] == '}' ? -1 : 0;
      EXPECT_GE(depth, 0) << l;
    }
    EXPECT_EQ(depth, 0) << l;
  }
  EXPECT_THAT(tex.out, HasSubstr("needs \\usepackage{booktabs}"));
  EXPECT_THAT(tex.out, HasSubstr("\\caption{Test error (\\%) of experiment grid\\_tex on Fashion-MNIST."));

  // The body: header, then rows of exactly 4 cells (2 label + 2 networks).
  std::vector<std::vector<std::string>> rows;
  for (const auto& l : lines)
    if (l.size() > 3 && l.compare(l.size() - 3, 3, " \\\\") == 0) {
      // Cells between '&' (none of these holds an escaped \&), spaces trimmed.
      std::vector<std::string> cells;
      for (auto cell : split(l.substr(0, l.size() - 3), "&")) {
        cell.erase(0, cell.find_first_not_of(' '));
        cell.erase(cell.find_last_not_of(' ') + 1);
        cells.push_back(cell);
      }
      rows.push_back(cells);
    }
  ASSERT_EQ(rows.size(), 6u) << tex.out;  // header, float, 2 x (direct, adaptive)
  EXPECT_EQ(rows[0], (std::vector<std::string>{"", "", "32", "16x16"}));

  // The expected cells, from the store: mean ± sample std over the seeds.
  const std::vector<std::string> networks = {"32", "16x16"};
  const std::vector<std::pair<int, std::string>> order = {
      {0, "float"}, {2, "direct"}, {2, "adaptive"}, {3, "direct"}, {3, "adaptive"}};
  std::map<std::pair<int, std::string>, std::map<std::string, std::vector<double>>> values;
  for (const auto& r : runs) values[{r.bits, r.method}][r.network].push_back(r.test_metric);
  const std::vector<std::string> titles = {"Floating result", "2-bit (3 points)", "", "3-bit (7 points)", ""};
  const std::vector<std::string> methods = {"", "Direct", "Adaptive", "Direct", "Adaptive"};
  for (std::size_t i = 0; i < order.size(); ++i) {
    SCOPED_TRACE(order[i].second + " " + std::to_string(order[i].first));
    const auto& row = rows[i + 1];
    ASSERT_EQ(row.size(), 4u);
    EXPECT_EQ(row[0], titles[i]);
    EXPECT_EQ(row[1], methods[i]);
    for (std::size_t c = 0; c < networks.size(); ++c) {
      const auto& v = values[order[i]][networks[c]];
      ASSERT_EQ(v.size(), 2u);  // two seeds
      std::string cell = fmt::format("{:.2f} $\\pm$ {:.2f}", mean_of(v), sample_std(v));
      if (order[i].first > 0) {
        const std::string other = order[i].second == "direct" ? "adaptive" : "direct";
        if (mean_of(v) <= mean_of(values[{order[i].first, other}][networks[c]])) cell = "\\textbf{" + cell + "}";
      }
      EXPECT_EQ(row[2 + c], cell);
    }
  }
}

// `table -o FILE` writes exactly what the command prints, for each format,
// replacing a longer file whole (no tail of the old content), with no
// temporary file left beside it.
TEST_F(StoredGrid, TableToFileEqualsStandardOutputAndReplacesTheFileWhole) {
  for (const std::string format : {"md", "tex", "csv"}) {
    SCOPED_TRACE(format);
    const auto printed = run_qretrain("table --config g.yaml --format " + format, dir());
    ASSERT_EQ(printed.exit_code, 0) << printed.err;
    ASSERT_GT(printed.out.size(), 100u);
    const std::string file = "t." + format;
    dir_->write(file, std::string(200000, 'x'));  // an older, longer file
    std::set<std::string> before;
    for (const auto& e : fs::directory_iterator(dir())) before.insert(e.path().filename().string());
    const auto written = run_qretrain("table --config g.yaml --format " + format + " -o " + file, dir());
    ASSERT_EQ(written.exit_code, 0) << written.err;
    EXPECT_EQ(written.out, "");
    const std::string text = slurp(dir() / file);
    EXPECT_EQ(text.size(), printed.out.size());
    EXPECT_TRUE(text == printed.out) << text.substr(0, 300);
    std::set<std::string> after;
    for (const auto& e : fs::directory_iterator(dir())) after.insert(e.path().filename().string());
    EXPECT_EQ(after, before);
  }
  // The Markdown form holds the stored means: the float row of network 32.
  std::vector<double> float32;
  for (const auto& r : stored())
    if (r.method == "float" && r.network == "32") float32.push_back(r.test_metric);
  ASSERT_EQ(float32.size(), 2u);
  EXPECT_THAT(slurp(dir() / "t.md"),
              HasSubstr(fmt::format("| Floating result |  | {:.2f} ± {:.2f} |", mean_of(float32), sample_std(float32))));
}

// A --compare says which runs it paired, as a table's footer does; a config
// with a seed not run yet gives a partial table that says so.
TEST_F(StoredGrid, CompareNamesItsRunsAndAPartialGridSaysSo) {
  const auto compared = run_qretrain("table --config g.yaml --compare adaptive,direct", dir());
  ASSERT_EQ(compared.exit_code, 0) << compared.err;
  EXPECT_THAT(compared.out, HasSubstr("Compared by `qretrain table --config g.yaml --compare adaptive,direct`. The "
                                      "runs of adaptive and direct:\nProduced by `qretrain run/sweep --config g.yaml` "
                                      "at commit "));
  // 2 networks x 2 seeds x 2 bit widths x the 2 methods; not the float runs.
  EXPECT_THAT(compared.out, HasSubstr("; 16 runs, "));
  EXPECT_THAT(compared.out, Not(HasSubstr("Partial grid")));
  // The float runs left out are this configuration's own, not other settings.
  EXPECT_THAT(compared.out, Not(HasSubstr("other settings")));
  EXPECT_THAT(compared.out, HasSubstr("\nTraining: of the retraining runs, "));

  const auto partial = run_qretrain("table --config g.yaml --set seeds=[1,2,3]", dir());
  ASSERT_EQ(partial.exit_code, 0) << partial.err;
  EXPECT_THAT(partial.out, HasSubstr("**Partial grid: 20 of the configuration's 30 runs (network × method × bit "
                                     "width × seed) have a result"));
  EXPECT_THAT(partial.out, HasSubstr("`qretrain run/sweep --config g.yaml --set seeds=[1,2,3]`"));
  EXPECT_THAT(partial.out, HasSubstr(" (2 seeds) |"));
  const auto partial_pair =
      run_qretrain("table --config g.yaml --set seeds=[1,2,3] --compare adaptive,direct", dir());
  ASSERT_EQ(partial_pair.exit_code, 0) << partial_pair.err;
  EXPECT_THAT(partial_pair.out, HasSubstr("Compared by `qretrain table --config g.yaml --set seeds=[1,2,3] --compare "
                                          "adaptive,direct`."));
  EXPECT_THAT(partial_pair.out, HasSubstr("**Partial grid: 16 of the configuration's 24 runs"));
}

// `export --format csv`: one row per evaluation point of every run of the
// config (one row with empty evaluation fields for a run without a curve),
// each value equal to the store's, parsed back exactly (the export writes the
// shortest text that reads back to the same double).
TEST_F(StoredGrid, ExportCsvHasOneRowPerEvaluationPointWithTheStoredValues) {
  auto r = run_qretrain("export --config g.yaml --format csv", dir());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_FALSE(lines.empty());
  const auto header = csv_fields(lines[0]);
  std::map<std::string, std::size_t> col;
  for (std::size_t i = 0; i < header.size(); ++i) col[header[i]] = i;
  for (const char* name : {"cell_key", "method", "bits", "seed", "network", "test_metric", "eval_index", "eval_epoch",
                           "eval_updates", "eval_lr", "eval_dev_metric", "eval_deltas"})
    ASSERT_TRUE(col.count(name)) << name;

  std::map<std::string, std::vector<std::vector<std::string>>> by_key;
  for (std::size_t i = 1; i < lines.size(); ++i) {
    auto f = csv_fields(lines[i]);
    ASSERT_EQ(f.size(), header.size()) << lines[i];
    by_key[f[col["cell_key"]]].push_back(f);
  }
  report::Store store((dir() / "out" / "results.sqlite").string());
  const auto runs = store.runs("grid_tex");
  ASSERT_EQ(by_key.size(), runs.size());
  std::size_t expected_rows = 0, points = 0;
  for (const auto& run : runs) {
    SCOPED_TRACE(run.network + " " + run.method + " " + std::to_string(run.bits) + " seed " + std::to_string(run.seed));
    const auto full = *store.run_with_curve(run.cell_key);
    const auto& rows = by_key[run.cell_key];
    expected_rows += std::max<std::size_t>(1, full.curve.size());
    if (run.method == "adaptive" || run.method == "float") {
      EXPECT_EQ(full.curve.size(), 3u);  // initial + 2 epochs
    }
    ASSERT_EQ(rows.size(), std::max<std::size_t>(1, full.curve.size()));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const auto& f = rows[i];
      EXPECT_EQ(f[col["method"]], full.method);
      EXPECT_EQ(f[col["network"]], full.network);
      EXPECT_EQ(std::stoi(f[col["bits"]]), full.bits);
      EXPECT_EQ(std::stoi(f[col["seed"]]), full.seed);
      EXPECT_EQ(std::stod(f[col["test_metric"]]), full.test_metric);
      if (full.curve.empty()) {
        EXPECT_EQ(f[col["eval_index"]], "");
        EXPECT_EQ(f[col["eval_dev_metric"]], "");
        continue;
      }
      const auto& p = full.curve[i];
      ++points;
      EXPECT_EQ(std::stoul(f[col["eval_index"]]), i);
      EXPECT_EQ(std::stoi(f[col["eval_epoch"]]), p.epoch);
      EXPECT_EQ(std::stoll(f[col["eval_updates"]]), p.updates);
      EXPECT_EQ(std::stod(f[col["eval_lr"]]), p.lr);
      EXPECT_EQ(std::stod(f[col["eval_dev_metric"]]), p.dev_metric);
      std::vector<double> deltas;
      if (!f[col["eval_deltas"]].empty())
        for (const auto& d : split(f[col["eval_deltas"]], ";")) deltas.push_back(std::stod(d));
      EXPECT_EQ(deltas, p.deltas);
      // Δ per weight tensor: ffdnn:32 has 2 Linear layers, ffdnn:16x16 3; float none.
      const std::size_t groups = full.method == "float" ? 0 : full.network == "32" ? 2 : 3;
      EXPECT_EQ(deltas.size(), groups);
    }
  }
  EXPECT_EQ(lines.size() - 1, expected_rows);
  // 4 float + 8 adaptive runs of 3 points; 8 direct runs of 1 (initial) or none.
  EXPECT_GE(points, 36u);
}

// `plot --network N --seed S`: the CSV written beside the figure holds
// exactly the Δ of every weight group at every evaluation of network N's
// adaptive runs with seed S (one block per bit width), as stored; the other
// network's or seed's Δ differ, so picking the wrong runs fails.
TEST_F(StoredGrid, PlotPicksTheNetworkAndSeedAndWritesTheirSteps) {
  ASSERT_EQ(std::system("gnuplot --version >/dev/null 2>&1"), 0) << "gnuplot is missing: scripts/install-deps.sh installs gnuplot-nox";
  report::Store store((dir() / "out" / "results.sqlite").string());
  auto expected_rows = [&](const std::string& network, int seed) {
    std::vector<std::tuple<int, int, std::string, double>> rows;
    for (int bits : {2, 3})
      for (const auto& run : store.runs("grid_tex")) {
        if (run.method != "adaptive" || run.network != network || run.seed != seed || run.bits != bits) continue;
        const auto full = *store.run_with_curve(run.cell_key);
        for (const auto& p : full.curve)
          for (std::size_t g = 0; g < full.group_names.size(); ++g)
            rows.emplace_back(bits, p.epoch, full.group_names[g], p.deltas.at(g));
      }
    return rows;
  };
  // Both seeds of one network, and another network: whichever runs a broken
  // selection would take (the first or last stored, the other network), one
  // of these picks differs from it.
  for (const auto& [network, seed, groups] :
       {std::tuple<std::string, int, std::size_t>{"16x16", 2, 3}, {"16x16", 1, 3}, {"32", 1, 2}}) {
    SCOPED_TRACE(network + " seed " + std::to_string(seed));
    const std::string base = fmt::format("fig/{}-{}", network, seed);
    auto r = run_qretrain(fmt::format("plot --config g.yaml --network {} --seed {} -o {}", network, seed, base), dir());
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, fmt::format("wrote {0}.png, {0}.svg and {0}.csv (2 bit widths)\n", base));
    EXPECT_THAT(slurp(dir() / (base + ".png")), StartsWith("\x89PNG"));
    EXPECT_THAT(slurp(dir() / (base + ".svg")), HasSubstr("<svg"));
    const auto expected = expected_rows(network, seed);
    ASSERT_EQ(expected.size(), 2u * 3u * groups);  // 2 bit widths x 3 evaluations x weight groups
    const auto lines = lines_of(slurp(dir() / (base + ".csv")));
    ASSERT_EQ(lines.size(), expected.size() + 1);
    EXPECT_EQ(lines[0], "bits,epoch,group,delta,seed,update");
    for (std::size_t i = 0; i < expected.size(); ++i) {
      SCOPED_TRACE(lines[i + 1]);
      const auto f = csv_fields(lines[i + 1]);
      ASSERT_EQ(f.size(), 6u);
      EXPECT_EQ(std::stoi(f[4]), seed);
      EXPECT_EQ(std::stoi(f[0]), std::get<0>(expected[i]));
      EXPECT_EQ(std::stoi(f[1]), std::get<1>(expected[i]));
      EXPECT_EQ(f[2], std::get<2>(expected[i]));
      EXPECT_NEAR(std::stod(f[3]), std::get<3>(expected[i]), 1e-8 * std::get<3>(expected[i]));  // 9 digits
    }
  }
  // The selection matters: the two seeds' steps differ.
  EXPECT_NE(std::get<3>(expected_rows("16x16", 1)[0]), std::get<3>(expected_rows("16x16", 2)[0]));

  // A grid needs --network, and the message says so.
  auto missing = run_qretrain("plot --config g.yaml -o fig/e", dir());
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_THAT(missing.err, HasSubstr("--network: required when the config has several networks"));
  EXPECT_FALSE(fs::exists(dir() / "fig" / "e.png"));
}

// ---- config --keys ---------------------------------------------------------

// The keys of `config --dump` (an indented YAML tree with '#' help
// comments) as dotted paths.
std::vector<std::string> dumped_keys(const std::string& dump) {
  std::vector<std::string> out, stack;
  for (const auto& line : lines_of(dump)) {
    const std::size_t indent = line.find_first_not_of(' ');
    if (indent == std::string::npos) continue;
    const std::size_t colon = line.find(':', indent);
    if (colon == std::string::npos) continue;
    stack.resize(indent / 2);
    stack.push_back(line.substr(indent, colon - indent));
    const bool section = colon + 1 == line.size();
    if (!section) {
      std::string path;
      for (const auto& part : stack) path += (path.empty() ? "" : ".") + part;
      out.push_back(path);
    }
  }
  return out;
}

// Every key the schema declares is listed once, in the schema's order, and
// the same keys are those `config --dump` resolves; the README's reference
// table is this output (it says so).
TEST(CommandsCli, ConfigKeysListsEverySchemaKey) {
  TempDir dir;
  auto keys = run_qretrain("config --keys", dir.path());
  ASSERT_EQ(keys.exit_code, 0) << keys.err;
  std::vector<std::string> listed;
  for (const auto& line : lines_of(keys.out)) {
    if (line.rfind("| `", 0) != 0) continue;
    const auto end = line.find('`', 3);
    listed.push_back(line.substr(3, end - 3));
  }
  std::vector<std::string> schema;
  for (const auto& f : config::schema()) schema.push_back(f.path);
  EXPECT_GE(schema.size(), 40u);
  EXPECT_EQ(listed, schema);

  dir.write("c.yaml", "name: keys\n");
  auto dump = run_qretrain("config --dump --config c.yaml", dir.path());
  ASSERT_EQ(dump.exit_code, 0) << dump.err;
  auto dumped = dumped_keys(dump.out);
  std::sort(dumped.begin(), dumped.end());
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(dumped, listed);

  // Each row gives the key's type and its default as the dump resolves it.
  EXPECT_THAT(keys.out, HasSubstr("| `train.lr` | a number | `0.02` | initial learning rate of float training |"));
  EXPECT_THAT(keys.out, HasSubstr("| `quant.bits` | a list of integers | `[2, 3, 4]` |"));
  EXPECT_THAT(dump.out, HasSubstr("  bits: [2, 3, 4]  # "));

  // README "Config reference": from the table's header to the blank line after it.
  const std::string readme = slurp(fs::path(QRETRAIN_SOURCE_DIR) / "README.md");
  const auto from = readme.find("\n| key | type | default | meaning |\n");
  ASSERT_NE(from, std::string::npos);
  const auto to = readme.find("\n\n", from + 1);
  EXPECT_EQ(readme.substr(from + 1, to - from), keys.out) << "README.md's key reference differs from `config --keys`";
}

// ---- data inspect ----------------------------------------------------------

// The bytes of a gzip file.
std::string gunzip(const fs::path& path) {
  gzFile f = gzopen(path.c_str(), "rb");
  std::string out;
  char buf[65536];
  for (int n; f && (n = gzread(f, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  if (f) gzclose(f);
  return out;
}

// Per-class counts of labels [from, to) of an idx1 label file's bytes.
std::string class_counts(const std::string& labels, std::size_t from, std::size_t to) {
  std::vector<int> counts(10, 0);
  for (std::size_t i = from; i < to; ++i) ++counts[static_cast<unsigned char>(labels[8 + i])];
  return fmt::format("{}", fmt::join(counts, " "));
}

// Mean and sample std of images [from, to) of an idx3 file, padded with
// zeros to 32x32 as the loader pads them, pixels scaled to [0, 1].
std::pair<double, double> padded_stats(const std::string& images, std::size_t from, std::size_t to) {
  double sum = 0, sq = 0;
  for (std::size_t i = 16 + from * 784; i < 16 + to * 784; ++i) {
    const double v = static_cast<unsigned char>(images[i]) / 255.0;
    sum += v, sq += v * v;
  }
  const double n = static_cast<double>(to - from) * 1024;
  const double mean = sum / n;
  return {mean, std::sqrt((sq - n * mean * mean) / (n - 1))};
}

// The numbers of one `| split | ...` row.
std::vector<std::string> table_row(const std::string& out, const std::string& name) {
  for (const auto& line : lines_of(out))
    if (line.rfind("| " + name + " |", 0) == 0) return split(line.substr(2, line.size() - 4), " | ");
  ADD_FAILURE() << "no row for " << name << " in\n" << out;
  return {};
}

// Images: the counts of each split are those the limits take from the
// fixture (train = the first train_limit images, dev = the next dev_size,
// test = the first test_limit test images), the class histograms are those
// of the fixture's label files over the same ranges, and the pixel
// statistics are those of the padded images normalised with the training
// split's mean and std, all computed here from the files' bytes.
TEST(CommandsCli, DataInspectCountsImagesAsTheFixtureHoldsThem) {
  TempDir dir;
  qretrain::testing::fashion_fixture(dir);
  dir.write("c.yaml", "dataset:\n  path: fm\n  train_limit: 1500\n  dev_size: 300\n  test_limit: 500\n");
  auto r = run_qretrain("data inspect --config c.yaml", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("dataset: Fashion-MNIST (kind fashion-mnist, path fm)\n"
                                "example shape: [1, 32, 32], classes: 10, metric: error rate\n"));
  const std::string train_labels = gunzip(dir.path() / "fm" / "train-labels-idx1-ubyte.gz");
  const std::string test_labels = gunzip(dir.path() / "fm" / "t10k-labels-idx1-ubyte.gz");
  const std::string train_images = gunzip(dir.path() / "fm" / "train-images-idx3-ubyte.gz");
  const std::string test_images = gunzip(dir.path() / "fm" / "t10k-images-idx3-ubyte.gz");
  ASSERT_EQ(train_labels.size(), 8u + 7000u);  // the fixture's 7000 training images
  ASSERT_EQ(test_labels.size(), 8u + 1000u);   // and 1000 test images
  const auto [mean, stdev] = padded_stats(train_images, 0, 1500);
  struct Expected {
    const char* split;
    const std::string* images;
    const std::string* labels;
    std::size_t from, to;
  };
  for (const Expected& e : {Expected{"train", &train_images, &train_labels, 0, 1500},
                            Expected{"dev", &train_images, &train_labels, 1500, 1800},
                            Expected{"test", &test_images, &test_labels, 0, 500}}) {
    SCOPED_TRACE(e.split);
    const auto row = table_row(r.out, e.split);
    ASSERT_EQ(row.size(), 7u);
    EXPECT_EQ(row[1], std::to_string(e.to - e.from));
    EXPECT_EQ(row[6], class_counts(*e.labels, e.from, e.to));
    const auto [m, s] = padded_stats(*e.images, e.from, e.to);
    EXPECT_NEAR(std::stod(row[2]), (m - mean) / stdev, 1.5e-4);
    EXPECT_NEAR(std::stod(row[3]), s / stdev, 1.5e-4);
    EXPECT_NEAR(std::stod(row[4]), -mean / stdev, 1.5e-3);  // the zero padding
  }
  // Without limits: the fixture's whole 7000 - dev_size and 1000.
  dir.write("all.yaml", "dataset:\n  path: fm\n  dev_size: 1000\n");
  auto all = run_qretrain("data inspect --config all.yaml", dir.path());
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(table_row(all.out, "train").at(1), "6000");
  EXPECT_EQ(table_row(all.out, "dev").at(1), "1000");
  EXPECT_EQ(table_row(all.out, "test").at(1), "1000");
  EXPECT_EQ(table_row(all.out, "test").at(6), class_counts(test_labels, 0, 1000));
}

// Text: bytes per split (floor 90% / floor 5% / the rest), distinct byte
// values and the unigram entropy, hand-worked for a file whose three splits
// hold different alphabets; the limits cut each split to its first bytes.
TEST(CommandsCli, DataInspectCountsTextSplits) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 450; ++i) text += "abcd";  // 1800 bytes: 4 symbols, 2 bits
  text += std::string(100, 'a');                  // dev: 1 symbol, 0 bits
  for (int i = 0; i < 50; ++i) text += "xy";     // test: 2 symbols, 1 bit
  text += "z";                                    // 2001 bytes: the rest goes to test
  dir.write("corpus", text);
  dir.write("t.yaml", "dataset:\n  kind: enwik8\n  path: corpus\nnetwork:\n  kind: lstm_lm\n");
  auto r = run_qretrain("data inspect --config t.yaml", dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, StartsWith("dataset: enwik8 (corpus) (kind enwik8, path corpus)\n"
                                "example shape: [1], classes: 256, metric: bits per character\n"));
  // floor(2001 * 0.9) = 1800, floor(2001 / 20) = 100, test = 101 bytes.
  EXPECT_THAT(r.out, HasSubstr("| train | 1800 | 4 | 2.000 |\n"));
  EXPECT_THAT(r.out, HasSubstr("| dev | 100 | 1 | 0.000 |\n"));
  // 50 x, 50 y, 1 z of 101: -(2 (50/101) log2(50/101) + (1/101) log2(1/101)).
  const double h = -(2 * (50.0 / 101) * std::log2(50.0 / 101) + (1.0 / 101) * std::log2(1.0 / 101));
  EXPECT_THAT(r.out, HasSubstr(fmt::format("| test | 101 | 3 | {:.3f} |\n", h)));

  auto limited = run_qretrain(
      "data inspect --config t.yaml --set dataset.train_limit=3 --set dataset.dev_limit=7 --set dataset.test_limit=2",
      dir.path());
  ASSERT_EQ(limited.exit_code, 0) << limited.err;
  EXPECT_THAT(limited.out, HasSubstr(fmt::format("| train | 3 | 3 | {:.3f} |\n", std::log2(3.0))));  // "abc"
  EXPECT_THAT(limited.out, HasSubstr("| dev | 7 | 1 | 0.000 |\n"));
  EXPECT_THAT(limited.out, HasSubstr("| test | 2 | 2 | 1.000 |\n"));  // "xy"
}

// ---- sample ----------------------------------------------------------------

// A language model trained on a text of period 10 ("0123456789" repeated):
// at a low temperature the float network continues the period; the same
// --sample-seed gives the same text and another seed another one (at a
// temperature where the choice is not forced).
TEST(CommandsCli, SampleIsSeededAndFollowsTheTrainedPeriod) {
  TempDir dir;
  std::string text;
  while (text.size() < 30000) text += "0123456789";
  dir.write("enwik8", text);
  dir.write("lm.yaml", R"(name: period
dataset:
  kind: enwik8
  path: enwik8
network:
  kind: lstm_lm
  hidden: [32]
train:
  optimizer: rmsprop
  streams: 4
  bptt_steps: 16
  bptt_unroll: 32
  epoch_chars: 4096
  lr: 1e-2
  lr_min: 1e-5
  max_epochs: 3
quant:
  bits: [2]
  methods: [direct]
output:
  dir: out
)");
  auto run = run_qretrain(
      "run --config lm.yaml --set runtime.progress=off --set runtime.threads=1 --set runtime.blas_threads=1", dir.path());
  ASSERT_EQ(run.exit_code, 0) << run.err;

  auto cold = run_qretrain("sample --config lm.yaml -n 200 --prime 0123 -t 0.1 --sample-seed 1", dir.path());
  ASSERT_EQ(cold.exit_code, 0) << cold.err;
  ASSERT_EQ(cold.out.size(), 4u + 200u + 1u);
  EXPECT_THAT(cold.out, StartsWith("0123"));
  // The fraction of generated characters that continue the period; a
  // network that learnt nothing (or a sampler that ignores it) gets ~1/256
  // to 1/10 of them right.
  int follows = 0;
  for (std::size_t i = 4; i < 204; ++i) follows += cold.out[i] == '0' + (cold.out[i - 1] - '0' + 1) % 10;
  EXPECT_GE(follows, 190) << cold.out;

  const std::string warm = "sample --config lm.yaml -n 300 --prime 0123 -t 2";
  auto a = run_qretrain(warm + " --sample-seed 7", dir.path());
  auto b = run_qretrain(warm + " --sample-seed 7", dir.path());
  auto c = run_qretrain(warm + " --sample-seed 8", dir.path());
  ASSERT_EQ(a.exit_code, 0) << a.err;
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(a.out.size(), 4u + 300u + 1u);
  EXPECT_EQ(a.out, b.out);
  EXPECT_NE(a.out, c.out);
  // The default seed is a fixed one too: two runs without --sample-seed agree.
  EXPECT_EQ(run_qretrain(warm, dir.path()).out, run_qretrain(warm, dir.path()).out);
}

}  // namespace
}  // namespace qretrain
