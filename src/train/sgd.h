// SGD with (Nesterov) momentum and L2 weight decay, with exactly the update
// rule of torch::optim::SGD (dampening 0), but one fused pass over each
// parameter instead of four tensor ops: on dense networks the update is
// memory-bound and the separate passes cost ~10% of a training step
// (bench/bench_ffdnn.cpp). Gradients are released after each step so that
// backward writes them fresh rather than accumulating into zeroed buffers.
#pragma once

#include <vector>

#include <torch/torch.h>

namespace qretrain::train {

class FusedSgd {
 public:
  FusedSgd(std::vector<torch::Tensor> params, double lr, double momentum, bool nesterov, double weight_decay);

  void set_lr(double lr) { lr_ = lr; }
  // Releases every gradient (torch's zero_grad(set_to_none = true)).
  void zero_grad();
  // p -= lr * d with g = grad + wd p, buf = m buf + g (buf = g at the first
  // step), d = g + m buf (Nesterov) or buf. Parameters without a gradient are
  // left alone, as torch does.
  void step();
  // The momentum buffers (a parameter not yet stepped has none).
  void save(torch::serialize::OutputArchive& archive) const;
  void load(torch::serialize::InputArchive& archive);

 private:
  std::vector<torch::Tensor> params_;
  std::vector<torch::Tensor> momentum_;  // undefined until a parameter's first step
  double lr_, momentum_coef_, weight_decay_;
  bool nesterov_;
};

}  // namespace qretrain::train
