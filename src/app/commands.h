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
struct PlotOptions {
  std::string network;            // table column label; required for grids
  std::string method = "adaptive";
  int seed = 0;                   // 0 = the config's first seed
  std::string output;             // base path without extension
};
// Fig. 2: Δ per layer over retraining epochs, from the store (gnuplot).
int cmd_plot(const CommonOptions& common, const PlotOptions& opt);
int cmd_qstep(int bits, const std::string& file);
int cmd_data_inspect(const CommonOptions& common);
// Builds an embedded stand-in corpus by hand (it is also built on first use).
int cmd_data_build(const CommonOptions& common, const std::string& kind, const std::string& path);

}  // namespace qretrain::app
