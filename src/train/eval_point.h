// One dev evaluation of a fit, as the trainer records it and the results
// store keeps it. Torch-free, so the store and reports need not include the
// trainer.
#pragma once

#include <cstdint>
#include <vector>

namespace qretrain::train {

struct EvalPoint {
  int epoch = 0;              // epochs completed when evaluated
  std::int64_t updates = 0;   // updates completed
  double lr = 0;
  double train_loss = 0;      // mean loss since the previous evaluation
  double dev_metric = 0;      // the dataset's metric on the dev set (with w_q when quantized)
  double elapsed_s = 0;
  std::vector<double> deltas; // Δ of every weight group (empty for float)
};

}  // namespace qretrain::train
