// qretrain cell --key K: what sweep and Slurm array tasks run.
#include "app/command.h"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "app/runtime.h"
#include "config/config.h"
#include "data/dataset.h"
#include "methods/cells.h"
#include "methods/methods.h"
#include "models/network.h"
#include "report/store.h"
#include "sweep/cell_files.h"
#include "sweep/sweep.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

namespace qretrain::app {
namespace {

namespace fs = std::filesystem;

// The status of a dependency as a cell process sees it: its result file, or
// the store (cells finished by `qretrain run` before the sweep have no file).
std::string dependency_status(const config::ExperimentConfig& cfg, const std::string& key) {
  std::string s = sweep::cell_file_status(cfg.output_dir, key);
  if (!s.empty()) return s;
  const std::string store = results_store_file(cfg.output_dir);
  if (!fs::exists(store)) return "";
  auto held = report::Store(store).status(key);
  return held ? held->first : "";
}

// One cell in this process, published as a result file.
int cmd_cell(const CommonOptions& common, const std::string& key) {
  config::ExperimentConfig cfg = config::load(common.config_path, common.overrides);
  const methods::Grid grid = methods::expand_grid(cfg);
  const methods::Cell* cell = grid.find(key);
  if (!cell)
    throw UserError(fmt::format("--key {}: no such cell in the grid of {} (was the config changed after the sweep "
                                "was planned?)",
                                key, common.config_path));
  const config::ExperimentConfig& variant = grid.variants[cell->variant];
  require_dataset(variant);
  require_paper_file(variant);
  require_writable_dir(variant.output_dir, "output.dir");
  configure_threads(variant.runtime, models::is_convolutional(variant.network.kind));
  install_stop_handlers();
  auto log = log::get("cell");
  log->info("cell {} ({}) of '{}': {}", key, cell->name(), cfg.name, thread_summary());
  report::Store runs(":memory:");  // published whole at the end
  for (std::size_t d : cell->after) {
    const methods::Cell& dep = grid.cells[d];
    const std::string s = dependency_status(variant, dep.key);
    if (s != "ok") {
      const std::string reason = s.empty() ? "dependency has no result: " + dep.name()
                                           : "dependency failed: " + dep.name();
      log->error("{}: {}", cell->name(), reason);
      sweep::publish_failure(variant.output_dir, key, sweep::failure_record(variant, *cell, reason));
      return sweep::kCellFailedExit;
    }
  }
  data::Dataset data = data::load(variant.dataset);
  check_before_writing(variant, data);
  data::write_pending_cache(data);  // when the sweep could not write it
  methods::Session session(variant, data, resolve_device(variant.runtime.device), runs, cell->seed, false);
  methods::run_cell(session, *cell);
  sweep::publish_cell_file(variant.output_dir, key, runs);
  fs::remove(methods::resume_file(variant, cell->method, cell->bits, cell->seed));
  auto status = runs.status(key);
  return status && status->first == "ok" ? 0 : sweep::kCellFailedExit;
}

}  // namespace

Command cell_command() {
  return {"cell", "run one cell of a config's grid and publish its result file (what sweep and Slurm array tasks run)",
          [](CLI::App& cli, const CommonOptions& common) -> Runner {
            auto key = std::make_shared<std::string>();
            cli.add_option("--key", *key, "the cell's key (as in output.dir/cells/KEY.sqlite)")->required();
            return [&common, key] { return cmd_cell(common, *key); };
          }};
}

}  // namespace qretrain::app
