// The subcommands of the qretrain program; main.cpp only parses and dispatches.
#pragma once

#include <string>
#include <vector>

namespace qretrain::app {

struct CommonOptions {
  std::string config_path;
  std::vector<std::string> overrides;  // --set key=value
};

int cmd_run(const CommonOptions& common, bool force);
int cmd_config(const CommonOptions& common, bool keys_reference);
int cmd_table(const CommonOptions& common, const std::string& format, const std::string& output);
int cmd_qstep(int bits, const std::string& file);
int cmd_data_inspect(const CommonOptions& common);
// Builds an embedded stand-in corpus by hand (it is also built on first use).
int cmd_data_build(const CommonOptions& common, const std::string& kind, const std::string& path);

}  // namespace qretrain::app
