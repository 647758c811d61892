// A config's grid as cells: one result each (a float baseline, one method at
// one bit width, one stage of a gradual chain), with the cells each depends
// on. `qretrain run` runs them in order in one process; `qretrain sweep`
// runs them in parallel processes or on Slurm; both use this one list.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "config/config.h"

namespace qretrain::methods {

class Session;

struct Cell {
  std::size_t variant = 0;         // index into Grid::variants (one per grid network)
  std::string network;             // table column label
  int seed = 0;
  std::string method;              // "float" for the baseline
  int bits = 0;                    // 0 for float and control
  std::string key;                 // cell_key(): hash of everything that defines its result
  std::vector<std::size_t> after;  // cells that must have succeeded first
  std::string name() const;        // e.g. "256x256 seed 1 adaptive 2-bit"
};

struct Grid {
  std::vector<config::ExperimentConfig> variants;
  std::vector<Cell> cells;  // every cell after the cells it depends on
  // The cell with this key, or nullptr.
  const Cell* find(const std::string& key) const;
};

// Expands and checks a config's grid: unknown methods, an empty grid or two
// cells with the same identity are errors (UserError) before anything runs.
Grid expand_grid(const config::ExperimentConfig& cfg);

// Runs one cell in `session` (which holds its variant and seed): trains or
// loads the baseline, retrains, records the result or the failure.
void run_cell(Session& session, const Cell& cell);

}  // namespace qretrain::methods
