// qretrain: fixed-point (low-bit weight) retraining experiments.
// main parses the command line, dispatches, and turns user errors into a
// one-line message with exit code 2.
#include <iostream>

#include <CLI/CLI.hpp>

#include "app/commands.h"
#include "util/error.h"

int main(int argc, char** argv) {
  using namespace qretrain;
  CLI::App app{"qretrain: fixed-point retraining of deep neural networks (Shin, Boo, Sung 2017)"};
  app.set_version_flag("--version", QRETRAIN_VERSION);
  app::CommonOptions common;
  app.add_option("--config,-c", common.config_path, "experiment YAML (qretrain --config X = qretrain run --config X)");
  app.add_option("--set", common.overrides, "override a config key, e.g. --set train.lr=1e-3 (repeatable)");
  app.require_subcommand(0, 1);

  bool force = false;
  app.add_flag("--force", force, "run: redo cells already in the results store");
  auto* run = app.add_subcommand("run", "train the float baseline (cached) and every quantized cell of a config");
  run->fallthrough();

  bool keys = false;
  auto* cfg = app.add_subcommand("config", "print the resolved config");
  cfg->fallthrough();
  cfg->add_flag("--dump", "print the resolved config with every key's help (the default)");
  cfg->add_flag("--keys", keys, "print the reference of every config key (Markdown)");

  std::string format = "md", output;
  auto* table = app.add_subcommand("table", "print the paper-shaped table of a config's stored results");
  table->fallthrough();
  table->add_option("--format", format, "md or csv")->check(CLI::IsMember({"md", "csv"}));
  table->add_option("--output,-o", output, "write to this file (atomically) instead of standard output");

  app::PlotOptions plot_opt;
  auto* plot = app.add_subcommand("plot", "Fig. 2: step size of each layer over retraining epochs (PNG, SVG, CSV)");
  plot->fallthrough();
  plot->add_option("--network", plot_opt.network, "network column label, e.g. 256x256 (required for grids)");
  plot->add_option("--method", plot_opt.method, "retraining method whose step sizes to draw")->capture_default_str();
  plot->add_option("--seed", plot_opt.seed, "seed of the runs (default: the config's first)");
  plot->add_option("--output,-o", plot_opt.output, "output path without extension (default: output.dir/plots/NAME-delta)");

  int bits = 0;
  std::string file;
  auto* qstep = app.add_subcommand("qstep", "L2-optimal step size of a list of numbers (whitespace separated)");
  qstep->add_option("--bits,-b", bits, "bit width (2..8)")->required();
  qstep->add_option("file", file, "file of numbers, - for standard input")->required();

  auto* data = app.add_subcommand("data", "datasets: inspect, build");
  data->fallthrough();
  data->require_subcommand(1);
  auto* inspect = data->add_subcommand("inspect", "counts per split, shapes, class histograms, pixel statistics");
  inspect->fallthrough();
  std::string corpus, corpus_path;
  auto* build = data->add_subcommand("build", "build an embedded stand-in corpus now (otherwise built on first use)");
  build->fallthrough();
  build->add_option("corpus", corpus, "speech-standin")->required()->check(CLI::IsMember({"speech-standin"}));
  build->add_option("--path", corpus_path, "where to build it (default: the config's dataset.path)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  try {
    if (*qstep) return app::cmd_qstep(bits, file);
    if (*cfg) return app::cmd_config(common, keys);
    if (*table) return app::cmd_table(common, format, output);
    if (*plot) return app::cmd_plot(common, plot_opt);
    if (*inspect) return app::cmd_data_inspect(common);
    if (*build) return app::cmd_data_build(common, corpus, corpus_path);
    if (*run || !common.config_path.empty()) return app::cmd_run(common, force);
    std::cout << app.help();
    return 2;
  } catch (const UserError& e) {
    std::cerr << "qretrain: error: " << e.what() << "\n";
    return 2;
  } catch (const Interrupted& e) {
    std::cerr << "qretrain: " << e.what() << " (finished cells are stored; run again to continue)\n";
    return 130;
  } catch (const std::exception& e) {
    // Not the user's fault (or not foreseen): still one line, never an abort.
    std::cerr << "qretrain: internal error: " << e.what() << "\n";
    return 1;
  }
}
