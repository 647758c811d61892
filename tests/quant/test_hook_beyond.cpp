// Beyond the paper: per-channel Δ against QStep one row at a time, LSQ's step
// gradient against a finite difference, Δ's positivity, per-layer bit widths.
#include <cmath>
#include <functional>
#include <set>

#include <gtest/gtest.h>

#include "quant/hand_quantize.h"
#include "quant/hook.h"
#include "quant/qstep.h"

namespace qretrain::quant {
namespace {

using qretrain::testing::hand_quantize;

HookOptions options(int bits, Granularity granularity, StepRule rule = StepRule::Fitted) {
  HookOptions o(bits);
  o.granularity = granularity;
  o.rule = rule;
  return o;
}

// Every group's Δ per channel equals QStep of that channel's weights alone,
// and w_q inside a scope is each row quantized with its own Δ.
void expect_per_row_qstep(torch::nn::Module& module, int bits) {
  QuantHook hook(module, options(bits, Granularity::Channel));
  ASSERT_FALSE(hook.groups().empty());
  std::vector<torch::Tensor> expected_wq;
  for (const auto& g : hook.groups()) {
    SCOPED_TRACE(g.name);
    const torch::Tensor w = g.weights.detach().contiguous();
    ASSERT_EQ(static_cast<std::int64_t>(g.deltas.size()), w.size(0));
    std::vector<torch::Tensor> rows;
    for (std::int64_t r = 0; r < w.size(0); ++r) {
      const torch::Tensor row = w[r].contiguous();
      const double alone = qstep(row.data_ptr<float>(), static_cast<std::size_t>(row.numel()), bits).delta;
      EXPECT_EQ(g.deltas[static_cast<std::size_t>(r)], alone) << "row " << r;
      rows.push_back(hand_quantize(row, static_cast<float>(alone), bits));  // the quantizer's Δ is a float
    }
    expected_wq.push_back(torch::stack(rows));
  }
  // The rows really have different steps (else per channel = per tensor).
  const auto& first = hook.groups().front().deltas;
  EXPECT_GT(*std::max_element(first.begin(), first.end()), *std::min_element(first.begin(), first.end()) * 1.01);
  QuantizedScope scope(&hook);
  for (std::size_t i = 0; i < hook.groups().size(); ++i)
    EXPECT_TRUE(torch::equal(hook.groups()[i].param, expected_wq[i])) << hook.groups()[i].name;
}

TEST(HookPerChannel, LinearRowsEachGetTheirOwnQStep) {
  torch::manual_seed(11);
  torch::nn::Linear lin(30, 12);
  {
    torch::NoGradGuard no_grad;  // rows of different scales
    lin->weight.mul_(torch::linspace(0.2, 3.0, 12).unsqueeze(1));
  }
  expect_per_row_qstep(*lin, 3);
}

TEST(HookPerChannel, Conv2dOutputChannelsAndLstmRowsToo) {
  torch::manual_seed(12);
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 5, 3));
  expect_per_row_qstep(*conv, 2);
  torch::nn::LSTM lstm(torch::nn::LSTMOptions(4, 6));
  expect_per_row_qstep(*lstm, 2);  // W_ih and W_hh: 24 rows each (4 gates x 6 units)
}

TEST(HookPerChannel, FlatStepSizesRoundTripAndSummaryIsTheMean) {
  torch::manual_seed(13);
  torch::nn::Linear lin(10, 4);
  QuantHook hook(*lin, options(2, Granularity::Channel));
  const auto steps = hook.step_sizes();
  ASSERT_EQ(steps.size(), 4u);
  EXPECT_NEAR(hook.group_step_sizes()[0], (steps[0] + steps[1] + steps[2] + steps[3]) / 4, 1e-15);
  hook.set_step_sizes({0.1, 0.2, 0.3, 0.4});
  EXPECT_EQ(hook.step_sizes(), (std::vector<double>{0.1, 0.2, 0.3, 0.4}));
  EXPECT_THROW(hook.set_step_sizes({0.1}), c10::Error);  // a per-tensor checkpoint does not fit
}

// ---- per-layer bit widths ----

std::size_t distinct_values(const torch::Tensor& t) {
  const torch::Tensor c = t.detach().to(torch::kFloat64).contiguous();
  std::set<double> values(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  return values.size();
}

TEST(HookLayerBits, EachGroupHasAtMostItsOwnLevelCount) {
  torch::manual_seed(14);
  torch::nn::Sequential net(torch::nn::Linear(40, 50), torch::nn::Linear(50, 50), torch::nn::Linear(50, 6));
  HookOptions o = options(2, Granularity::Tensor);
  o.layer_bits = {{"first", 8}, {"last", 8}, {"2.weight", 3}};  // a name wins over first / last
  QuantHook hook(*net, o);
  ASSERT_EQ(hook.groups().size(), 3u);
  EXPECT_EQ(hook.groups()[0].bits, 8);
  EXPECT_EQ(hook.groups()[1].bits, 2);
  EXPECT_EQ(hook.groups()[2].bits, 3);
  QuantizedScope scope(&hook);
  const std::size_t first = distinct_values(hook.groups()[0].param);
  const std::size_t middle = distinct_values(hook.groups()[1].param);
  const std::size_t last = distinct_values(hook.groups()[2].param);
  EXPECT_LE(first, 255u);
  EXPECT_GT(first, 7u);  // really more than a 3-bit group could hold
  EXPECT_LE(middle, 3u);
  EXPECT_LE(last, 7u);
  EXPECT_GT(last, 3u);
}

TEST(HookLayerBits, UnknownGroupNamesTheKeyAndTheGroups) {
  torch::nn::Sequential net(torch::nn::Linear(4, 4), torch::nn::Linear(4, 2));
  HookOptions o = options(2, Granularity::Tensor);
  o.layer_bits = {{"fc9.weight", 8}};
  try {
    QuantHook hook(*net, o);
    FAIL() << "an unknown group was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("'fc9.weight'"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("0.weight, 1.weight"), std::string::npos) << e.what();
  }
}

// ---- LSQ ----

// The loss of a small double-precision network against a fixed random target.
struct TinyProblem {
  std::shared_ptr<torch::nn::Module> module;  // what the hook quantizes
  std::function<torch::Tensor()> loss;
  torch::nn::Sequential net{nullptr};  // linear_problem's, whose forward the autograd reference writes out
  torch::Tensor x, y;
};

TinyProblem linear_problem() {
  torch::manual_seed(21);
  TinyProblem p;
  p.net = torch::nn::Sequential(torch::nn::Linear(12, 9), torch::nn::Tanh(), torch::nn::Linear(9, 3));
  p.net->to(torch::kFloat64);
  p.x = torch::randn({16, 12}, torch::kFloat64);
  p.y = torch::randn({16, 3}, torch::kFloat64);
  p.module = p.net.ptr();
  p.loss = [net = p.net, x = p.x, y = p.y]() mutable { return (net->forward(x) - y).pow(2).mean(); };
  return p;
}

TinyProblem conv_problem() {
  torch::manual_seed(25);
  TinyProblem p;
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(2, 4, 3));
  conv->to(torch::kFloat64);
  const auto x = torch::randn({3, 2, 6, 6}, torch::kFloat64), y = torch::randn({3, 4, 4, 4}, torch::kFloat64);
  p.module = conv.ptr();
  p.loss = [conv, x, y]() mutable { return (torch::tanh(conv->forward(x)) - y).pow(2).mean(); };
  return p;
}

TinyProblem lstm_problem() {
  torch::manual_seed(26);
  TinyProblem p;
  torch::nn::LSTM lstm(torch::nn::LSTMOptions(4, 5));
  lstm->to(torch::kFloat64);
  const auto x = torch::randn({6, 3, 4}, torch::kFloat64), y = torch::randn({6, 3, 5}, torch::kFloat64);
  p.module = lstm.ptr();
  p.loss = [lstm, x, y]() mutable { return (std::get<0>(lstm->forward(x)) - y).pow(2).mean(); };
  return p;
}

HookOptions lsq_options(int bits, Granularity granularity, bool grad_scale) {
  HookOptions o = options(bits, granularity, StepRule::Learned);
  o.lsq_grad_scale = grad_scale;
  return o;
}

// The hook's ∂L/∂Δ (flat, as step_sizes()) after one forward/backward of `p`.
std::vector<double> hook_step_gradients(TinyProblem& p, QuantHook& hook) {
  {
    QuantizedScope scope(&hook);
    p.loss().backward();
  }
  hook.accumulate_step_gradients();
  return hook.last_step_gradients();
}

// LSQ's step gradient is, by definition, the derivative of the loss through
// the straight-through surrogate of the rounding: with Δ0 the current step
// and v0 = w/Δ0, w_q(Δ) = w + Δ·(round(v0) − v0) where |v0| < Q_P and
// sign(w)·Q_P·Δ where w is clipped (equal to Q(w, Δ0) at Δ = Δ0). Its central
// difference in Δ, built here with plain tensor ops, must equal the hook's
// gradient (times g = 1/√(N·Q_P) when scaled).
void expect_step_gradient_matches_finite_difference(Granularity granularity, bool grad_scale, int bits,
                                                    TinyProblem (*make)() = linear_problem) {
  TinyProblem p = make();
  QuantHook hook(*p.module, lsq_options(bits, granularity, grad_scale));
  const std::vector<double> got = hook_step_gradients(p, hook);
  ASSERT_EQ(got.size(), hook.step_sizes().size());

  const double q = std::pow(2.0, bits - 1) - 1;
  std::size_t k = 0;
  for (const auto& g : hook.groups()) {
    const torch::Tensor w = g.weights.detach().reshape({g.channels, -1});
    for (std::int64_t c = 0; c < g.channels; ++c, ++k) {
      const double d0 = g.deltas[static_cast<std::size_t>(c)];
      const torch::Tensor v0 = w[c] / d0;
      const torch::Tensor inside = v0.abs() < q;
      const torch::Tensor rounded = torch::sign(v0) * torch::floor(v0.abs() + 0.5);
      auto surrogate_loss = [&](double delta) {
        torch::NoGradGuard no_grad;
        torch::Tensor wq_rows = w.clone();
        // Other channels keep Q(w, Δ0) of their own step.
        for (std::int64_t o2 = 0; o2 < g.channels; ++o2)
          wq_rows[o2] = hand_quantize(w[o2], g.deltas[static_cast<std::size_t>(o2)], bits).to(torch::kFloat64);
        wq_rows[c] = torch::where(inside, w[c] + delta * (rounded - v0), torch::sign(w[c]) * q * delta);
        // Every other group at its quantized value too.
        std::vector<torch::Tensor> saved;
        for (const auto& other : hook.groups()) {
          saved.push_back(other.param.data());
          if (other.name == g.name) {
            other.param.set_data(wq_rows.reshape(g.weights.sizes()));
          } else {
            std::vector<torch::Tensor> rows;
            const torch::Tensor ow = other.weights.reshape({other.channels, -1});
            for (std::int64_t r = 0; r < other.channels; ++r)
              rows.push_back(
                  hand_quantize(ow[r], other.deltas[static_cast<std::size_t>(r)], bits).to(torch::kFloat64));
            other.param.set_data(torch::stack(rows).reshape(other.weights.sizes()));
          }
        }
        const double l = p.loss().item<double>();
        for (std::size_t i = 0; i < saved.size(); ++i) hook.groups()[i].param.set_data(saved[i]);
        return l;
      };
      // The surrogate is Q(w, Δ0) at Δ0 (else it would differentiate something else).
      const torch::Tensor at_d0 = torch::where(inside, w[c] + d0 * (rounded - v0), torch::sign(w[c]) * q * d0);
      EXPECT_TRUE(torch::allclose(at_d0, hand_quantize(w[c], d0, bits).to(torch::kFloat64), 0, 1e-6 * d0));
      const double h = 1e-4 * d0;
      double expected = (surrogate_loss(d0 + h) - surrogate_loss(d0 - h)) / (2 * h);
      if (grad_scale) expected /= std::sqrt(static_cast<double>(g.channel_size()) * q);
      EXPECT_NEAR(got[k], expected, 1e-6 * std::max(1.0, std::fabs(expected)))
          << g.name << " channel " << c << " bits " << bits;
    }
  }
  // Not vacuous: some step gradient is far from zero.
  double largest = 0;
  for (double v : got) largest = std::max(largest, std::fabs(v));
  EXPECT_GT(largest, 1e-4);
}

TEST(HookLsq, StepGradientEqualsFiniteDifferenceWithGradScale) {
  expect_step_gradient_matches_finite_difference(Granularity::Tensor, true, 2);
  expect_step_gradient_matches_finite_difference(Granularity::Tensor, true, 3);
}

TEST(HookLsq, StepGradientEqualsFiniteDifferenceWithoutGradScale) {
  expect_step_gradient_matches_finite_difference(Granularity::Tensor, false, 2);
}

TEST(HookLsq, StepGradientOfConv2dAndLstmEqualsFiniteDifference) {
  expect_step_gradient_matches_finite_difference(Granularity::Tensor, true, 2, conv_problem);
  expect_step_gradient_matches_finite_difference(Granularity::Channel, true, 3, conv_problem);
  expect_step_gradient_matches_finite_difference(Granularity::Tensor, true, 2, lstm_problem);
  expect_step_gradient_matches_finite_difference(Granularity::Channel, false, 3, lstm_problem);
}

TEST(HookLsq, StepGradientPerChannelEqualsFiniteDifference) {
  expect_step_gradient_matches_finite_difference(Granularity::Channel, true, 3);
}

// A second, independent reference: LSQ as its paper writes it in autograd,
// ŵ = round(clip(w/s, −Q_P, Q_P))·s with round passed straight through and s
// scaled by g only in the backward pass (s·g + (s − s·g).detach()), in double.
void expect_step_gradient_matches_autograd_lsq(Granularity granularity, bool grad_scale, int bits) {
  TinyProblem p = linear_problem();
  QuantHook hook(*p.module, lsq_options(bits, granularity, grad_scale));
  const std::vector<double> got = hook_step_gradients(p, hook);

  const double q = std::pow(2.0, bits - 1) - 1;
  // ŵ of every group from its float weights and a step tensor s that
  // autograd differentiates; the parameters cannot carry that graph, so the
  // forward of this Sequential is written out below.
  std::vector<torch::Tensor> steps, w_hat;
  for (const auto& g : hook.groups()) {
    torch::Tensor s = torch::tensor(g.deltas, torch::kFloat64).set_requires_grad(true);
    steps.push_back(s);
    const double scale = grad_scale ? 1.0 / std::sqrt(static_cast<double>(g.channel_size()) * q) : 1.0;
    torch::Tensor s_used = (s * scale + (s - s * scale).detach()).unsqueeze(1);
    torch::Tensor v = (g.weights.detach().reshape({g.channels, -1}) / s_used).clamp(-q, q);
    torch::Tensor v_rounded = v + (torch::round(v) - v).detach();
    w_hat.push_back((v_rounded * s_used).reshape(g.weights.sizes()));
  }
  auto params = p.net->named_parameters();
  torch::Tensor h = torch::tanh(torch::nn::functional::linear(p.x, w_hat[0], params["0.bias"].detach()));
  torch::Tensor out = torch::nn::functional::linear(h, w_hat[1], params["2.bias"].detach());
  (out - p.y).pow(2).mean().backward();
  std::size_t k = 0;
  for (const auto& s : steps)
    for (std::int64_t c = 0; c < s.numel(); ++c, ++k)
      EXPECT_NEAR(got[k], s.grad()[c].item<double>(), 1e-9 * std::max(1.0, std::fabs(got[k]))) << "step " << k;
  EXPECT_EQ(k, got.size());
}

TEST(HookLsq, StepGradientEqualsAnAutogradLsqReference) {
  expect_step_gradient_matches_autograd_lsq(Granularity::Tensor, true, 2);
  expect_step_gradient_matches_autograd_lsq(Granularity::Tensor, false, 3);
  expect_step_gradient_matches_autograd_lsq(Granularity::Channel, true, 2);
}

// Δ → θ → Δ is exact, also for steps near 1 (a resumed or restored LSQ run
// must quantize with the very same Δ).
TEST(HookLsq, LearnedStepsRoundTripBitForBit) {
  torch::manual_seed(23);
  torch::nn::Linear lin(16, 64);
  QuantHook hook(*lin, options(2, Granularity::Channel, StepRule::Learned));
  {
    torch::NoGradGuard no_grad;
    hook.learned_steps()[0].copy_(torch::linspace(-4.0, 2.0, 64));  // Δ from 0.018 to 7.4
  }
  hook.after_update();
  const torch::Tensor theta = hook.learned_steps()[0].detach().clone();
  const std::vector<double> steps = hook.step_sizes();
  hook.set_step_sizes(steps);
  EXPECT_TRUE(torch::equal(hook.learned_steps()[0], theta));
  hook.after_update();
  EXPECT_EQ(hook.step_sizes(), steps);
}

// An all-zero channel has QStep Δ = 0: its learned step starts at the mean
// of the others, and moving weights keep every step finite and positive.
TEST(HookLsq, AllZeroChannelGetsAUsableStep) {
  torch::manual_seed(24);
  torch::nn::Linear lin(8, 4);
  {
    torch::NoGradGuard no_grad;
    lin->weight[2].zero_();
  }
  QuantHook hook(*lin, options(2, Granularity::Channel, StepRule::Learned));
  hook.after_update();
  const auto steps = hook.step_sizes();
  EXPECT_NEAR(steps[2], (steps[0] + steps[1] + steps[3]) / 3, 1e-6 * steps[2]);
  torch::optim::SGD sgd(std::vector<torch::Tensor>{lin->weight}, torch::optim::SGDOptions(0.05));
  torch::optim::SGD steps_sgd(hook.learned_steps(), torch::optim::SGDOptions(0.05));
  const auto x = torch::randn({32, 8});
  for (int i = 0; i < 5; ++i) {
    {
      QuantizedScope scope(&hook);
      sgd.zero_grad();
      steps_sgd.zero_grad();
      (lin->forward(x) - 1).pow(2).mean().backward();
    }
    hook.accumulate_step_gradients();
    sgd.step();
    steps_sgd.step();
    hook.after_update();
  }
  EXPECT_GT(lin->weight[2].abs().sum().item<double>(), 0);  // the zero channel's weights did move
  for (double d : hook.step_sizes()) {
    EXPECT_TRUE(std::isfinite(d));
    EXPECT_GT(d, 0);
  }
}

TEST(HookLsq, ClippedWeightsGetNoGradientTheOthersKeepTheirs) {
  TinyProblem p = linear_problem();
  QuantHook hook(*p.module, options(2, Granularity::Tensor, StepRule::Learned));
  {
    QuantizedScope scope(&hook);
    p.loss().backward();
  }
  const torch::Tensor before = hook.groups()[0].param.grad().clone();
  hook.accumulate_step_gradients();
  const auto& g = hook.groups()[0];
  const torch::Tensor clipped = (g.weights / g.deltas[0]).abs() >= 1;  // Q_P = 1 at 2 bits
  ASSERT_GT(clipped.sum().item<int64_t>(), 0);
  ASSERT_LT(clipped.sum().item<int64_t>(), g.weights.numel());
  EXPECT_TRUE(torch::equal(g.param.grad().masked_select(clipped), torch::zeros_like(before.masked_select(clipped))));
  EXPECT_TRUE(torch::equal(g.param.grad().masked_select(~clipped), before.masked_select(~clipped)));
}

// Δ = exp(θ): a learning rate at which LSQ's own step Δ − lr·∂L/∂Δ would be
// negative leaves Δ positive; a small one moves Δ as LSQ's step does.
TEST(HookLsq, StepStaysPositiveAndSmallStepsAreLsqSteps) {
  for (double lr_factor : {20.0, 1e-3}) {
    TinyProblem p = linear_problem();
    QuantHook hook(*p.module, options(2, Granularity::Tensor, StepRule::Learned));
    const double d0 = hook.step_sizes()[0];
    {
      QuantizedScope scope(&hook);
      p.loss().backward();
    }
    hook.accumulate_step_gradients();
    const double grad = hook.last_step_gradients()[0];
    ASSERT_GT(std::fabs(grad), 0);
    // Learning rate at which LSQ's step would move Δ by lr_factor·Δ0 (20: far below zero when the gradient is
    // positive, far up when negative; the sign is fixed below by descending on ±L).
    const double lr = lr_factor * d0 / std::fabs(grad);
    if (grad < 0) {  // descend on −L instead, so that the additive step goes down
      for (const auto& s : hook.learned_steps()) s.mutable_grad().neg_();
    }
    torch::optim::SGD sgd(hook.learned_steps(), torch::optim::SGDOptions(lr));
    sgd.step();
    hook.after_update();
    const double d1 = hook.step_sizes()[0];
    EXPECT_GT(d1, 0) << "lr factor " << lr_factor;
    EXPECT_TRUE(std::isfinite(d1));
    if (lr_factor < 1) EXPECT_NEAR(d1, d0 - lr * std::fabs(grad), 1e-3 * lr_factor * d0);  // LSQ to first order
    else EXPECT_LT(d0 - lr * std::fabs(grad), 0);  // LSQ's additive step would have been negative
    QuantizedScope scope(&hook);
    EXPECT_TRUE(torch::isfinite(hook.groups()[0].param).all().item<bool>());
  }
}

TEST(HookLsq, MeanInitialisationIsLsqs) {
  torch::manual_seed(22);
  torch::nn::Linear lin(20, 7);
  HookOptions o = options(3, Granularity::Tensor, StepRule::Learned);
  o.lsq_mean_init = true;
  QuantHook hook(*lin, o);
  const double expected = 2 * lin->weight.abs().mean().item<double>() / std::sqrt(3.0);
  EXPECT_NEAR(hook.step_sizes()[0], expected, 1e-6 * expected);
  EXPECT_NEAR(std::exp(hook.learned_steps()[0].item<double>()), expected, 1e-5 * expected);
}

}  // namespace
}  // namespace qretrain::quant
