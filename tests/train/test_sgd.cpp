// The fused SGD update against torch::optim::SGD itself: same parameters after
// several steps, for Nesterov, plain momentum, weight decay and no momentum,
// on contiguous float tensors (fused path) and a transposed one (tensor path).
#include <gtest/gtest.h>

#include "train/sgd.h"

namespace qretrain::train {
namespace {

struct Case {
  double momentum;
  bool nesterov;
  double weight_decay;
};

class FusedSgdMatchesTorch : public ::testing::TestWithParam<Case> {};

TEST_P(FusedSgdMatchesTorch, AfterFiveSteps) {
  const Case c = GetParam();
  torch::manual_seed(3);
  std::vector<torch::Tensor> ours = {torch::randn({37, 5}), torch::randn({129}), torch::randn({6, 4}).t()};
  std::vector<torch::Tensor> theirs;
  for (auto& p : ours) {
    p.requires_grad_(true);
    theirs.push_back(p.detach().clone().requires_grad_(true));
  }
  FusedSgd fused(ours, 0.05, c.momentum, c.nesterov, c.weight_decay);
  torch::optim::SGD reference(theirs,
                              torch::optim::SGDOptions(0.05).momentum(c.momentum).nesterov(c.nesterov).weight_decay(
                                  c.weight_decay));
  for (int step = 0; step < 5; ++step) {
    fused.zero_grad();
    reference.zero_grad();
    for (std::size_t i = 0; i < ours.size(); ++i) {
      auto g = torch::randn(ours[i].sizes());
      // The gradient of sum(p * g) is g: the same for both copies.
      (ours[i] * g).sum().backward();
      (theirs[i] * g).sum().backward();
    }
    if (step == 3) {  // a plateau decay
      fused.set_lr(0.01);
      for (auto& group : reference.param_groups()) static_cast<torch::optim::SGDOptions&>(group.options()).lr(0.01);
    }
    fused.step();
    reference.step();
  }
  for (std::size_t i = 0; i < ours.size(); ++i)
    EXPECT_TRUE(torch::allclose(ours[i], theirs[i], 1e-6, 1e-6)) << "parameter " << i;
  fused.zero_grad();
  for (const auto& p : ours) EXPECT_FALSE(p.grad().defined());
}

INSTANTIATE_TEST_SUITE_P(Variants, FusedSgdMatchesTorch,
                         ::testing::Values(Case{0.9, true, 0.0}, Case{0.9, false, 0.0}, Case{0.9, true, 1e-3},
                                           Case{0.0, false, 1e-3}, Case{0.0, false, 0.0}),
                         [](const auto& info) {
                           const Case& c = info.param;
                           return std::string(c.momentum == 0 ? "plain" : c.nesterov ? "nesterov" : "momentum") +
                                  (c.weight_decay != 0 ? "_decay" : "");
                         });

}  // namespace
}  // namespace qretrain::train
