// The commands of the qretrain program as a table: each row is a command
// (name, help, its options, what it runs), defined in its own file
// src/app/cmd_NAME.cpp. main() builds the command line from the rows.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "app/commands.h"

namespace qretrain::app {

// Runs a parsed command; returns the exit status.
using Runner = std::function<int()>;

struct Command {
  std::string name;
  std::string help;
  // Declares the command's options on its subcommand `cli`, bound to state
  // the returned Runner owns; `common` (--config, --set) is filled in by the
  // time the Runner runs.
  std::function<Runner(CLI::App& cli, const CommonOptions& common)> add_options;
  // What an interrupted run of it leaves (after the interruption's message).
  std::string when_interrupted = "finished cells are stored; run again to continue";
};

// One row per command, in the order `qretrain --help` lists them.
Command run_command();
Command sweep_command();
Command cell_command();
Command collect_command();
Command config_command();
Command table_command();
Command export_command();
Command plot_command();
Command sample_command();
Command export_model_command();
Command infer_command();
Command signal_table_command();
Command report_command();
Command qstep_command();
Command data_command();
const std::vector<Command>& commands();

// The options every command reads: --config and --set.
void add_common_options(CLI::App& cli, CommonOptions& common);
// Runs `command`: a user error is one line and exit 2, an interruption 130,
// anything else one line and exit 1 (never an abort).
int run_reporting_errors(const Command& command, const Runner& run);
// CLI11's parse errors as one line naming the command (help and --version
// print and exit 0).
int exit_on_parse_error(const CLI::App& cli, const CLI::ParseError& e);

// A path given on the command line must name something: an empty one would
// silently mean the default (standard output, the default corpus folder).
extern const CLI::Validator kNonEmptyPath;

}  // namespace qretrain::app
