// The optimizers a Trainer can use, behind one small interface: the plateau
// schedule only needs to set the learning rate.
#pragma once

#include <memory>
#include <vector>

#include <torch/torch.h>

#include "config/config.h"

namespace qretrain::train {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  virtual void zero_grad() = 0;
  virtual void step() = 0;
  virtual void set_lr(double lr) = 0;
  // Momentum / running averages, for resuming an interrupted fit exactly.
  virtual void save(torch::serialize::OutputArchive& archive) const = 0;
  virtual void load(torch::serialize::InputArchive& archive) = 0;
};

// train.optimizer: sgd / sgd_nesterov -> FusedSgd (train/sgd.h);
// rmsprop -> torch RMSprop with AdaDelta's decay ρ = 0.95 and ε = 1e-6 (the
// paper's "AdaDelta based SGD" with a learning rate of 5e-4: Zeiler's AdaDelta
// scales its steps by a second running average that starts at zero, and at
// that learning rate does not move the weights, see README);
// adam -> torch Adam with its defaults.
std::unique_ptr<Optimizer> make_optimizer(std::vector<torch::Tensor> params, const config::TrainConfig& train,
                                          double lr);

}  // namespace qretrain::train
