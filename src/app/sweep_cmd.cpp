// qretrain sweep / cell / collect: grids as separate processes (or Slurm
// array tasks) that publish result files, merged into the results store.
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "app/commands.h"
#include "app/runtime.h"
#include "data/dataset.h"
#include "methods/cells.h"
#include "methods/methods.h"
#include "models/network.h"
#include "report/store.h"
#include "sweep/cell_files.h"
#include "sweep/slurm.h"
#include "sweep/sweep.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

namespace qretrain::app {

namespace fs = std::filesystem;

namespace {

std::string this_program() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the qretrain executable (/proc/self/exe)");
  return p.string();
}

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

}  // namespace

int cmd_cell(const CommonOptions& common, const std::string& key) {
  config::ExperimentConfig cfg = config::load(common.config_path, common.overrides);
  const methods::Grid grid = methods::expand_grid(cfg);
  const methods::Cell* cell = grid.find(key);
  if (!cell)
    throw UserError(fmt::format("--key {}: no such cell in the grid of {} (was the config changed after the sweep "
                                "was planned?)",
                                key, common.config_path));
  const config::ExperimentConfig& variant = grid.variants[cell->variant];
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

int cmd_sweep(const CommonOptions& common, const SweepCommandOptions& opt) {
  config::ExperimentConfig cfg = config::load(common.config_path, common.overrides);
  const methods::Grid grid = methods::expand_grid(cfg);  // a bad grid fails before anything runs
  if (opt.jobs < 1) throw UserError(fmt::format("--jobs: must be at least 1, got {}", opt.jobs));
  sweep::SweepOptions so;
  so.program = this_program();
  so.config_path = common.config_path;
  so.overrides = common.overrides;
  so.jobs = opt.jobs;
  so.force = opt.force;
  so.retry_failed = opt.retry_failed;
  // Every path is checked before the store is created: the script's file
  // first (it is what --emit is for), then output.dir.
  if (opt.emit == "slurm") require_writable_output_file(opt.output);
  if (opt.list || !opt.emit.empty()) require_writable_store(cfg);
  else require_writable_output_dir(cfg);
  if (!cfg.output_archive.empty() && opt.emit.empty()) require_writable_dir(cfg.output_archive, "output.archive");
  if (opt.list) {
    report::Store store(results_store_file(cfg.output_dir));
    sweep::collect(store, cfg.output_dir);
    if (!cfg.output_archive.empty()) sweep::collect_archive(store, cfg.output_archive);
    std::size_t counts[3] = {0, 0, 0};
    for (const auto& c : grid.cells) {
      const auto state = sweep::cell_state(store, c.key, so);
      ++counts[static_cast<int>(state)];
      std::string after;
      for (std::size_t d : c.after) after += (after.empty() ? " (after " : ", ") + grid.cells[d].name();
      std::cout << fmt::format("{}  {:<6}  {}{}\n", c.key,
                               state == sweep::CellState::Done ? "done" : state == sweep::CellState::Failed ? "failed"
                                                                                                            : "to run",
                               c.name(), after.empty() ? "" : after + ")");
    }
    std::cout << fmt::format("{} cells: {} done, {} failed, {} to run\n", grid.cells.size(), counts[0], counts[1],
                             counts[2]);
    return 0;
  }
  if (opt.emit == "slurm") {
    report::Store store(results_store_file(cfg.output_dir));
    sweep::collect(store, cfg.output_dir);
    sweep::SlurmOptions slurm;
    slurm.cpus_per_cell = opt.cpus_per_cell;
    slurm.sbatch_args = opt.sbatch_args;
    const std::string script = sweep::slurm_script(cfg, grid, store, so, slurm);
    write_output(script, opt.output);
    if (!opt.output.empty()) fs::permissions(opt.output, fs::perms::owner_exec | fs::perms::group_exec,
                                             fs::perm_options::add);
    return 0;
  }
  if (!opt.emit.empty()) throw UserError(fmt::format("--emit: unknown target '{}' (valid: slurm)", opt.emit));
  // Data problems surface here, once, rather than in every cell.
  data::Dataset data = data::load(cfg.dataset);
  check_before_writing(cfg, data);
  // Written once here, so that the cells find it.
  data::write_pending_cache(data);
  install_stop_handlers();
  log::add_file(experiment_log_file(cfg));
  report::Store store(results_store_file(cfg.output_dir));
  const int status = sweep::run_sweep(cfg, grid, store, so);
  if (status == 0) std::cout << render_table(common, cfg, store, "md");
  return status;
}

int cmd_collect(const CommonOptions& common) {
  config::ExperimentConfig cfg = config::load(common.config_path, common.overrides);
  const methods::Grid grid = methods::expand_grid(cfg);
  require_writable_store(cfg);
  // Every result file is read before the store is opened: an unreadable one
  // (damaged, not SQLite) is the user's to remove or re-run, and fails here
  // with nothing merged, created or printed.
  const sweep::CellFiles files = sweep::read_cell_files(cfg.output_dir);
  if (!files.unreadable.empty())
    throw UserError(fmt::format("unreadable result file {}{}", files.unreadable.front(),
                                files.unreadable.size() > 1
                                    ? fmt::format(" (and {} more)", files.unreadable.size() - 1)
                                    : std::string()));
  report::Store store(results_store_file(cfg.output_dir));
  const sweep::CollectReport rep = sweep::merge_cell_files(store, files);
  std::size_t have = 0, failed = 0;
  for (const auto& c : grid.cells) {
    auto s = store.status(c.key);
    if (s) ++have, failed += s->first != "ok";
  }
  std::cerr << fmt::format("collect: {} result files, {} runs merged, {} already in {}; grid of '{}': {} of {} "
                           "cells have results ({} failed)\n",
                           rep.files, rep.merged, rep.unchanged, store.path(), cfg.name, have, grid.cells.size(),
                           failed);
  if (have > 0) std::cout << render_table(common, cfg, store, "md");
  return 0;
}

}  // namespace qretrain::app
