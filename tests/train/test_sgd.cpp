// The fused SGD update against torch::optim::SGD itself: same parameters after
// several steps, for Nesterov, plain momentum, weight decay and no momentum,
// on contiguous float tensors (fused path) and a transposed one (tensor path);
// and bit for bit against the update rule written out in scalar code, on a
// tensor of several OpenMP chunks (the kernel has one clone per instruction
// set, and an AVX-512 clone that fused multiply-adds would differ in the last
// bits: the results of a run would then depend on the CPU).
#include <cstring>
#include <vector>

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

// The documented rule, one rounding per operation (this file is compiled for
// the baseline instruction set, where GCC has no fused multiply-add to use).
void reference_update(std::vector<float>& p, const std::vector<float>& g, std::vector<float>& buf, float lr, float m,
                      float wd, bool nesterov, bool first) {
  for (std::size_t i = 0; i < p.size(); ++i) {
    const volatile float decay = wd * p[i];
    const float grad = g[i] + decay;
    const volatile float carried = m * buf[i];
    const float b = first ? grad : carried + grad;
    buf[i] = b;
    const volatile float ahead = m * b;
    const float direction = nesterov ? grad + ahead : b;
    const volatile float change = lr * direction;
    p[i] -= change;
  }
}

TEST(FusedSgd, BitIdenticalToTheScalarRuleOnEveryChunk) {
  torch::manual_seed(5);
  const std::int64_t n = 3 * (std::int64_t{1} << 16) + 123;  // 3 full chunks and a tail
  for (const bool nesterov : {true, false}) {
    torch::Tensor param = torch::randn({n}).requires_grad_(true);
    std::vector<float> p(param.data_ptr<float>(), param.data_ptr<float>() + n), buf(n, 0.0f);
    const float lr = 0.037f, m = 0.9f, wd = 1e-3f;
    FusedSgd fused({param}, lr, m, nesterov, wd);
    for (int step = 0; step < 3; ++step) {
      fused.zero_grad();
      const torch::Tensor g = torch::randn({n});
      (param * g).sum().backward();
      fused.step();
      const std::vector<float> grad(g.data_ptr<float>(), g.data_ptr<float>() + n);
      reference_update(p, grad, buf, lr, m, wd, nesterov, step == 0);
    }
    const float* got = param.data_ptr<float>();
    std::int64_t differ = 0, first_differ = -1;
    for (std::int64_t i = 0; i < n; ++i)
      if (std::memcmp(&got[i], &p[static_cast<std::size_t>(i)], sizeof(float)) != 0) {
        if (first_differ < 0) first_differ = i;
        ++differ;
      }
    EXPECT_EQ(differ, 0) << (nesterov ? "nesterov" : "momentum") << ": first at element " << first_differ;
  }
}

}  // namespace
}  // namespace qretrain::train
