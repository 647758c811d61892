// Small synthetic data and the resume-equals-uninterrupted check, shared by
// tests/train/test_trainer.cpp and tests/train/test_resume_kinds.cpp.
#pragma once

#include <cmath>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "data/dataset.h"
#include "models/network.h"
#include "quant/hook.h"
#include "train/trainer.h"

namespace qretrain::testing {

// Four Gaussian clusters in 16 dimensions: learnable to well under 10% error.
inline data::Dataset clusters(int n_train = 2000, int n_eval = 400) {
  torch::manual_seed(11);
  auto centers = torch::randn({4, 16}) * 1.5;
  auto make = [&](int n) {
    auto y = torch::randint(0, 4, {n}, torch::kInt64);
    auto x = centers.index_select(0, y) + torch::randn({n, 16});
    return data::Split::of(x.view({n, 1, 4, 4}).contiguous(), y);
  };
  data::Dataset d;
  d.name = "clusters";
  d.input_shape = {1, 4, 4};
  d.num_classes = 4;
  d.train = make(n_train);
  d.dev = make(n_eval);
  d.test = make(n_eval);
  return d;
}

inline models::Network small_ffdnn(const data::Dataset& d) {
  config::NetworkConfig net;
  net.kind = "ffdnn";
  net.hidden = {32, 32};
  return models::make_network(net, {d.input_shape, d.num_classes});
}

inline train::FitOptions options(double lr, int epochs) {
  train::FitOptions o;
  o.train.optimizer = "sgd_nesterov";
  o.train.momentum = 0.9;
  o.train.batch_size = 32;
  o.train.patience = 4;
  o.train.lr_decay = 0.5;
  o.recipe = {lr, lr / 1000, epochs};
  o.tag = "test";
  return o;
}

// A fit that stops (crash or signal) and is resumed from its saved training
// state ends exactly where an uninterrupted fit ends: same weights, same Δ,
// same curve, same step count.
struct FitOutcome {
  train::FitResult result;
  std::vector<torch::Tensor> state;  // parameters then buffers (batch-norm statistics)
  std::vector<double> deltas;
};

using NetworkFactory = std::function<models::Network(const data::Dataset&)>;

// A 2-bit retraining whose Δ moves every update (a strict check), from the
// network `make` builds after torch::manual_seed(3): refit by QStep, or with
// `hook_options` (e.g. learned steps) trained by the optimizer.
inline FitOutcome fit_quantized(const data::Dataset& data, train::FitOptions opt, const std::string& resume_path = "",
                                const NetworkFactory& make = small_ffdnn,
                                const std::optional<quant::HookOptions>& hook_options = std::nullopt) {
  torch::manual_seed(3);
  auto model = make(data);
  quant::QuantHook hook(*model, hook_options ? *hook_options : quant::HookOptions{2});
  if (!hook_options) {
    opt.policy.when = train::StepPolicy::When::EveryUpdateFirstEpochs;
    opt.policy.first_epochs = 2;
  }
  opt.resume_path = resume_path;
  train::Trainer trainer(model, data, torch::kCPU, &hook);
  FitOutcome out;
  out.result = trainer.fit(opt);
  out.state = models::copy_state(*model);
  out.deltas = hook.step_sizes();
  return out;
}

inline void expect_same_fit(const FitOutcome& a, const FitOutcome& b) {
  EXPECT_EQ(a.result.updates, b.result.updates);
  EXPECT_EQ(a.result.epochs, b.result.epochs);
  EXPECT_EQ(a.result.best_index, b.result.best_index);
  EXPECT_EQ(a.result.best_dev, b.result.best_dev);
  EXPECT_EQ(a.deltas, b.deltas);
  ASSERT_EQ(a.result.curve.size(), b.result.curve.size());
  for (std::size_t i = 0; i < a.result.curve.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_EQ(a.result.curve[i].updates, b.result.curve[i].updates);
    EXPECT_EQ(a.result.curve[i].lr, b.result.curve[i].lr);
    EXPECT_EQ(a.result.curve[i].dev_metric, b.result.curve[i].dev_metric);
    const double la = a.result.curve[i].train_loss, lb = b.result.curve[i].train_loss;
    EXPECT_TRUE(la == lb || (std::isnan(la) && std::isnan(lb))) << la << " vs " << lb;
    EXPECT_EQ(a.result.curve[i].deltas, b.result.curve[i].deltas);
  }
  ASSERT_EQ(a.state.size(), b.state.size());
  for (std::size_t i = 0; i < a.state.size(); ++i) EXPECT_TRUE(torch::equal(a.state[i], b.state[i])) << i;
}

}  // namespace qretrain::testing
