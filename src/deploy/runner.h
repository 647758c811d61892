// What export-model, infer and signal-table share: a stored cell's network
// packed, the packed file's network as a torch module (the evaluation the
// integer reference is checked against), and a split run through both.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "config/config.h"
#include "data/dataset.h"
#include "deploy/packed.h"
#include "deploy/reference.h"
#include "models/network.h"

namespace qretrain::deploy {

// Where the kept network of a stored cell is (float: the cached baseline);
// a UserError naming it when it is not on this machine.
std::string stored_network_file(const config::ExperimentConfig& cfg, const std::string& method, int bits, int seed);

// The kept network of a stored cell (float: the cached baseline), packed.
// Throws a UserError naming the missing checkpoint. `stored_test`: the
// store's test metric of the cell (NaN when the store lacks it).
PackedModel pack_stored_cell(const config::ExperimentConfig& cfg, const std::string& method, int bits, int seed,
                             const data::Dataset& data, double stored_test);

// The config embedded in a packed file, with its network section.
config::ExperimentConfig config_of(const PackedModel& model);

// A torch module of the file's network holding its weights exactly (w_q for
// quantized groups) and each batch norm as its folded scale and shift.
models::Network module_of(const PackedModel& model);

// Checks the dataset fits the file's network (input shape, classes); a
// UserError naming the file otherwise.
void require_fits(const PackedModel& model, const data::Dataset& data);

struct SplitComparison {
  double reference_metric = 0;  // the integer reference's metric on the split
  double module_metric = 0;     // the torch module's (NaN when not run)
  std::int64_t predictions = 0;
  std::int64_t differing = 0;   // predictions (argmax) that differ between the two
  double max_logit_difference = 0;
  double seconds = 0;           // of the reference alone
};
// Runs `split` through the reference and, when `module` is set, through it too.
SplitComparison compare_on_split(const ReferenceNetwork& reference, models::NetworkImpl* module,
                                 const data::Dataset& data, const data::Split& split);

// Calibration inputs for fixed-point signals: the first `count` training
// examples (images, frames), or `count` characters of the training text as
// 16 streams.
torch::Tensor calibration_batch(const data::Dataset& data, std::int64_t count);

}  // namespace qretrain::deploy
