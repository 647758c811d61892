// `qretrain sweep --emit slurm`: the grid as Slurm job arrays for clusters
// with a shared file system. One array per dependency level (float
// baselines, then the cells that need them, then each further stage of a
// gradual chain), each array after the previous one (afterany: a cell whose
// dependency failed records that itself), and a last job that merges the
// result files into the store (`qretrain collect`).
#pragma once

#include <string>

#include "config/config.h"
#include "methods/cells.h"
#include "report/store.h"
#include "sweep/sweep.h"

namespace qretrain::sweep {

struct SlurmOptions {
  int cpus_per_cell = 1;    // --cpus-per-task of every array task
  std::string sbatch_args;  // extra sbatch options, e.g. "--partition=gpu --time=4:00:00"
};

// The submission script; cells the store already holds (as `cell_state`
// decides) are left out.
std::string slurm_script(const config::ExperimentConfig& cfg, const methods::Grid& grid, const report::Store& store,
                         const SweepOptions& sweep, const SlurmOptions& slurm);

}  // namespace qretrain::sweep
