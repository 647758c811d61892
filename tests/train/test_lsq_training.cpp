// LSQ through the Trainer: learned steps move and the retraining learns; an
// interrupted LSQ retraining resumes exactly (θ = log Δ and its momentum are
// part of the training state).
#include <cmath>
#include <filesystem>

#include <gtest/gtest.h>

#include "quant/hook.h"
#include "test_util.h"
#include "train/resume_util.h"
#include "train/trainer.h"

namespace qretrain::train {
namespace {

using qretrain::testing::clusters;
using qretrain::testing::expect_same_fit;
using qretrain::testing::fit_quantized;
using qretrain::testing::FitOutcome;
using qretrain::testing::options;
using qretrain::testing::small_ffdnn;

quant::HookOptions lsq(quant::Granularity granularity) {
  quant::HookOptions o(2);
  o.granularity = granularity;
  o.rule = quant::StepRule::Learned;
  return o;
}

TEST(TrainerLsq, LearnedStepsMoveAndRetrainingBeatsDirectQuantization) {
  auto data = clusters(960, 400);
  auto model = small_ffdnn(data);
  Trainer(model, data, torch::kCPU).fit(options(0.05, 3));
  quant::QuantHook hook(*model, lsq(quant::Granularity::Tensor));
  const std::vector<double> initial = hook.step_sizes();
  Trainer trainer(model, data, torch::kCPU, &hook);
  const double direct = trainer.evaluate(data.dev);
  FitResult r = trainer.fit(options(0.05, 4));
  const std::vector<double> learned = hook.step_sizes();
  ASSERT_EQ(learned.size(), initial.size());
  double largest_move = 0;
  for (std::size_t i = 0; i < learned.size(); ++i) {
    EXPECT_GT(learned[i], 0);
    largest_move = std::max(largest_move, std::fabs(learned[i] / initial[i] - 1));
  }
  EXPECT_GT(largest_move, 1e-3) << "the learned steps did not move";
  // The kept network is the best dev evaluation, the start included; it must be a real gain.
  EXPECT_LT(r.best_dev, direct);
  EXPECT_LT(r.best_dev, 15.0);
  // Its curve records one Δ per layer.
  EXPECT_EQ(r.curve.back().deltas.size(), hook.groups().size());
}

TEST(TrainerLsq, PerChannelCrashThenResumeEqualsUninterrupted) {
  auto data = clusters(960, 200);  // 30 updates per epoch
  auto opt = options(0.05, 3);
  opt.train.patience = 1;
  const auto hook = lsq(quant::Granularity::Channel);
  const FitOutcome whole = fit_quantized(data, opt, "", small_ffdnn, hook);
  qretrain::testing::TempDir dir;
  const std::string state = dir.file("cell.resume.pt");
  auto crashing = opt;
  crashing.checkpoint_every_s = 0;
  crashing.nan_at_update = 47;
  EXPECT_THROW(fit_quantized(data, crashing, state, small_ffdnn, hook), Diverged);
  ASSERT_TRUE(std::filesystem::exists(state));
  const FitOutcome resumed = fit_quantized(data, opt, state, small_ffdnn, hook);
  EXPECT_TRUE(resumed.result.resumed);
  expect_same_fit(whole, resumed);
  EXPECT_GT(whole.deltas.size(), 3u);  // per channel: one Δ per row
}

}  // namespace
}  // namespace qretrain::train
