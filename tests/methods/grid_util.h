// Grids in the tests: a cell by its name, and the number of cells a config's
// grid must have, counted independently of methods::expand_grid.
#pragma once

#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "config/config.h"
#include "methods/cells.h"

namespace qretrain::testing {

inline const methods::Cell& cell_named(const methods::Grid& g, const std::string& name) {
  for (const auto& c : g.cells)
    if (c.name() == name) return c;
  ADD_FAILURE() << "no cell " << name;
  return g.cells.front();
}

// The cells a config's grid must have, counted from its keys by the rules of
// README "Sweeps": per network and seed a float baseline, one cell per bit
// width for direct / conventional / adaptive, one for control, and one per
// stage from quant.gradual.start_bits down to the lowest bit width for
// gradual and adaptive+gradual.
inline std::size_t expected_cells(const config::ExperimentConfig& cfg) {
  const std::size_t networks = std::max<std::size_t>(1, cfg.grid_networks.size());
  const int lowest = *std::min_element(cfg.quant.bits.begin(), cfg.quant.bits.end());
  std::size_t per_seed = 1;
  for (const auto& m : cfg.quant.methods) {
    if (m == "control") per_seed += 1;
    else if (m == "gradual" || m == "adaptive+gradual")
      per_seed += static_cast<std::size_t>(cfg.quant.gradual_start_bits - lowest + 1);
    else per_seed += cfg.quant.bits.size();
  }
  return networks * cfg.seeds.size() * per_seed;
}

}  // namespace qretrain::testing
