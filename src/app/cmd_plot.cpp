#include "app/command.h"

#include <filesystem>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include "config/config.h"
#include "models/network.h"
#include "report/plot.h"
#include "report/store.h"
#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::app {
namespace {

struct PlotOptions {
  std::string network;  // table column label; required for grids
  std::string method = "adaptive";
  int seed = 0;         // 0 = every seed
  std::string output;   // base path without extension
};

// Fig. 2: Δ per layer over retraining epochs, from the store (gnuplot).
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

}  // namespace

Command plot_command() {
  return {"plot", "Fig. 2: step size of each layer over retraining epochs (PNG, SVG, CSV)",
          [](CLI::App& cli, const CommonOptions& common) -> Runner {
            auto o = std::make_shared<PlotOptions>();
            cli.add_option("--network", o->network, "network column label, e.g. 256x256 (required for grids)");
            cli.add_option("--method", o->method, "retraining method whose step sizes to draw")->capture_default_str();
            cli.add_option("--seed", o->seed, "seed of the runs (default: every seed, a thin line each)");
            cli.add_option("--output,-o", o->output,
                           "output path without extension (default: output.dir/plots/NAME-delta)")
                ->check(kNonEmptyPath);
            return [&common, o] { return cmd_plot(common, *o); };
          }};
}

}  // namespace qretrain::app
