// Quantization methods: one row each (methods/kinds.h), run by run_experiment.
#pragma once

#include <string>
#include <vector>

#include "methods/cells.h"
#include "methods/kinds.h"
#include "methods/session.h"

namespace qretrain::methods {

// Runs every cell of the config's grid in this process on `device` (the
// command resolves runtime.device), in dependency order; cells already
// stored as successful are skipped unless `force`.
void run_experiment(const config::ExperimentConfig& cfg, const data::Dataset& data, torch::Device device,
                    report::Store& store, bool force);

}  // namespace qretrain::methods
