// What the commands share: loading a config, its results store, output
// files, the paper's table files. Each command is a row of src/app/command.h
// in a file of its own (src/app/cmd_*.cpp).
#pragma once

#include <string>
#include <vector>

#include "report/paper_report.h"
#include "report/store.h"
#include "report/table.h"

namespace qretrain::config { struct ExperimentConfig; }
namespace qretrain::data { struct Dataset; }
namespace qretrain::app {

struct CommonOptions {
  std::string config_path;
  std::vector<std::string> overrides;  // --set key=value
};

// The results store of an output.dir.
std::string results_store_file(const std::string& output_dir);
std::string store_path(const config::ExperimentConfig& cfg);

// --config with its --set overrides; `required`: a missing --config is an error.
config::ExperimentConfig load_config(const CommonOptions& common, bool required);
// The inputs a command reads, checked by the commands that read them before
// they write anything (the config layer checks values and touches no file):
// dataset.path exists, unless the data is built there on first use (the
// message says where the data comes from); report.paper, when set, is a file.
void require_dataset(const config::ExperimentConfig& cfg);
void require_paper_file(const config::ExperimentConfig& cfg);
// The stored test metric of a cell (archive merged first), or NaN when the
// store has no successful run of it.
double stored_test_metric(const config::ExperimentConfig& cfg, const std::string& cell_key);
// The one network of the config, or the grid's network labelled `label`
// (--network); a UserError listing the labels when it is ambiguous or unknown.
config::ExperimentConfig pick_network(const config::ExperimentConfig& cfg, const std::string& label);
// Whether every network of the config is convolutional (the thread plan differs).
bool uses_convolutions(const config::ExperimentConfig& cfg);

// Result files kept in the repository (output.archive) count as stored runs,
// so a fresh clone tables and reports them without running anything: they
// are merged into the store first, as a sweep would.
void merge_archive(const config::ExperimentConfig& cfg);
// The store of a config that has been run (archive merged); a clear error when it has not.
std::string existing_store_path(const config::ExperimentConfig& cfg, const CommonOptions& common);
// The cell keys a config (with its --set overrides) expands to.
std::vector<std::string> config_cell_keys(const config::ExperimentConfig& cfg);
// The config's network labels (the tables' columns) in its grid's order.
std::vector<std::string> config_networks(const config::ExperimentConfig& cfg);
// The runs of exactly this configuration (never runs of the same experiment
// name made with other settings); a clear error when there are none yet.
report::Selection stored_runs(const report::Store& store, const config::ExperimentConfig& cfg,
                              const CommonOptions& common);

// What run, sweep and cell check once the config and data are loaded, before
// anything is written: report.paper parses, the data fits the training layout.
void check_before_writing(const config::ExperimentConfig& cfg, const data::Dataset& data);

// Standard output when `output` is empty, else the file written whole.
void write_output(const std::string& text, const std::string& output);
// The -o file of a command, checked before the command does its work (no-op
// when empty: standard output).
void require_writable_output_file(const std::string& output);
// output.dir and its results store, checked before the store is created.
void require_writable_store(const config::ExperimentConfig& cfg);
// What `run` and `sweep` write under output.dir (the folder, the store, and
// the log file named after the experiment), checked before they read data.
void require_writable_output_dir(const config::ExperimentConfig& cfg);
// The log file of an experiment: output.dir/logs/NAME.log.
std::string experiment_log_file(const config::ExperimentConfig& cfg);
// How a config quantizes the weights beyond the paper's setting (granularity,
// per-layer bit widths), "" for the paper's: the tables' caption shows it.
std::string weight_setting(const config::ExperimentConfig& cfg);
// The command line's --set overrides that change results (" --set K=V ..."):
// runtime.* settings are left out, they do not.
std::string result_overrides(const CommonOptions& common);
// The table of the config's stored runs (of `only_methods` when given), with
// its provenance (command, grid size, seeds, metric, weight setting).
report::Table config_table(const CommonOptions& common, const config::ExperimentConfig& cfg,
                           const report::Store& store, const std::vector<std::string>& only_methods = {});
// A config's table (md, csv or tex) from the store, with the paper's numbers;
// its footer names the command with the --set overrides that shaped it.
std::string render_table(const CommonOptions& common, const config::ExperimentConfig& cfg,
                         const report::Store& store, const std::string& format);

// The paper's tables and figure, typed once, listing the configs that
// reproduce them (configs/paper/tableN.yaml, fig2.yaml).
extern const char* const kPaperDir;
// Table numbers with a configs/paper/tableN.yaml, ascending.
std::vector<int> known_paper_tables();
// Each listed config, resolved (with --set overrides) and read from its store.
std::vector<report::SourceRuns> read_sources(const std::vector<std::string>& configs, const CommonOptions& common);
// Paper table `number` and the stored runs of every config it lists.
report::ReportInput::TableEntry paper_table_entry(int number, const CommonOptions& common);

}  // namespace qretrain::app
