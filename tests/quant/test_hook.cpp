// The quantized-weight hook against hand-substituted quantized weights.
#include "quant/hook.h"

#include <gtest/gtest.h>

#include "quant/hand_quantize.h"
#include "quant/qstep.h"

namespace qretrain::quant {
namespace {

using qretrain::testing::hand_quantize;

// Copies `from`'s parameters into `to` and replaces every rank>=2 weight with
// its hand-quantized value using the hook's Δ.
void substitute_by_hand(torch::nn::Module& from, torch::nn::Module& to, const QuantHook& hook) {
  torch::NoGradGuard no_grad;
  auto src = from.named_parameters();
  auto dst = to.named_parameters();
  for (const auto& item : src) dst[item.key()].copy_(item.value());
  for (const auto& g : hook.groups()) dst[g.name].copy_(hand_quantize(g.param, g.delta(), hook.bits()));
}

template <typename ModuleHolder>
void expect_same_gradients(ModuleHolder a, ModuleHolder b, const torch::Tensor& input, int bits) {
  QuantHook hook(*a, bits);
  ASSERT_FALSE(hook.groups().empty());
  substitute_by_hand(*a, *b, hook);
  auto float_before = a->named_parameters();
  std::map<std::string, torch::Tensor> before;
  for (const auto& item : float_before) before[item.key()] = item.value().detach().clone();

  auto loss_of = [&](auto& m) {
    auto out = m->forward(input);
    if constexpr (std::is_same_v<decltype(out), std::tuple<torch::Tensor, std::tuple<torch::Tensor, torch::Tensor>>>)
      return std::get<0>(out).pow(2).sum();
    else
      return out.pow(2).sum();
  };
  {
    QuantizedScope scope(&hook);
    loss_of(a).backward();
  }
  loss_of(b).backward();

  auto pb = b->named_parameters();
  for (const auto& item : a->named_parameters()) {
    SCOPED_TRACE(item.key());
    ASSERT_TRUE(item.value().grad().defined());
    EXPECT_TRUE(torch::allclose(item.value().grad(), pb[item.key()].grad(), 1e-5, 1e-6));
    // Outside the scope the parameter holds the float weights again.
    EXPECT_TRUE(torch::equal(item.value(), before[item.key()]));
  }
  // The quantized weights really differ from the float ones (else the test is vacuous).
  bool any_difference = false;
  for (const auto& g : hook.groups())
    any_difference |= !torch::equal(g.param, hand_quantize(g.param, g.delta(), bits));
  EXPECT_TRUE(any_difference);
}

TEST(Hook, WeightGroupsAreWeightTensorsOnly) {
  torch::manual_seed(1);
  torch::nn::Sequential net(torch::nn::Conv2d(torch::nn::Conv2dOptions(1, 4, 3)), torch::nn::BatchNorm2d(4),
                            torch::nn::Flatten(), torch::nn::Linear(4 * 6 * 6, 5));
  auto names = weight_group_names(*net);
  EXPECT_EQ(names, (std::vector<std::string>{"0.weight", "3.weight"}));  // no biases, no batch norm
}

TEST(Hook, LinearGradientEqualsHandSubstitution) {
  torch::manual_seed(2);
  torch::nn::Linear a(7, 5), b(7, 5);
  expect_same_gradients(a, b, torch::randn({11, 7}), 2);
}

TEST(Hook, Conv2dGradientEqualsHandSubstitution) {
  torch::manual_seed(3);
  auto opts = torch::nn::Conv2dOptions(3, 4, 3).padding(1);
  torch::nn::Conv2d a(opts), b(opts);
  expect_same_gradients(a, b, torch::randn({2, 3, 6, 6}), 3);
}

TEST(Hook, LstmGradientEqualsHandSubstitution) {
  torch::manual_seed(4);
  auto opts = torch::nn::LSTMOptions(5, 6).num_layers(2);
  torch::nn::LSTM a(opts), b(opts);
  QuantHook probe(*a, 2);
  EXPECT_EQ(probe.groups().size(), 4u);  // W_ih and W_hh of both layers
  expect_same_gradients(a, b, torch::randn({4, 3, 5}), 2);
}

TEST(Hook, UpdatesAccumulateInTheFloatWeights) {
  torch::manual_seed(5);
  torch::nn::Linear lin(6, 3);
  QuantHook hook(*lin, 2);
  torch::optim::SGD sgd(lin->parameters(), torch::optim::SGDOptions(1e-4));
  auto x = torch::randn({8, 6});
  const auto w0 = lin->weight.detach().clone();
  const auto q0 = hand_quantize(w0, hook.groups()[0].delta(), 2);
  torch::Tensor expected = w0.clone();
  for (int i = 0; i < 3; ++i) {
    {
      QuantizedScope scope(&hook);
      sgd.zero_grad();
      lin->forward(x).sum().backward();
    }
    expected -= 1e-4 * lin->weight.grad();
    sgd.step();
  }
  // The float weights moved by exactly the accumulated updates...
  EXPECT_TRUE(torch::allclose(lin->weight, expected, 0, 1e-7));
  EXPECT_FALSE(torch::equal(lin->weight, w0));
  // ...while tiny updates leave the quantized weights where they were.
  QuantizedScope scope(&hook);
  EXPECT_TRUE(torch::equal(lin->weight, q0));
}

double sse(const torch::Tensor& w, double delta, int bits) {
  return (w.to(torch::kFloat64) - hand_quantize(w, delta, bits).to(torch::kFloat64)).pow(2).sum().item<double>();
}

TEST(Hook, RefitStepsUsesFloatWeightsAndMatchesQStep) {
  torch::manual_seed(6);
  torch::nn::Linear lin(50, 40);
  QuantHook hook(*lin, 3);
  auto w = lin->weight.detach().contiguous();
  StepResult r = qstep(w.data_ptr<float>(), static_cast<std::size_t>(w.numel()), 3);
  EXPECT_DOUBLE_EQ(hook.groups()[0].delta(), r.delta);
  // The float weights change (as retraining changes them): a refit follows them.
  {
    torch::NoGradGuard no_grad;
    lin->weight.mul_(2.5).add_(0.01 * torch::randn_like(lin->weight));
  }
  hook.refit_step_sizes();
  const auto moved = lin->weight.detach().contiguous();
  const double refit = hook.groups()[0].delta();
  EXPECT_DOUBLE_EQ(refit, qstep(moved.data_ptr<float>(), static_cast<std::size_t>(moved.numel()), 3).delta);
  EXPECT_NEAR(refit / r.delta, 2.5, 0.1);  // the scale of the weights moved Δ with it
  // Independently: no Δ on a fine grid around it quantizes the float weights with less error.
  for (double f = 0.80; f <= 1.20; f += 0.005)
    EXPECT_GE(sse(moved, refit * f, 3), sse(moved, refit, 3) * (1 - 1e-9)) << "factor " << f;
  // Inside a quantized scope the weights are w_q: a refit there would fit w_q, not w.
  {
    QuantizedScope scope(&hook);
    EXPECT_THROW(hook.refit_step_sizes(), c10::Error);
  }
  EXPECT_DOUBLE_EQ(hook.groups()[0].delta(), refit);
}

}  // namespace
}  // namespace qretrain::quant
