#include "app/commands.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <optional>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "app/runtime.h"
#include "config/config.h"
#include "data/dataset.h"
#include "data/kinds.h"
#include "data/text.h"
#include "data/timit.h"
#include "methods/methods.h"
#include "methods/session.h"
#include "models/network.h"
#include "quant/qstep.h"
#include "report/compare.h"
#include "report/export.h"
#include "report/paper.h"
#include "report/paper_report.h"
#include "report/plot.h"
#include "report/store.h"
#include "report/table.h"
#include "sweep/cell_files.h"
#include "train/trainer.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

namespace qretrain::app {

std::string results_store_file(const std::string& output_dir) {
  return (std::filesystem::path(output_dir) / "results.sqlite").string();
}

std::string store_path(const config::ExperimentConfig& cfg) { return results_store_file(cfg.output_dir); }

void merge_archive(const config::ExperimentConfig& cfg) {
  if (cfg.output_archive.empty() || !std::filesystem::is_directory(cfg.output_archive)) return;
  try {
    std::filesystem::create_directories(cfg.output_dir);
    report::Store store(store_path(cfg));
    const auto kept = sweep::collect_archive(store, cfg.output_archive);
    if (kept.merged > 0)
      log::get("report")->info("archive {}: {} result files, {} runs merged into {}", cfg.output_archive, kept.files,
                               kept.merged, store_path(cfg));
    for (const auto& bad : kept.unreadable) log::get("report")->warn("archive: {}", bad);
  } catch (const std::exception& e) {
    log::get("report")->warn("archive {} not merged into {}: {}", cfg.output_archive, store_path(cfg), e.what());
  }
}

std::string existing_store_path(const config::ExperimentConfig& cfg, const CommonOptions& common) {
  merge_archive(cfg);
  const std::string path = store_path(cfg);
  if (!std::filesystem::exists(path))
    throw UserError(fmt::format("{}: no results store yet; run `qretrain run --config {}` first", path,
                                common.config_path));
  return path;
}

std::vector<std::string> config_cell_keys(const config::ExperimentConfig& cfg) {
  std::vector<std::string> keys;
  for (const auto& cell : methods::expand_grid(cfg).cells) keys.push_back(cell.key);
  return keys;
}

std::vector<std::string> config_networks(const config::ExperimentConfig& cfg) {
  std::vector<std::string> labels;
  for (const auto& cell : methods::expand_grid(cfg).cells)
    if (std::find(labels.begin(), labels.end(), cell.network) == labels.end()) labels.push_back(cell.network);
  return labels;
}

report::Selection stored_runs(const report::Store& store, const config::ExperimentConfig& cfg,
                              const CommonOptions& common) {
  report::Selection selected = store.select(cfg.name, config_cell_keys(cfg));
  if (selected.runs.empty()) {
    const std::string note = report::left_out_note(selected.other_settings, selected.older_scheme);
    throw UserError(fmt::format("{}: no runs of this configuration of experiment '{}' yet{}; run `qretrain run "
                                "--config {}` first",
                                store.path(), cfg.name, note.empty() ? "" : " (" + note + ")", common.config_path));
  }
  return selected;
}


// Standard output, or the file written whole (temporary file + rename).
void write_output(const std::string& text, const std::string& output) {
  if (output.empty()) std::cout << text;
  else atomic_write_text(output, text);
}

void require_writable_output_file(const std::string& output) {
  if (!output.empty()) require_writable_file(output, "-o");
}

std::string experiment_log_file(const config::ExperimentConfig& cfg) {
  return (std::filesystem::path(cfg.output_dir) / "logs" / (cfg.name + ".log")).string();
}

void require_writable_store(const config::ExperimentConfig& cfg) {
  require_writable_dir(cfg.output_dir, "output.dir");
  require_writable_file(results_store_file(cfg.output_dir), "output.dir");
}

void require_writable_output_dir(const config::ExperimentConfig& cfg) {
  require_writable_store(cfg);
  require_writable_dir(std::filesystem::path(cfg.output_dir) / "logs", "output.dir");
  // The experiment's name becomes a file name: one of a few hundred
  // characters does not fit the file system.
  require_writable_file(experiment_log_file(cfg), "name");
}

std::string weight_setting(const config::ExperimentConfig& cfg) {
  std::vector<std::string> parts;
  if (cfg.quant.granularity == "channel") parts.push_back("one Δ per output channel for every method");
  if (!cfg.quant.layer_bits.empty()) {
    std::vector<std::string> groups;
    for (const auto& [name, bits] : cfg.quant.layer_bits) groups.push_back(fmt::format("{} {}-bit", name, bits));
    parts.push_back(fmt::format("{} (quant.layer_bits), the other layers at the row's bit width",
                                fmt::join(groups, ", ")));
  }
  return fmt::format("{}", fmt::join(parts, "; "));
}

std::string result_overrides(const CommonOptions& common) {
  std::string out;
  for (const auto& o : common.overrides)
    if (o.rfind("runtime.", 0) != 0) out += " --set " + o;  // runtime settings do not change results
  return out;
}

report::Table config_table(const CommonOptions& common, const config::ExperimentConfig& cfg,
                           const report::Store& store, const std::vector<std::string>& only_methods) {
  std::vector<std::string> cells;
  int shown_cells = 0;
  for (const auto& cell : methods::expand_grid(cfg).cells) {
    cells.push_back(cell.key);
    if (only_methods.empty() ||
        std::find(only_methods.begin(), only_methods.end(), cell.method) != only_methods.end())
      ++shown_cells;
  }
  report::Table table = report::build_table(cfg.name, store.select(cfg.name, cells, only_methods));
  table.grid_cells = shown_cells;
  table.seeds = static_cast<int>(cfg.seeds.size());
  report::order_columns(table, config_networks(cfg));
  table.command = "qretrain run/sweep --config " + cfg.source + result_overrides(common);
  table.metric = data::metric_of_kind(cfg.dataset.kind);
  table.weights = weight_setting(cfg);
  return table;
}

std::string render_table(const CommonOptions& common, const config::ExperimentConfig& cfg,
                         const report::Store& store, const std::string& format) {
  const report::Table table = config_table(common, cfg, store);
  std::optional<report::PaperTable> paper;
  if (!cfg.report_paper.empty()) paper = report::load_paper_table(cfg.report_paper);
  const report::PaperTable* p = paper ? &*paper : nullptr;
  if (format == "csv") return report::render_csv(table, p);
  if (format == "tex") return report::render_latex(table, p);
  return report::render_markdown(table, p);
}

void require_dataset(const config::ExperimentConfig& cfg) {
  const data::DatasetKind& kind = data::dataset_kind(cfg.dataset.kind);
  if (!kind.built_on_first_use && !std::filesystem::exists(cfg.dataset.path))
    throw UserError(fmt::format("dataset.path: {} does not exist{}", cfg.dataset.path,
                                kind.source.empty() ? "" : "; " + kind.source));
}

void require_paper_file(const config::ExperimentConfig& cfg) {
  if (!cfg.report_paper.empty() && !std::filesystem::is_regular_file(cfg.report_paper))
    throw UserError(fmt::format("report.paper: {} is not a readable file", cfg.report_paper));
}

bool uses_convolutions(const config::ExperimentConfig& cfg) {
  for (const auto& one : config::expand_networks(cfg))
    if (!models::is_convolutional(one.network.kind)) return false;
  return true;
}

config::ExperimentConfig load_config(const CommonOptions& common, bool required) {
  if (required && common.config_path.empty()) throw UserError("--config: required (e.g. --config configs/fmnist_L.yaml)");
  config::ExperimentConfig cfg = config::load(common.config_path, common.overrides);
  // quant.layer_bits names weight groups, which only a built network knows.
  for (const auto& one : config::expand_networks(cfg)) methods::check_layer_bits(one);
  return cfg;
}


void check_before_writing(const config::ExperimentConfig& cfg, const data::Dataset& data) {
  // The table printed at the end reads report.paper: a malformed one would
  // otherwise be found after the whole training.
  if (!cfg.report_paper.empty()) {
    try {
      report::load_paper_table(cfg.report_paper);
    } catch (const UserError& e) {
      throw UserError(std::string("report.paper: ") + e.what());
    }
  }
  data::text::check_fits_training(data, cfg);
}

const char* const kPaperDir = "configs/paper";

namespace {

std::string paper_table_file(int number) { return fmt::format("{}/table{}.yaml", kPaperDir, number); }

}  // namespace

std::vector<int> known_paper_tables() {
  std::vector<int> out;
  std::error_code ec;
  if (!std::filesystem::is_directory(kPaperDir, ec)) return out;
  for (const auto& entry : std::filesystem::directory_iterator(kPaperDir)) {
    const std::string name = entry.path().filename().string();
    int n = 0;
    char tail[8] = {0};
    if (std::sscanf(name.c_str(), "table%d.%7s", &n, tail) == 2 && std::string(tail) == "yaml" &&
        name == fmt::format("table{}.yaml", n))
      out.push_back(n);
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<report::SourceRuns> read_sources(const std::vector<std::string>& configs, const CommonOptions& common) {
  std::vector<report::SourceRuns> out;
  for (const auto& path : configs) {
    CommonOptions one = common;
    one.config_path = path;
    // Reading results needs the experiment's name and store, not its data:
    // a config whose corpus is not on this machine (TIMIT, SVHN, enwik8)
    // still names its runs.
    const config::ExperimentConfig cfg = load_config(one, true);
    report::Source s;
    s.config_path = path;
    s.experiment = cfg.name;
    merge_archive(cfg);
    s.store_path = store_path(cfg);
    s.metric = data::metric_of_kind(cfg.dataset.kind);
    s.stand_in = !data::dataset_kind(cfg.dataset.kind).is_paper_corpus();
    s.first_seed = cfg.seeds.empty() ? 1 : cfg.seeds.front();
    s.cell_keys = config_cell_keys(cfg);
    s.networks = config_networks(cfg);
    s.seeds = static_cast<int>(cfg.seeds.size());
    out.push_back(report::read_source(s));
  }
  return out;
}

report::ReportInput::TableEntry paper_table_entry(int number, const CommonOptions& common) {
  const auto known = known_paper_tables();
  if (std::find(known.begin(), known.end(), number) == known.end())
    throw UserError(fmt::format("--paper: no paper table {} ({} not found; known: {}; run from the repository root)",
                                number, paper_table_file(number),
                                known.empty() ? std::string("none") : fmt::format("{}", fmt::join(known, ", "))));
  report::ReportInput::TableEntry t;
  t.number = number;
  t.paper_file = paper_table_file(number);
  t.paper = report::load_paper_table(t.paper_file);
  if (t.paper.configs.empty())
    throw UserError(fmt::format("{}: lists no experiment configs (reproduced_by)", t.paper_file));
  t.sources = read_sources(t.paper.configs, common);
  return t;
}

// The one network of the config, or the grid's network labelled `label`.
config::ExperimentConfig pick_network(const config::ExperimentConfig& cfg, const std::string& label) {
  auto networks = config::expand_networks(cfg);
  if (label.empty()) {
    if (networks.size() == 1) return networks.front();
    std::vector<std::string> labels;
    for (const auto& n : networks) labels.push_back(models::network_label(n.network));
    throw UserError(fmt::format("--network: required when the config has several networks (one of: {})",
                                fmt::join(labels, ", ")));
  }
  for (const auto& n : networks)
    if (models::network_label(n.network) == label) return n;
  throw UserError(fmt::format("--network: the config has no network labelled '{}'", label));
}


double stored_test_metric(const config::ExperimentConfig& cfg, const std::string& cell_key) {
  merge_archive(cfg);
  const std::string path = results_store_file(cfg.output_dir);
  if (!std::filesystem::exists(path)) return std::nan("");
  auto run = report::Store(path).run_with_curve(cell_key);
  return run && run->status == "ok" ? run->test_metric : std::nan("");
}

}  // namespace qretrain::app
