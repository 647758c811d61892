// qretrain: fixed-point (low-bit weight) retraining experiments.
// main builds the command line from the command table (src/app/command.h),
// parses it and runs the chosen command.
#include <iostream>
#include <utility>
#include <vector>

#include "app/command.h"
#include "app/runtime.h"

int main(int argc, char** argv) {
  using namespace qretrain::app;
  route_stop_signals_to_a_watcher();
  CLI::App cli{"qretrain: fixed-point retraining of deep neural networks (Shin, Boo, Sung 2017)"};
  cli.set_version_flag("--version", QRETRAIN_VERSION);
  CommonOptions common;
  add_common_options(cli, common);
  cli.require_subcommand(0, 1);
  std::vector<std::pair<CLI::App*, Runner>> parsed_by;
  for (const Command& command : commands()) {
    CLI::App* sub = cli.add_subcommand(command.name, command.help);
    sub->fallthrough();  // --config and --set may follow the command's name
    parsed_by.emplace_back(sub, command.add_options(*sub, common));
  }
  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return exit_on_parse_error(cli, e);
  }
  for (std::size_t i = 0; i < parsed_by.size(); ++i)
    if (*parsed_by[i].first) return run_reporting_errors(commands()[i], parsed_by[i].second);
  // qretrain --config X is qretrain run --config X.
  if (!common.config_path.empty()) return run_reporting_errors(commands().front(), parsed_by.front().second);
  std::cout << cli.help();
  return 2;
}
