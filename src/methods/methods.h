// Quantization methods: a registry keyed by the YAML name.
#pragma once

#include <string>
#include <vector>

#include "methods/cells.h"
#include "methods/session.h"

namespace qretrain::methods {

struct Method {
  enum class Cells {
    PerBitWidth,  // one independent cell per bit width, after the float baseline
    Chain,        // gradual: start_bits, start_bits-1, ..., min(bits), each after the previous
    Single,       // one cell without a bit width (the control)
  };
  std::string name;
  std::string help;
  Cells cells;
  // Runs one cell of this method (bits = 0 for Single) and records it.
  void (*run_cell)(Session& session, int bits);
};

const std::vector<Method>& registry();
// Throws UserError listing the valid names.
const Method& find(const std::string& name);

// Runs every cell of the config's grid in this process, in dependency order;
// cells already stored as successful are skipped unless `force`.
void run_experiment(const config::ExperimentConfig& cfg, const data::Dataset& data, report::Store& store,
                    bool force);

}  // namespace qretrain::methods
