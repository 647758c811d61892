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
#include "data/text.h"
#include "data/timit.h"
#include "methods/methods.h"
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

namespace {

std::string store_path(const config::ExperimentConfig& cfg) { return results_store_file(cfg.output_dir); }

// The store of a config that has been run; a clear error when it has not.
// Result files kept in the repository (output.archive) count as stored runs,
// so a fresh clone tables and reports them without running anything: they
// are merged into the store first, as a sweep would.
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

// The cell keys a config (with its --set overrides) expands to.
std::vector<std::string> config_cell_keys(const config::ExperimentConfig& cfg) {
  std::vector<std::string> keys;
  for (const auto& cell : methods::expand_grid(cfg).cells) keys.push_back(cell.key);
  return keys;
}

// The runs of exactly this configuration (never runs of the same experiment
// name made with other settings); a clear error when there are none yet.
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

}  // namespace

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

std::string render_table(const CommonOptions& common, const config::ExperimentConfig& cfg,
                         const report::Store& store, const std::string& format) {
  report::Table table = report::build_table(cfg.name, store.select(cfg.name, config_cell_keys(cfg)));
  table.command = "qretrain run/sweep --config " + cfg.source;
  for (const auto& o : common.overrides)
    if (o.rfind("runtime.", 0) != 0) table.command += " --set " + o;  // runtime settings do not change results
  table.metric = data::metric_of_kind(cfg.dataset.kind);
  std::optional<report::PaperTable> paper;
  if (!cfg.report_paper.empty()) paper = report::load_paper_table(cfg.report_paper);
  const report::PaperTable* p = paper ? &*paper : nullptr;
  if (format == "csv") return report::render_csv(table, p);
  if (format == "tex") return report::render_latex(table, p);
  return report::render_markdown(table, p);
}

namespace {

bool uses_convolutions(const config::ExperimentConfig& cfg) {
  for (const auto& one : config::expand_networks(cfg))
    if (!models::is_convolutional(one.network.kind)) return false;
  return true;
}

config::ExperimentConfig load_config(const CommonOptions& common, bool required) {
  if (required && common.config_path.empty()) throw UserError("--config: required (e.g. --config configs/fmnist_L.yaml)");
  return config::load(common.config_path, common.overrides);
}

}  // namespace

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

int cmd_run(const CommonOptions& common, bool force) {
  config::ExperimentConfig cfg = load_config(common, true);
  require_writable_output_dir(cfg);
  configure_threads(cfg.runtime, uses_convolutions(cfg));
  install_stop_handlers();
  // Data problems surface before anything is written under output.dir.
  data::Dataset data = data::load(cfg.dataset);
  check_before_writing(cfg, data);
  data::write_pending_cache(data);
  log::add_file(experiment_log_file(cfg));
  report::Store store(store_path(cfg));
  methods::run_experiment(cfg, data, store, force);
  std::cout << render_table(common, cfg, store, "md");
  return 0;
}

int cmd_config(const CommonOptions& common, bool keys_reference) {
  if (keys_reference) {
    std::cout << config::key_reference();
    return 0;
  }
  config::ExperimentConfig cfg = load_config(common, false);
  std::cout << config::dump(cfg, true);
  return 0;
}

int cmd_table(const CommonOptions& common, const std::string& format, const std::string& output,
              const std::string& compare) {
  require_writable_output_file(output);
  config::ExperimentConfig cfg = load_config(common, true);
  const std::string path = existing_store_path(cfg, common);
  report::Store store(path);
  const auto selected = stored_runs(store, cfg, common);
  const auto& runs = selected.runs;
  std::string text;
  if (compare.empty()) {
    text = render_table(common, cfg, store, format);
  } else {
    const auto comma = compare.find(',');
    const std::string a = compare.substr(0, comma), b = comma == std::string::npos ? "" : compare.substr(comma + 1);
    const auto& known = report::method_order();
    for (const auto& m : {a, b})
      if (std::find(known.begin(), known.end(), m) == known.end() || a == b)
        throw UserError(fmt::format("--compare: expected two different methods A,B (of: {}), got '{}'",
                                    fmt::join(known, ", "), compare));
    text = report::render_comparison(report::compare_methods(runs, a, b), data::metric_of_kind(cfg.dataset.kind));
    if (const std::string note = report::left_out_note(selected.other_settings, selected.older_scheme); !note.empty())
      text += "\n" + note + "\n";
  }
  write_output(text, output);
  return 0;
}

int cmd_export(const CommonOptions& common, const std::string& format, const std::string& output, bool all) {
  require_writable_output_file(output);
  config::ExperimentConfig cfg = load_config(common, true);
  const std::string path = existing_store_path(cfg, common);
  report::Store store(path);
  std::vector<report::RunRecord> runs;
  if (all) runs = store.all_runs_with_curves();
  else
    for (const auto& r : stored_runs(store, cfg, common).runs) runs.push_back(*store.run_with_curve(r.cell_key));
  std::string text = format == "jsonl" ? report::export_jsonl(runs) : report::export_csv(runs);
  write_output(text, output);
  return 0;
}

namespace {

using NamedSplit = std::pair<const char*, const data::Split*>;

std::vector<std::int64_t> class_counts(const data::Split& split, int classes) {
  auto counts = torch::bincount(split.y, {}, classes);
  return {counts.data_ptr<std::int64_t>(), counts.data_ptr<std::int64_t>() + counts.numel()};
}

void print_image_splits(const data::Dataset& d, const std::vector<NamedSplit>& splits) {
  std::cout << "| split | examples | pixel mean | pixel std | min | max | examples per class 0.." << d.num_classes - 1
            << " |\n|---|---:|---:|---:|---:|---:|---|\n";
  for (const auto& [name, split] : splits)
    std::cout << fmt::format("| {} | {} | {:.4f} | {:.4f} | {:.3f} | {:.3f} | {} |\n", name, split->size(),
                             split->x.mean().item<double>(), split->x.std().item<double>(),
                             split->x.min().item<double>(), split->x.max().item<double>(),
                             fmt::join(class_counts(*split, d.num_classes), " "));
  std::cout << "\n(pixel statistics after the loader's normalisation with training-set statistics)\n";
}

// Speech: per-split counts, then the frame histogram over the 61 phones and
// how many of the scoring classes occur at all.
void print_speech_splits(const data::Dataset& d, const std::vector<NamedSplit>& splits) {
  std::cout << "| split | speakers | utterances | frames | hours | scoring classes present |\n"
               "|---|---:|---:|---:|---:|---:|\n";
  const auto classes = static_cast<std::int64_t>(torch::max(d.score_map).item<std::int64_t>() + 1);
  for (const auto& [name, split] : splits) {
    auto scored = d.score_map.index_select(0, split->y);
    auto present = torch::bincount(scored.masked_select(scored.ge(0)), {}, classes).gt(0).sum().item<std::int64_t>();
    std::cout << fmt::format("| {} | {} | {} | {} | {:.2f} | {} of {} |\n", name, split->speakers, split->utterances,
                             split->size(), static_cast<double>(split->size()) / 360000.0, present, classes);
  }
  std::cout << "\n(frames are 10 ms; a train_limit/test_limit in the config counts frames)\n\n";
  std::cout << "Frames per phone (61 training labels):\n\n| phone | train | dev | test |\n|---|---:|---:|---:|\n";
  std::vector<std::vector<std::int64_t>> counts;
  for (const auto& named : splits) counts.push_back(class_counts(*named.second, d.num_classes));
  std::vector<std::string> absent;
  for (int c = 0; c < d.num_classes; ++c) {
    if (counts[0][c] + counts[1][c] + counts[2][c] == 0) {
      absent.push_back(d.class_names[c]);
      continue;
    }
    std::cout << fmt::format("| {} | {} | {} | {} |\n", d.class_names[c], counts[0][c], counts[1][c], counts[2][c]);
  }
  std::cout << fmt::format("\nPhones with no frames: {}\n", absent.empty() ? "none" : fmt::format("{}", fmt::join(absent, " ")));
}

// Text: bytes, distinct symbols and the unigram entropy of each split, the
// bits per character a model without context would score.
void print_text_splits(const std::vector<NamedSplit>& splits) {
  std::cout << "| split | bytes | distinct byte values | unigram entropy (bits per character) |\n|---|---:|---:|---:|\n";
  for (const auto& [name, split] : splits) {
    auto counts = torch::bincount(split->x.to(torch::kInt64), {}, 256).to(torch::kFloat64);
    auto p = counts.masked_select(counts.gt(0)) / counts.sum();
    // Clamped at 0: a split of one symbol sums to 0, whose negation printed "-0.000".
    const double entropy = std::max(0.0, -(p * p.log2()).sum().item<double>());
    std::cout << fmt::format("| {} | {} | {} | {:.3f} |\n", name, split->size(), p.numel(), entropy);
  }
  std::cout << "\n(a train_limit/dev_limit/test_limit in the config counts bytes)\n";
}

}  // namespace

int cmd_data_inspect(const CommonOptions& common) {
  config::ExperimentConfig cfg = load_config(common, true);
  configure_threads(cfg.runtime, uses_convolutions(cfg));
  data::Dataset d = data::load(cfg.dataset);
  std::cout << fmt::format("dataset: {} (kind {}, path {})\n", d.name, cfg.dataset.kind, cfg.dataset.path);
  std::cout << fmt::format("example shape: [{}], classes: {}, metric: {}\n\n", fmt::join(d.input_shape, ", "),
                           d.num_classes, d.metric);
  const std::vector<NamedSplit> splits = {{"train", &d.train}, {"dev", &d.dev}, {"test", &d.test}};
  if (d.task == data::Task::LanguageModel) print_text_splits(splits);
  else if (d.train.context.defined()) print_speech_splits(d, splits);
  else print_image_splits(d, splits);
  return 0;
}

int cmd_data_build(const CommonOptions& common, const std::string& kind, const std::string& path) {
  if (kind != "speech-standin") throw UserError(fmt::format("data build: unknown corpus '{}' (known: speech-standin)", kind));
  // Build settings come from the config's dataset.standin.* keys (defaults without --config).
  CommonOptions with_kind = common;
  with_kind.overrides.push_back("dataset.kind=speech-standin");
  if (!path.empty()) with_kind.overrides.push_back("dataset.path=" + path);
  else if (common.config_path.empty()) with_kind.overrides.push_back("dataset.path=data/speech-standin");
  config::ExperimentConfig cfg = load_config(with_kind, false);
  if (data::standin::is_standin(cfg.dataset.path)) {
    std::cout << fmt::format("{}: the stand-in corpus is already built (delete the folder to rebuild)\n",
                             cfg.dataset.path);
    return 0;
  }
  require_writable_dir(cfg.dataset.path, path.empty() ? "dataset.path" : "--path");
  // An interrupted build removes its partial folder (the build polls the flag).
  install_stop_handlers();
  auto summary = data::build_speech_standin(cfg.dataset, &train::g_stop_requested);
  std::cout << fmt::format("built {}: {} speakers, {} utterances, {:.2f} h of audio in {:.1f} s\n", cfg.dataset.path,
                           summary.speakers, summary.utterances, summary.audio_seconds / 3600.0,
                           summary.build_seconds);
  return 0;
}

int cmd_plot(const CommonOptions& common, const PlotOptions& opt) {
  config::ExperimentConfig cfg = load_config(common, true);
  const std::string path = existing_store_path(cfg, common);
  std::string network = opt.network;
  if (network.empty()) {
    auto networks = config::expand_networks(cfg);
    if (networks.size() != 1)
      throw UserError("--network: required when the config has several networks (grid.networks), e.g. 256x256");
    network = models::network_label(networks[0].network);
  }
  const int seed = opt.seed;  // 0: every seed, a line each
  const std::string base =
      opt.output.empty() ? (std::filesystem::path(cfg.output_dir) / "plots" / (cfg.name + "-delta")).string()
                         : opt.output;
  // BASE.png, .svg and .csv (and a BASE.plot-tmp work folder), all names of one length.
  require_writable_file(base + ".png", opt.output.empty() ? "name" : "-o");
  report::Store store(path);
  const auto runs = stored_runs(store, cfg, common).runs;
  auto curves = report::delta_curves(store, runs, cfg.name, network, opt.method, seed);
  const std::string dataset = runs.front().dataset;
  report::plot_delta_curves(
      curves, fmt::format("Step size of each layer during {} retraining, FFDNN {} ({})", opt.method, network, dataset),
      base);
  std::set<int> bit_widths, seeds;
  for (const auto& c : curves) bit_widths.insert(c.bits), seeds.insert(c.seed);
  std::cout << fmt::format("wrote {0}.png, {0}.svg and {0}.csv ({1} bit widths{2})\n", base, bit_widths.size(),
                           seeds.size() > 1 ? fmt::format(", {} seeds", seeds.size()) : "");
  return 0;
}

namespace {

// The paper's tables and figure, typed once, listing the configs that reproduce them.
const char* kPaperDir = "configs/paper";

std::string paper_table_file(int number) { return fmt::format("{}/table{}.yaml", kPaperDir, number); }

// Table numbers with a configs/paper/tableN.yaml, ascending.
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

// The paper's own corpora; every other dataset kind is a stand-in for one.
bool is_paper_dataset(const std::string& kind) { return kind == "timit" || kind == "svhn" || kind == "enwik8"; }

// Each listed config, resolved (with --set overrides) and read from its store.
std::vector<report::SourceRuns> read_sources(const std::vector<std::string>& configs, const CommonOptions& common) {
  std::vector<report::SourceRuns> out;
  for (const auto& path : configs) {
    CommonOptions one = common;
    one.config_path = path;
    // Reading results needs the experiment's name and store, not its data:
    // a config whose corpus is not on this machine (TIMIT, SVHN, enwik8)
    // still names its runs. config::load insists that dataset.path exists,
    // so point it at the working folder; nothing here reads it.
    one.overrides.push_back("dataset.path=.");
    const config::ExperimentConfig cfg = load_config(one, true);
    report::Source s;
    s.config_path = path;
    s.experiment = cfg.name;
    merge_archive(cfg);
    s.store_path = store_path(cfg);
    s.metric = data::metric_of_kind(cfg.dataset.kind);
    s.stand_in = !is_paper_dataset(cfg.dataset.kind);
    s.first_seed = cfg.seeds.empty() ? 1 : cfg.seeds.front();
    s.cell_keys = config_cell_keys(cfg);
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

}  // namespace

int cmd_paper_table(const CommonOptions& common, int number, const std::string& format, const std::string& output) {
  if (!common.config_path.empty())
    throw UserError("--paper: takes its configs from configs/paper/tableN.yaml; leave out --config");
  require_writable_output_file(output);
  const auto t = paper_table_entry(number, common);
  write_output(report::render_paper_tables(t.paper, t.sources, format), output);
  return 0;
}

int cmd_report(const CommonOptions& common, const std::string& output) {
  if (!common.config_path.empty())
    throw UserError("report: takes its configs from configs/paper/*.yaml; leave out --config");
  require_writable_file(output, "-o");
  require_writable_dir(report::report_image_dir(output), "-o");
  const auto known = known_paper_tables();
  if (known.empty()) throw UserError(fmt::format("{}: no paper tables found (run from the repository root)", kPaperDir));
  report::ReportInput in;
  for (int n : known) in.tables.push_back(paper_table_entry(n, common));
  const std::string figure = fmt::format("{}/fig2.yaml", kPaperDir);
  if (std::filesystem::exists(figure)) {
    in.figure_file = figure;
    in.figure = report::load_paper_figure(figure);
    in.figure_sources = read_sources(in.figure.configs, common);
  }
  const int figures = report::write_report(in, output);
  std::cout << fmt::format("wrote {}; figures (PNG + SVG) in {}: {}\n", output, report::report_image_dir(output),
                           figures);
  return 0;
}

int cmd_qstep(int bits, const std::string& file) {
  if (bits < 2 || bits > 8) throw UserError(fmt::format("--bits: {} is outside 2..8", bits));
  std::string text;
  std::string name = file == "-" ? "<stdin>" : file;
  if (file == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    text = read_text_file(file);
  }
  std::vector<float> w;
  std::string token;
  int line = 1;
  std::size_t pos = 0;
  // Tokenise by hand to report the line of a bad token.
  while (pos < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[pos]))) {
      if (text[pos] == '\n') ++line;
      ++pos;
      continue;
    }
    std::size_t end = pos;
    while (end < text.size() && !std::isspace(static_cast<unsigned char>(text[end]))) ++end;
    token = text.substr(pos, end - pos);
    // Parsed straight to float, rounded once. ERANGE means overflow (a
    // magnitude above FLT_MAX: an error, it has no float) or underflow:
    // values below the smallest normal float (such as 1e-320) are finite
    // numbers and kept as strtof rounds them, to a float subnormal or to 0.
    errno = 0;
    char* stop = nullptr;
    const float v = std::strtof(token.c_str(), &stop);
    const bool whole = stop == token.c_str() + token.size();
    if (whole && errno == ERANGE && std::isinf(v))
      throw UserError(fmt::format("{}:{}: '{}' is outside the float range (magnitude at most {:g})", name, line, token,
                                  std::numeric_limits<float>::max()));
    if (!whole || !std::isfinite(v))
      throw UserError(fmt::format("{}:{}: '{}' is not a finite number", name, line, token));
    w.push_back(v);
    pos = end;
  }
  if (w.empty()) throw UserError(fmt::format("{}: no numbers to quantize", name));
  quant::StepResult r = quant::qstep(w.data(), w.size(), bits);
  const int level = quant::max_level(bits);
  std::cout << fmt::format("bits:   {} ({} points, levels -{}..{})\n", bits, 2 * level + 1, level, level);
  std::cout << fmt::format("count:  {}\n", w.size());
  std::cout << fmt::format("delta:  {:.9g}\n", r.delta);
  std::cout << fmt::format("sse:    {:.9g}\n", r.sse);
  std::cout << fmt::format("rmse:   {:.9g}\n", std::sqrt(r.sse / static_cast<double>(w.size())));
  return 0;
}

}  // namespace qretrain::app
