// qretrain sweep: a grid's cells in parallel processes (or a Slurm job-array script).
#include "app/command.h"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "app/runtime.h"
#include "config/config.h"
#include "data/dataset.h"
#include "methods/cells.h"
#include "methods/methods.h"
#include "sweep/slurm.h"
#include "sweep/sweep.h"
#include "report/store.h"
#include "sweep/cell_files.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

namespace qretrain::app {
namespace {

namespace fs = std::filesystem;

struct SweepCommandOptions {
  int jobs = 1;
  bool force = false;
  bool retry_failed = false;
  bool list = false;        // print the cells and their state, run nothing
  std::string emit;         // "slurm": write a job-array script instead of running
  std::string output;       // where --emit writes (default: standard output)
  int cpus_per_cell = 1;    // --emit slurm: --cpus-per-task of every array task
  std::string sbatch_args;  // --emit slurm: extra sbatch options (partition, time, account)
};

std::string this_program() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the qretrain executable (/proc/self/exe)");
  return p.string();
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
  // Every path is checked before the store is created: the inputs the cells
  // read (not for --list, which only plans), the script's file (it is what
  // --emit is for), then output.dir.
  if (!opt.list) {
    require_dataset(cfg);
    require_paper_file(cfg);
  }
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

}  // namespace

Command sweep_command() {
  return {"sweep",
          "run a config's grid N cells at a time, each in its own process; resumable (or --emit slurm: a Slurm "
          "job-array script)",
          [](CLI::App& cli, const CommonOptions& common) -> Runner {
            auto o = std::make_shared<SweepCommandOptions>();
            cli.add_option("--jobs,-j", o->jobs, "cells at a time; the CPU cores are split between them")
                ->capture_default_str();
            cli.add_flag("--force", o->force, "redo cells already in the results store");
            cli.add_flag("--retry-failed", o->retry_failed, "run again the cells stored as failed");
            cli.add_flag("--list", o->list, "print every cell (key, state, what it waits for) and run nothing");
            cli.add_option("--emit", o->emit, "slurm: write a job-array submission script instead of running")
                ->check(CLI::IsMember({"slurm"}));
            cli.add_option("--output,-o", o->output, "--emit: write the script to this file (default: stdout)")
                ->check(kNonEmptyPath);
            cli.add_option("--cpus-per-cell", o->cpus_per_cell, "--emit slurm: CPUs of every array task")
                ->capture_default_str();
            cli.add_option("--sbatch-args", o->sbatch_args,
                           "--emit slurm: extra sbatch options, e.g. \"--partition=cpu --time=2:00:00\"");
            return [&common, o] { return cmd_sweep(common, *o); };
          }};
}

}  // namespace qretrain::app
