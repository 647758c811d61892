// The Trainer and the step-size policies on a small synthetic problem.
#include "train/trainer.h"

#include <gtest/gtest.h>

#include "models/network.h"
#include "quant/hook.h"
#include "test_util.h"

namespace qretrain::train {
namespace {

// Four Gaussian clusters in 16 dimensions: learnable to well under 10% error.
data::Dataset clusters(int n_train = 2000, int n_eval = 400) {
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

models::Network small_ffdnn(const data::Dataset& d) {
  config::NetworkConfig net;
  net.kind = "ffdnn";
  net.hidden = {32, 32};
  return models::make_network(net, {d.input_shape, d.num_classes});
}

FitOptions options(double lr, int epochs) {
  FitOptions o;
  o.train.optimizer = "sgd_nesterov";
  o.train.momentum = 0.9;
  o.train.batch_size = 32;
  o.train.patience = 4;
  o.train.lr_decay = 0.5;
  o.recipe = {lr, lr / 1000, epochs};
  o.tag = "test";
  return o;
}

TEST(Trainer, TinyFloatTrainingLearns) {
  auto data = clusters();
  auto model = small_ffdnn(data);
  Trainer trainer(model, data, torch::kCPU);
  const double before = trainer.evaluate(data.test);
  FitResult r = trainer.fit(options(0.05, 5));
  const double after = trainer.evaluate(data.test);
  EXPECT_GT(before, 40.0);
  EXPECT_LT(after, 10.0);
  EXPECT_EQ(r.curve.size(), 6u);  // initial evaluation + one per epoch
  // The model is left at the best dev evaluation.
  EXPECT_DOUBLE_EQ(trainer.evaluate(data.dev), r.best_dev);
}

std::vector<std::vector<double>> delta_history(const StepPolicy& policy, int epochs) {
  auto data = clusters();
  auto model = small_ffdnn(data);
  Trainer(model, data, torch::kCPU).fit(options(0.05, 3));
  quant::QuantHook hook(*model, 2);
  auto opt = options(0.02, epochs);
  opt.policy = policy;
  FitResult r = Trainer(model, data, torch::kCPU, &hook).fit(opt);
  std::vector<std::vector<double>> out;
  for (const auto& p : r.curve) out.push_back(p.deltas);
  return out;
}

TEST(Trainer, ConventionalKeepsStepBitIdentical) {
  auto h = delta_history(StepPolicy{}, 3);
  ASSERT_EQ(h.size(), 4u);
  for (const auto& d : h) EXPECT_EQ(d, h[0]);  // exact equality, every group
}

TEST(Trainer, AdaptiveEpochChangesStepEveryEpoch) {
  auto h = delta_history(StepPolicy{StepPolicy::When::EpochEnd, 0}, 3);
  ASSERT_EQ(h.size(), 4u);
  for (std::size_t i = 1; i < h.size(); ++i) EXPECT_NE(h[i], h[i - 1]) << "evaluation " << i;
}

TEST(Trainer, AdaptiveFirstEpochsFreezesAfterK) {
  auto h = delta_history(StepPolicy{StepPolicy::When::EveryUpdateFirstEpochs, 1}, 3);
  ASSERT_EQ(h.size(), 4u);
  EXPECT_NE(h[1], h[0]);  // updated during the first epoch
  EXPECT_EQ(h[2], h[1]);  // then frozen
  EXPECT_EQ(h[3], h[1]);
}

TEST(Trainer, EvaluationUsesQuantizedWeights) {
  auto data = clusters();
  auto model = small_ffdnn(data);
  Trainer(model, data, torch::kCPU).fit(options(0.05, 2));
  quant::QuantHook hook(*model, 2);
  const double quantized = Trainer(model, data, torch::kCPU, &hook).evaluate(data.test);
  // Substitute Q(w) by hand and evaluate without the hook: same error.
  {
    torch::NoGradGuard no_grad;
    for (const auto& g : hook.groups()) g.param.copy_(quant::quantize_tensor(g.param, g.delta, 2));
  }
  EXPECT_DOUBLE_EQ(Trainer(model, data, torch::kCPU).evaluate(data.test), quantized);
}

TEST(Trainer, DivergenceIsReported) {
  auto data = clusters();
  auto model = small_ffdnn(data);
  Trainer trainer(model, data, torch::kCPU);
  auto opt = options(1e6, 3);  // absurd learning rate
  opt.train.momentum = 0.99;
  EXPECT_THROW(trainer.fit(opt), Diverged);
}

TEST(Trainer, CheckpointRoundTripKeepsWeightsAndSteps) {
  auto data = clusters();
  auto model = small_ffdnn(data);
  qretrain::testing::TempDir dir;
  save_checkpoint(dir.file("m.pt"), *model, {0.25, 0.5, 0.125});
  auto other = small_ffdnn(data);
  auto deltas = load_checkpoint(dir.file("m.pt"), *other);
  EXPECT_EQ(deltas, (std::vector<double>{0.25, 0.5, 0.125}));
  auto pa = model->parameters(), pb = other->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));
}

}  // namespace
}  // namespace qretrain::train
