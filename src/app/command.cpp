#include "app/command.h"

#include <algorithm>
#include <iostream>

#include "util/error.h"

namespace qretrain::app {

const CLI::Validator kNonEmptyPath(
    [](std::string& value) { return value.empty() ? std::string("must not be empty") : std::string(); }, "PATH",
    "non-empty");

const std::vector<Command>& commands() {
  static const std::vector<Command> rows = {run_command(),   sweep_command(),  cell_command(),   collect_command(),
                                            config_command(), table_command(),  export_command(), plot_command(),
                                            sample_command(), export_model_command(), infer_command(), signal_table_command(), report_command(), qstep_command(),  data_command()};
  return rows;
}

void add_common_options(CLI::App& cli, CommonOptions& common) {
  cli.add_option("--config,-c", common.config_path, "experiment YAML (qretrain --config X = qretrain run --config X)")
      ->check(kNonEmptyPath);
  cli.add_option("--set", common.overrides, "override a config key, e.g. --set train.lr=1e-3 (repeatable)");
}

int run_reporting_errors(const Command& command, const Runner& run) {
  try {
    return run();
  } catch (const UserError& e) {
    std::cerr << "qretrain: error: " << e.what() << "\n";
    return 2;
  } catch (const Interrupted& e) {
    std::cerr << "qretrain: " << e.what()
              << (command.when_interrupted.empty() ? "" : " (" + command.when_interrupted + ")") << "\n";
    return 130;
  } catch (const std::exception& e) {
    // Not the user's fault (or not foreseen): still one line, never an abort.
    std::cerr << "qretrain: internal error: " << e.what() << "\n";
    return 1;
  }
}

// CLI11's messages name the flag but come in its own format, some over
// several lines; the contract is one line with our prefix. The subcommands
// parsed so far lead the message ("A subcommand is required" names none).
int exit_on_parse_error(const CLI::App& cli, const CLI::ParseError& e) {
  if (e.get_exit_code() == 0) return cli.exit(e);  // --help, --help-all, --version
  std::string command;
  for (const CLI::App* at = &cli; !at->get_subcommands().empty();) {
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

}  // namespace qretrain::app
