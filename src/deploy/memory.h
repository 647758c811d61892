// The memory bill: each network's weight memory at each bit width of a
// config (the packed file's tensors: weight groups at their bit width,
// biases and folded batch norm as float32), beside float32.
#pragma once

#include <string>

#include "config/config.h"

namespace qretrain::deploy {

// A markdown section for `qretrain table --memory`: one row per network of
// the config, a column per bit width of quant.bits (and gradual's stages).
std::string render_memory_bill(const config::ExperimentConfig& cfg);

}  // namespace qretrain::deploy
