// qretrain: fixed-point (low-bit weight) retraining experiments.
// main parses the command line, dispatches, and turns user errors into a
// one-line message with exit code 2.
#include <algorithm>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "app/commands.h"
#include "util/error.h"

namespace {

// A path given on the command line must name something: an empty one would
// silently mean the default (standard output, the default corpus folder).
const CLI::Validator kNonEmpty(
    [](std::string& value) { return value.empty() ? std::string("must not be empty") : std::string(); }, "PATH",
    "non-empty");

// CLI11's messages name the flag but come in its own format, some over
// several lines; the contract is one line with our prefix. The subcommands
// parsed so far lead the message ("A subcommand is required" names none).
int print_parse_error(const CLI::App& app, const CLI::ParseError& e) {
  std::string command;
  for (const CLI::App* at = &app; !at->get_subcommands().empty();) {
    at = at->get_subcommands().front();
    command += " " + at->get_name();
  }
  std::string message = e.what();
  std::replace(message.begin(), message.end(), '\n', ' ');
  while (!message.empty() && message.back() == ' ') message.pop_back();
  std::cerr << "qretrain: error: " << (command.empty() ? "" : command.substr(1) + ": ") << message
            << " (see qretrain" << command << " --help)\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace qretrain;
  CLI::App app{"qretrain: fixed-point retraining of deep neural networks (Shin, Boo, Sung 2017)"};
  app.set_version_flag("--version", QRETRAIN_VERSION);
  app::CommonOptions common;
  app.add_option("--config,-c", common.config_path, "experiment YAML (qretrain --config X = qretrain run --config X)")
      ->check(kNonEmpty);
  app.add_option("--set", common.overrides, "override a config key, e.g. --set train.lr=1e-3 (repeatable)");
  app.require_subcommand(0, 1);

  bool force = false;
  app.add_flag("--force", force, "run, sweep: redo cells already in the results store");
  auto* run = app.add_subcommand("run", "train the float baseline (cached) and every quantized cell of a config");
  run->fallthrough();

  app::SweepCommandOptions sweep_opt;
  auto* sweep = app.add_subcommand("sweep", "run a config's grid N cells at a time, each in its own process; "
                                            "resumable (or --emit slurm: a Slurm job-array script)");
  sweep->fallthrough();
  sweep->add_option("--jobs,-j", sweep_opt.jobs, "cells at a time; the CPU cores are split between them")
      ->capture_default_str();
  sweep->add_flag("--retry-failed", sweep_opt.retry_failed, "run again the cells stored as failed");
  sweep->add_flag("--list", sweep_opt.list, "print every cell (key, state, what it waits for) and run nothing");
  sweep->add_option("--emit", sweep_opt.emit, "slurm: write a job-array submission script instead of running")
      ->check(CLI::IsMember({"slurm"}));
  sweep->add_option("--output,-o", sweep_opt.output, "--emit: write the script to this file (default: stdout)")
      ->check(kNonEmpty);
  sweep->add_option("--cpus-per-cell", sweep_opt.cpus_per_cell, "--emit slurm: CPUs of every array task")
      ->capture_default_str();
  sweep->add_option("--sbatch-args", sweep_opt.sbatch_args,
                    "--emit slurm: extra sbatch options, e.g. \"--partition=cpu --time=2:00:00\"");
  std::string cell_key;
  auto* cell = app.add_subcommand("cell", "run one cell of a config's grid and publish its result file "
                                          "(what sweep and Slurm array tasks run)");
  cell->fallthrough();
  cell->add_option("--key", cell_key, "the cell's key (as in output.dir/cells/KEY.sqlite)")->required();
  auto* collect = app.add_subcommand("collect", "merge the result files of sweep cells (output.dir/cells) into the "
                                                "results store, and print the table");
  collect->fallthrough();

  bool keys = false;
  auto* cfg = app.add_subcommand("config", "print the resolved config");
  cfg->fallthrough();
  cfg->add_flag("--dump", "print the resolved config with every key's help (the default)");
  cfg->add_flag("--keys", keys, "print the reference of every config key (Markdown)");

  std::string format = "md", output;
  auto* table = app.add_subcommand("table", "print the paper-shaped table of a config's stored results");
  table->fallthrough();
  table->add_option("--format", format, "md, csv or tex (LaTeX, booktabs)")->check(CLI::IsMember({"md", "csv", "tex"}));
  table->add_option("--output,-o", output, "write to this file (atomically) instead of standard output")
      ->check(kNonEmpty);
  std::string compare;
  int paper_table = 0;
  table->add_option("--paper", paper_table,
                    "N: paper Table N (1-4) from the configs that configs/paper/tableN.yaml lists, beside the "
                    "paper's numbers (no --config)");
  table->add_option("--compare", compare,
                    "A,B: method A against B paired by seed per cell, with win counts and a 95% interval "
                    "(e.g. adaptive,conventional)");

  std::string export_format = "csv", export_output;
  auto* exp = app.add_subcommand("export", "every run and every evaluation point of the store (csv or jsonl)");
  exp->fallthrough();
  exp->add_option("--format", export_format, "csv (one row per evaluation point) or jsonl (one object per run)")
      ->check(CLI::IsMember({"csv", "jsonl"}))
      ->capture_default_str();
  exp->add_option("--output,-o", export_output, "write to this file (atomically) instead of standard output")
      ->check(kNonEmpty);
  bool export_all = false;
  exp->add_flag("--all", export_all,
                "every run in the store (any experiment, configuration or identity scheme), not only the config's");

  app::PlotOptions plot_opt;
  auto* plot = app.add_subcommand("plot", "Fig. 2: step size of each layer over retraining epochs (PNG, SVG, CSV)");
  plot->fallthrough();
  plot->add_option("--network", plot_opt.network, "network column label, e.g. 256x256 (required for grids)");
  plot->add_option("--method", plot_opt.method, "retraining method whose step sizes to draw")->capture_default_str();
  plot->add_option("--seed", plot_opt.seed, "seed of the runs (default: every seed, a thin line each)");
  plot->add_option("--output,-o", plot_opt.output,
                   "output path without extension (default: output.dir/plots/NAME-delta)")
      ->check(kNonEmpty);

  app::SampleOptions sample_opt;
  auto* sample = app.add_subcommand("sample", "text generated by a stored language model, float or quantized");
  sample->fallthrough();
  sample->add_option("--method", sample_opt.method, "float, direct, conventional, adaptive, ...")->capture_default_str();
  sample->add_option("--bits", sample_opt.bits, "weight bit width of the quantized network (2..8)");
  sample->add_option("--network", sample_opt.network, "network column label, e.g. 256 (required for grids)");
  sample->add_option("--seed", sample_opt.seed, "training seed of the stored network (default: the config's first)");
  sample->add_option("--chars,-n", sample_opt.chars, "characters to generate")->capture_default_str();
  sample->add_option("--prime", sample_opt.prime, "text the network reads before generating (default: a newline)");
  sample->add_option("--temperature,-t", sample_opt.temperature, "softmax temperature (lower = more conservative)")
      ->capture_default_str();
  sample->add_option("--sample-seed", sample_opt.sample_seed, "seed of the sampling")->capture_default_str();

  std::string report_output = "results/REPORT.md";
  auto* report = app.add_subcommand("report", "Markdown report: every paper table, Fig. 2 and training curves (gnuplot)");
  report->fallthrough();
  report->add_option("--output,-o", report_output, "report file; images go to the folder named after it (lower case)")
      ->capture_default_str()
      ->check(kNonEmpty);

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
  build->add_option("--path", corpus_path, "where to build it (default: the config's dataset.path)")->check(kNonEmpty);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    return print_parse_error(app, e);
  }
  try {
    if (*qstep) return app::cmd_qstep(bits, file);
    if (*cfg) return app::cmd_config(common, keys);
    if (*table && table->count("--paper")) {
      if (!compare.empty()) throw UserError("--paper and --compare: give one");
      return app::cmd_paper_table(common, paper_table, format, output);
    }
    if (*table) return app::cmd_table(common, format, output, compare);
    if (*report) return app::cmd_report(common, report_output);
    if (*plot) return app::cmd_plot(common, plot_opt);
    if (*exp) return app::cmd_export(common, export_format, export_output, export_all);
    if (*sample) return app::cmd_sample(common, sample_opt);
    if (*inspect) return app::cmd_data_inspect(common);
    if (*build) return app::cmd_data_build(common, corpus, corpus_path);
    if (*sweep) {
      sweep_opt.force = force;
      return app::cmd_sweep(common, sweep_opt);
    }
    if (*cell) return app::cmd_cell(common, cell_key);
    if (*collect) return app::cmd_collect(common);
    if (*run || !common.config_path.empty()) return app::cmd_run(common, force);
    std::cout << app.help();
    return 2;
  } catch (const UserError& e) {
    std::cerr << "qretrain: error: " << e.what() << "\n";
    return 2;
  } catch (const Interrupted& e) {
    // Training stores what it finished; a stand-in build removes what it started.
    std::cerr << "qretrain: " << e.what() << (*build ? "" : " (finished cells are stored; run again to continue)")
              << "\n";
    return 130;
  } catch (const std::exception& e) {
    // Not the user's fault (or not foreseen): still one line, never an abort.
    std::cerr << "qretrain: internal error: " << e.what() << "\n";
    return 1;
  }
}
