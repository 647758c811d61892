// Quantization methods: a registry keyed by the YAML name.
#pragma once

#include <string>
#include <vector>

#include "methods/session.h"

namespace qretrain::methods {

struct Method {
  std::string name;
  std::string help;
  // Runs this method for every bit width in `bits` (a gradual method runs its
  // whole precision chain and records every precision on the way).
  void (*run)(Session& session, const std::vector<int>& bits);
};

const std::vector<Method>& registry();
// Throws UserError listing the valid names.
const Method& find(const std::string& name);

// Runs the float baseline (cached) and every method of the config for every seed.
void run_experiment(const config::ExperimentConfig& cfg, const data::Dataset& data, report::Store& store,
                    bool force);

}  // namespace qretrain::methods
