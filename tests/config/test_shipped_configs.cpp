// Every config the repository ships (configs/*.yaml) and every paper file
// (configs/paper/*.yaml) loads and validates, found by listing the folders so
// that a new file is covered without touching this test. A config whose data
// is not on this machine (TIMIT, SVHN, enwik8) must fail on exactly its
// dataset.path and nothing else; everything else is then validated the way
// the program's own readers do it (`table --paper`, `report`: dataset.path
// pointed at the working folder, which nothing reads).
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include <gmock/gmock.h>

#include "app/commands.h"
#include "config/config.h"
#include "methods/cells.h"
#include "models/network.h"
#include "report/paper.h"
#include "methods/grid_util.h"
#include "test_util.h"
#include "util/error.h"

namespace qretrain {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using qretrain::testing::expected_cells;
using qretrain::testing::TempDir;

const fs::path kRepo = QRETRAIN_SOURCE_DIR;

// Relative paths in the configs (report.paper, reproduced_by) are relative
// to the repository root, where the program is run from.
class InRepository {
 public:
  InRepository() : previous_(fs::current_path()) { fs::current_path(kRepo); }
  ~InRepository() { fs::current_path(previous_); }

 private:
  fs::path previous_;
};

std::vector<fs::path> yaml_files(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Loads a shipped config; "" on success, else the error. `data_missing` is
// set when a command that reads its data would refuse it on dataset.path
// alone (the config itself loads without its data).
std::string load_shipped(const fs::path& file, config::ExperimentConfig* out, bool* data_missing) {
  *data_missing = false;
  try {
    *out = config::load(file.string());
  } catch (const UserError& e) {
    return e.what();
  }
  const std::string missing = testing::error_of([&] { app::require_dataset(*out); });
  static const std::regex shape(R"(^dataset\.path: \S+ does not exist(; .*)?$)");
  if (!missing.empty() && !std::regex_match(missing, shape)) return missing;
  *data_missing = !missing.empty();
  return "";
}

// What each dataset kind feeds a network (data::Dataset::input_shape and
// num_classes, as documented in README "Data"): written here, so that a
// config pairing a network with data it cannot take fails.
models::NetworkSpec spec_of(const config::ExperimentConfig& cfg) {
  const std::string& kind = cfg.dataset.kind;
  if (kind == "fashion-mnist") return {{1, 32, 32}, 10};
  if (kind == "svhn") return {{3, 32, 32}, 10};
  if (kind == "timit" || kind == "speech-standin") return {{(2 * cfg.dataset.context + 1) * 123}, 61};
  if (kind == "enwik8" || kind == "gcide") return {{1}, 256};
  ADD_FAILURE() << "no expected input shape for dataset kind " << kind << ": add it to this test";
  return {};
}

// Parameter counts given in README "Networks" for the fixed architectures;
// FFDNNs without batch norm are counted by hand: input x N + N, N x N + N
// per further hidden layer, N x 61 + 61.
std::int64_t expected_parameters(const config::ExperimentConfig& one, const models::NetworkSpec& spec) {
  const bool colour = spec.input_shape.size() == 3 && spec.input_shape[0] == 3;
  const auto& net = one.network;
  if (net.kind == "lenet5") return colour ? 62006 : 61706;
  if (net.kind == "cnn_c") return colour ? 85098 : 83498;
  if (net.kind == "cnn_v") return colour ? 423530 : 422954;
  if (net.kind == "lstm_lm" && net.hidden == std::vector<int>{64, 64, 64}) return 165632;
  if (net.kind == "lstm_lm" && net.hidden == std::vector<int>{128, 128, 128}) return 494848;
  if (net.kind == "lstm_lm" && net.hidden == std::vector<int>{256, 256, 256}) return 1644800;
  if (net.kind == "ffdnn" && !net.batch_norm) {
    std::int64_t n = 0, in = spec.input_shape[0];
    for (int w : net.hidden) n += in * w + w, in = w;
    return n + in * spec.num_classes + spec.num_classes;
  }
  return -1;  // not documented: only built
}

// Everything a config can be checked for without its data.
void check_config(const fs::path& file) {
  SCOPED_TRACE(file.filename().string());
  config::ExperimentConfig cfg;
  bool data_missing = false;
  const std::string error = load_shipped(file, &cfg, &data_missing);
  ASSERT_EQ(error, "");
  // The speech stand-in is built on first use: its configs never need the
  // fallback (a missing folder is not an error for them).
  if (cfg.dataset.kind == "speech-standin") {
    EXPECT_FALSE(data_missing);
  }
  if (!cfg.report_paper.empty()) {
    const report::PaperTable paper = report::load_paper_table(cfg.report_paper);
    EXPECT_FALSE(paper.values.empty()) << cfg.report_paper;
  }
  const methods::Grid grid = methods::expand_grid(cfg);
  EXPECT_EQ(grid.cells.size(), expected_cells(cfg));
  const models::NetworkSpec spec = spec_of(cfg);
  for (const auto& one : grid.variants) {
    SCOPED_TRACE(models::network_label(one.network));
    models::Network net;
    ASSERT_NO_THROW(net = models::make_network(one.network, spec));
    const std::int64_t expected = expected_parameters(one, spec);
    if (expected >= 0) {
      EXPECT_EQ(models::count_parameters(*net), expected);
    }
  }
}

TEST(ShippedConfigs, EveryConfigLoadsValidatesAndExpandsItsGrid) {
  InRepository at_root;
  const auto files = yaml_files(kRepo / "configs");
  ASSERT_GE(files.size(), 40u);  // 43 when this test was written
  std::map<std::string, std::string> names;  // experiment name -> file
  for (const auto& file : files) {
    check_config(file);
    config::ExperimentConfig cfg;
    bool data_missing = false;
    if (!load_shipped(file, &cfg, &data_missing).empty()) continue;
    // Two configs of one name would share log files and plots, and count each
    // other's runs in their table footers.
    const auto [at, fresh] = names.emplace(cfg.name, file.filename().string());
    EXPECT_TRUE(fresh) << file.filename() << " and " << at->second << " are both experiment '" << cfg.name << "'";
  }
}

// The checker is strict where it matters: a typo in a key fails it, also in
// a config whose data is missing (the fallback must not hide it), and a
// value out of range fails it too.
TEST(ShippedConfigs, ATypoInAShippedConfigFailsTheCheck) {
  InRepository at_root;
  TempDir dir;
  auto with = [&](const std::string& name, const std::string& from, const std::string& to) {
    std::ifstream in(kRepo / "configs" / name);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return dir.write(name, text);
  };
  config::ExperimentConfig cfg;
  bool data_missing = false;
  EXPECT_EQ(load_shipped(with("fmnist_L.yaml", "  max_epochs: 20", "  max_epoch: 20"), &cfg, &data_missing),
            "train.max_epoch: unknown key (did you mean 'train.max_epochs'?)");
  EXPECT_EQ(load_shipped(with("svhn_L.yaml", "  lr_min: 3.125e-4\n  max_epochs: 100", "  lr_mn: 3.125e-4\n  max_epochs: 100"),
                         &cfg, &data_missing),
            "train.lr_mn: unknown key (did you mean 'train.lr_min'?)");
  EXPECT_EQ(load_shipped(with("timit_64.yaml", "bits: [2, 3, 4]", "bits: [2, 3, 9]"), &cfg, &data_missing),
            "quant.bits[2]: 9 is outside 2..8");
  // And the unchanged copy passes, with its data missing or not.
  EXPECT_EQ(load_shipped(with("svhn_L.yaml", "name: svhn_L", "name: svhn_L"), &cfg, &data_missing), "");
  EXPECT_EQ(cfg.name, "svhn_L");
}

// The labels of a config's networks (table columns).
std::set<std::string> labels_of(const config::ExperimentConfig& cfg) {
  std::set<std::string> out;
  for (const auto& one : config::expand_networks(cfg)) out.insert(models::network_label(one.network));
  return out;
}

// configs/paper: each table file parses, lists configs that exist and load,
// and its numbers land in our tables: every paper column is a network some
// listed config runs, every listed config's networks are paper columns, and
// every paper row (bit width, method) is a cell of some listed config. The
// figure names a network and method each of its configs runs.
TEST(ShippedConfigs, PaperFilesLoadAndMatchTheConfigsThatReproduceThem) {
  InRepository at_root;
  const auto files = yaml_files(kRepo / "configs" / "paper");
  ASSERT_GE(files.size(), 5u);
  int tables = 0, figures = 0;
  for (const auto& file : files) {
    SCOPED_TRACE(file.filename().string());
    const std::string relative = "configs/paper/" + file.filename().string();
    const std::string stem = file.stem().string();
    std::vector<std::string> configs;
    if (stem.rfind("table", 0) == 0) {
      ++tables;
      const report::PaperTable t = report::load_paper_table(relative);
      EXPECT_FALSE(t.title.empty());
      EXPECT_FALSE(t.dataset.empty());
      ASSERT_FALSE(t.values.empty());
      ASSERT_FALSE(t.configs.empty());
      std::set<std::string> columns, ours;
      for (const auto& [row, cells] : t.values)
        for (const auto& [column, value] : cells) {
          columns.insert(column);
          EXPECT_GT(value, 0) << column;
        }
      std::set<std::pair<int, std::string>> cells;
      for (const auto& path : t.configs) {
        SCOPED_TRACE(path);
        config::ExperimentConfig cfg;
        bool data_missing = false;
        ASSERT_EQ(load_shipped(path, &cfg, &data_missing), "");
        const auto labels = labels_of(cfg);
        for (const auto& l : labels) EXPECT_TRUE(columns.count(l)) << "network " << l << " is not a paper column";
        ours.insert(labels.begin(), labels.end());
        for (const auto& c : methods::expand_grid(cfg).cells) cells.insert({c.bits, c.method});
      }
      EXPECT_EQ(ours, columns);
      for (const auto& [row, values] : t.values)
        EXPECT_TRUE(cells.count(row)) << row.second << " " << row.first << "-bit is run by none of its configs";
    } else if (stem.rfind("fig", 0) == 0) {
      ++figures;
      const report::PaperFigure f = report::load_paper_figure(relative);
      EXPECT_FALSE(f.title.empty());
      ASSERT_FALSE(f.configs.empty());
      for (const auto& path : f.configs) {
        SCOPED_TRACE(path);
        config::ExperimentConfig cfg;
        bool data_missing = false;
        ASSERT_EQ(load_shipped(path, &cfg, &data_missing), "");
        EXPECT_TRUE(labels_of(cfg).count(f.network)) << f.network;
        EXPECT_THAT(cfg.quant.methods, ::testing::Contains(f.method));
      }
    } else {
      ADD_FAILURE() << "neither a paper table (tableN.yaml) nor a figure (figN.yaml): no loader checks it";
    }
  }
  EXPECT_EQ(tables, 4);
  EXPECT_EQ(figures, 1);
}

}  // namespace
}  // namespace qretrain
