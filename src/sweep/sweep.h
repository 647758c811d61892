// `qretrain sweep`: a config's grid run N cells at a time, each cell in a
// process of its own (`qretrain cell`), dependencies first, with one progress
// line; resumable at any moment (see cell_files.h for how results travel).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "methods/cells.h"
#include "report/store.h"

namespace qretrain::sweep {

struct SweepOptions {
  std::string program;                 // the qretrain executable's path: argv[0] of the cells, which exec
                                       // the running sweep's own executable (/proc/self/exe)
  std::string config_path;
  std::vector<std::string> overrides;  // --set key=value, passed on to every cell
  int jobs = 1;                        // cells at a time
  bool force = false;                  // redo every cell
  bool retry_failed = false;           // redo cells stored as failed
};

// What a sweep would do with each cell now.
enum class CellState { Done, Failed, Todo };
CellState cell_state(const report::Store& store, const std::string& key, const SweepOptions& opt);

// The --set overrides giving a cell `cores` CPU cores (runtime.cores, or the
// config's own if smaller); the cell splits them between OpenMP and OpenBLAS
// by app::plan_threads, and runtime.threads / runtime.blas_threads in the
// config still win.
std::vector<std::string> thread_overrides(const config::ExperimentConfig& cfg, int cores);
// The cores of this machine split evenly between `jobs` cells.
int cores_per_job(int jobs);

// Runs the sweep; returns the exit status: 0 when every cell has a result
// (failures included), 130 when interrupted by SIGINT/SIGTERM.
int run_sweep(const config::ExperimentConfig& cfg, const methods::Grid& grid, report::Store& store,
              const SweepOptions& opt);

// Exit status of `qretrain cell` whose result was recorded as failed.
constexpr int kCellFailedExit = 3;

}  // namespace qretrain::sweep
