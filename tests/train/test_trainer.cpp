// The Trainer and the step-size policies on a small synthetic problem.
#include "train/trainer.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <set>

#include <fmt/format.h>

#include <gtest/gtest.h>

#include "models/network.h"
#include "quant/hook.h"
#include "quant/hand_quantize.h"
#include "quant/qstep.h"
#include "test_util.h"
#include "train/resume_util.h"

namespace qretrain::train {
namespace {

using qretrain::testing::clusters;
using qretrain::testing::expect_same_fit;
using qretrain::testing::fit_quantized;
using qretrain::testing::FitOutcome;
using qretrain::testing::options;
using qretrain::testing::small_ffdnn;

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

// train.hold_epochs: no evaluation inside the hold decays the rate, even with
// patience 1, where the same fit without a hold decays inside that span; the
// rule works as before once the hold is over.
TEST(Trainer, HoldEpochsKeepTheRateUntilTheHoldEnds) {
  auto data = clusters(960, 200);  // 30 updates per epoch
  auto opt = options(0.05, 6);
  opt.train.patience = 1;
  opt.train.eval_every = 5;
  const auto lr_at = [](const FitResult& r, std::int64_t updates) {
    for (const auto& p : r.curve)
      if (p.updates == updates) return p.lr;
    ADD_FAILURE() << "no evaluation at update " << updates;
    return 0.0;
  };
  const auto fit = [&](int hold_epochs) {
    torch::manual_seed(3);
    auto model = small_ffdnn(data);
    auto o = opt;
    o.recipe.hold_epochs = hold_epochs;
    return Trainer(model, data, torch::kCPU).fit(o);
  };
  const FitResult free = fit(0);
  // The rate an evaluation reports is the one its updates trained with: the
  // evaluation at update 60 shows any decay made at evaluations 0..55, all
  // inside a 2-epoch hold; the one at update 60 is the first that may decay.
  ASSERT_LT(lr_at(free, 60), 0.05) << "precondition: without a hold the rate decays within the first 2 epochs";
  const FitResult held = fit(2);
  EXPECT_DOUBLE_EQ(lr_at(held, 60), 0.05);
  EXPECT_LT(lr_at(held, 65), 0.05) << "the evaluation after the hold's last update may decay";
  EXPECT_LT(held.curve.back().lr, 0.05) << "after the hold the plateau rule decays again";
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

// QStep of every weight group's float weights, group by group.
std::vector<double> qstep_of_float_weights(const quant::QuantHook& hook, int bits) {
  std::vector<double> out;
  for (const auto& g : hook.groups()) {
    torch::Tensor w = g.param.detach().contiguous();
    out.push_back(quant::qstep(w.data_ptr<float>(), static_cast<std::size_t>(w.numel()), bits).delta);
  }
  return out;
}

// What every update of a 2-bit retraining trained with: its epoch, the Δ in
// the hook, and the QStep optimum of the float weights at that moment.
struct UpdateStep {
  int epoch;
  std::vector<double> used, optimum;
};

std::vector<UpdateStep> update_steps(const StepPolicy& policy, int epochs) {
  auto data = clusters(640);
  auto model = small_ffdnn(data);
  Trainer(model, data, torch::kCPU).fit(options(0.05, 3));
  quant::QuantHook hook(*model, 2);
  auto opt = options(0.02, epochs);
  opt.policy = policy;
  std::vector<UpdateStep> out;
  opt.before_update = [&](int epoch) { out.push_back({epoch, hook.step_sizes(), qstep_of_float_weights(hook, 2)}); };
  Trainer(model, data, torch::kCPU, &hook).fit(opt);
  return out;
}

TEST(Trainer, ConventionalKeepsStepBitIdentical) {
  auto h = delta_history(StepPolicy{}, 3);
  ASSERT_EQ(h.size(), 4u);
  for (const auto& d : h) EXPECT_EQ(d, h[0]);  // exact equality, every group
}

// Adaptive, per epoch: every update of epoch e trains with QStep of the float
// weights as epoch e began (the initial Δ in epoch 0). A refit on w_q, on
// other weights or at other moments gives other Δ.
TEST(Trainer, AdaptiveEpochTrainsEachEpochWithQStepOfItsStartingFloatWeights) {
  const auto u = update_steps(StepPolicy{StepPolicy::When::Epoch, 0}, 3);
  ASSERT_EQ(u.size(), 3u * 20);  // 640 examples in batches of 32
  for (const auto& step : u) {
    const UpdateStep& first = *std::find_if(u.begin(), u.end(), [&](const UpdateStep& x) { return x.epoch == step.epoch; });
    SCOPED_TRACE(step.epoch);
    EXPECT_EQ(step.used, first.optimum);
  }
  // The weights move within an epoch, so Δ is not refit per update, and it changes between epochs.
  EXPECT_NE(u[19].used, u[19].optimum);
  EXPECT_NE(u[20].used, u[0].used);
  EXPECT_NE(u[40].used, u[20].used);
}

// Adaptive, first epochs: each update of the first K epochs trains with QStep
// of the float weights just before it; then Δ stays at the last one.
TEST(Trainer, AdaptiveFirstEpochsRefitsEveryUpdateOnTheFloatWeightsThenFreezes) {
  const auto u = update_steps(StepPolicy{StepPolicy::When::EveryUpdateFirstEpochs, 1}, 3);
  ASSERT_EQ(u.size(), 3u * 20);
  std::set<std::vector<double>> distinct;
  for (std::size_t i = 0; i < u.size(); ++i) {
    SCOPED_TRACE(i);
    if (u[i].epoch == 0) {
      EXPECT_EQ(u[i].used, u[i].optimum);
      distinct.insert(u[i].used);
    } else {
      EXPECT_EQ(u[i].used, u[19].used);  // frozen at the last refit
    }
  }
  EXPECT_GT(distinct.size(), 5u);       // it does change from update to update
  EXPECT_NE(u[59].used, u[59].optimum);  // and the frozen Δ is no longer the optimum
}

// What every evaluation of a retraining saw: the Δ it scored, and the QStep
// optimum of the float weights at that moment (computed here, group by group).
struct ScoredSteps {
  std::vector<std::vector<double>> scored, optimum;
  FitResult fit;
  std::vector<double> kept;  // Δ of the network fit() leaves (the kept checkpoint's)
  double kept_dev = 0;       // its dev metric, evaluated again
};

ScoredSteps scored_steps(const StepPolicy& policy, int epochs) {
  auto data = clusters();
  auto model = small_ffdnn(data);
  Trainer(model, data, torch::kCPU).fit(options(0.05, 3));
  quant::QuantHook hook(*model, 2);
  ScoredSteps out;
  auto opt = options(0.02, epochs);
  opt.policy = policy;
  opt.after_evaluation = [&](const EvalPoint& p) {
    out.scored.push_back(p.deltas);
    out.optimum.push_back(qstep_of_float_weights(hook, 2));
  };
  Trainer trainer(model, data, torch::kCPU, &hook);
  out.fit = trainer.fit(opt);
  out.kept = hook.step_sizes();
  out.kept_dev = trainer.evaluate(data.dev);
  return out;
}

void expect_kept_network_is_a_scored_one(const ScoredSteps& s) {
  ASSERT_GE(s.fit.best_index, 0);
  EXPECT_EQ(s.kept, s.fit.curve[static_cast<std::size_t>(s.fit.best_index)].deltas);
  EXPECT_DOUBLE_EQ(s.kept_dev, s.fit.best_dev);
}

TEST(Trainer, EpochRefitAfterEvaluationScoresOnlyTrainedStepSizes) {
  StepPolicy policy{StepPolicy::When::Epoch, 0};
  policy.order = StepPolicy::Order::AfterEval;
  const auto s = scored_steps(policy, 4);
  ASSERT_EQ(s.scored.size(), 5u);
  EXPECT_EQ(s.scored[0], s.optimum[0]);  // the start: QStep of the float network
  EXPECT_EQ(s.scored[1], s.scored[0]);   // epoch 1 trained with it
  // Epoch e was trained with the Δ refit right after evaluation e - 1, from
  // the weights that evaluation saw, and evaluation e scores exactly that Δ.
  for (std::size_t e = 2; e < s.scored.size(); ++e) {
    EXPECT_EQ(s.scored[e], s.optimum[e - 1]) << "evaluation " << e;
    EXPECT_NE(s.scored[e], s.optimum[e]) << "evaluation " << e << " scores a Δ refit after training";
  }
  expect_kept_network_is_a_scored_one(s);
}

TEST(Trainer, EpochRefitBeforeEvaluationIsTheOlderOrder) {
  StepPolicy policy{StepPolicy::When::Epoch, 0};
  policy.order = StepPolicy::Order::BeforeEval;
  const auto s = scored_steps(policy, 4);
  ASSERT_EQ(s.scored.size(), 5u);
  // Every evaluation scores the optimum of the weights it sees: levels moved
  // a moment ago, before a single update with them.
  for (std::size_t e = 0; e < s.scored.size(); ++e) EXPECT_EQ(s.scored[e], s.optimum[e]) << "evaluation " << e;
  expect_kept_network_is_a_scored_one(s);
}

TEST(Trainer, FirstEpochsRefitBeforeEachUpdateScoresTheStepOfTheLastUpdate) {
  StepPolicy after{StepPolicy::When::EveryUpdateFirstEpochs, 1};
  after.order = StepPolicy::Order::AfterEval;
  const auto a = scored_steps(after, 3);
  ASSERT_EQ(a.scored.size(), 4u);
  // The evaluation after epoch 1 scores the Δ its last update used (refit
  // from the weights before that update), not a refit of the final weights;
  // that Δ is then kept frozen.
  EXPECT_NE(a.scored[1], a.scored[0]);
  EXPECT_NE(a.scored[1], a.optimum[1]);
  EXPECT_EQ(a.scored[2], a.scored[1]);
  EXPECT_EQ(a.scored[3], a.scored[1]);
  expect_kept_network_is_a_scored_one(a);

  StepPolicy before = after;
  before.order = StepPolicy::Order::BeforeEval;
  const auto b = scored_steps(before, 3);
  EXPECT_EQ(b.scored[1], b.optimum[1]);  // the older order: refit after the last update too
  EXPECT_EQ(b.scored[2], b.scored[1]);
  expect_kept_network_is_a_scored_one(b);
}

TEST(Trainer, ConventionalIsTheSameInBothOrders) {
  StepPolicy after, before;
  before.order = StepPolicy::Order::BeforeEval;
  const auto a = scored_steps(after, 3), b = scored_steps(before, 3);
  ASSERT_EQ(a.fit.curve.size(), b.fit.curve.size());
  for (std::size_t i = 0; i < a.fit.curve.size(); ++i) {
    EXPECT_EQ(a.fit.curve[i].deltas, b.fit.curve[i].deltas);
    EXPECT_EQ(a.fit.curve[i].dev_metric, b.fit.curve[i].dev_metric);
    if (i > 0) {  // the start has no loss (NaN)
      EXPECT_EQ(a.fit.curve[i].train_loss, b.fit.curve[i].train_loss);
    }
  }
  EXPECT_EQ(a.kept, b.kept);
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
    for (const auto& g : hook.groups()) g.param.copy_(qretrain::testing::hand_quantize(g.param, g.delta(), 2));
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

// A fit that stops (crash or signal) and is resumed from its saved training
// state ends exactly where an uninterrupted fit ends (FitOutcome,
// fit_quantized and expect_same_fit live in train/resume_util.h).
TEST(TrainerResume, CrashMidEpochThenResumeEqualsUninterrupted) {
  auto data = clusters(960, 200);  // 30 updates per epoch
  auto opt = options(0.05, 3);
  opt.train.patience = 1;  // the learning rate halves along the way: the schedule state must survive too
  const FitOutcome whole = fit_quantized(data, opt);

  qretrain::testing::TempDir dir;
  const std::string state = dir.file("cell.resume.pt");
  auto crashing = opt;
  crashing.checkpoint_every_s = 0;  // save after every update
  crashing.nan_at_update = 47;        // "crash" in the middle of epoch 2
  EXPECT_THROW(fit_quantized(data, crashing, state), Diverged);
  ASSERT_TRUE(std::filesystem::exists(state));
  const FitOutcome resumed = fit_quantized(data, opt, state);
  EXPECT_TRUE(resumed.result.resumed);
  expect_same_fit(whole, resumed);
}

TEST(TrainerResume, InterruptSavesStateAndResumeEqualsUninterrupted) {
  auto data = clusters(960, 200);
  auto opt = options(0.05, 2);
  const FitOutcome whole = fit_quantized(data, opt);
  qretrain::testing::TempDir dir;
  const std::string state = dir.file("cell.resume.pt");
  g_stop_requested = true;  // SIGINT before the first update
  EXPECT_THROW(fit_quantized(data, opt, state), Interrupted);
  g_stop_requested = false;
  ASSERT_TRUE(std::filesystem::exists(state));
  expect_same_fit(whole, fit_quantized(data, opt, state));
}

TEST(TrainerResume, EpochBoundaryStateContinuesALongerBudget) {
  // Budget 1, then budget 3 from the state left at the end of epoch 1: the
  // same as budget 3 from the start (momentum, shuffle generator and all).
  auto data = clusters(960, 200);
  const FitOutcome whole = fit_quantized(data, options(0.05, 3));
  qretrain::testing::TempDir dir;
  const std::string state = dir.file("cell.resume.pt");
  fit_quantized(data, options(0.05, 1), state);
  expect_same_fit(whole, fit_quantized(data, options(0.05, 3), state));
}

TEST(TrainerResume, ElapsedTimeCountsTheEarlierProcesses) {
  // Six epochs in one process, the seventh after a resume: the clock goes on
  // from the saved time. (Restarting near zero, the resumed fit's one epoch
  // would report less time than the first fit's six.)
  auto data = clusters(960, 200);
  qretrain::testing::TempDir dir;
  const std::string state = dir.file("cell.resume.pt");
  const FitOutcome first = fit_quantized(data, options(0.05, 6), state);
  const FitOutcome resumed = fit_quantized(data, options(0.05, 7), state);
  ASSERT_EQ(resumed.result.curve.size(), 8u);
  EXPECT_TRUE(resumed.result.resumed);
  for (std::size_t i = 1; i < resumed.result.curve.size(); ++i)
    EXPECT_GE(resumed.result.curve[i].elapsed_s, resumed.result.curve[i - 1].elapsed_s) << "evaluation " << i;
  EXPECT_GT(resumed.result.wall_s, first.result.curve.back().elapsed_s);
}

TEST(TrainerResume, UnreadableStateStartsAfresh) {
  auto data = clusters(960, 200);
  const FitOutcome whole = fit_quantized(data, options(0.05, 2));
  qretrain::testing::TempDir dir;
  const std::string state = dir.write("cell.resume.pt", "not a torch archive");
  const FitOutcome fresh = fit_quantized(data, options(0.05, 2), state);
  EXPECT_FALSE(fresh.result.resumed);
  expect_same_fit(whole, fresh);
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

// A fit resumed from `bytes` as its saved state: whether it resumed, and
// whether it warned that it ignored the file.
struct DamagedResume {
  FitOutcome outcome;
  bool warned = false;
};

DamagedResume resume_from_bytes(const data::Dataset& data, const FitOptions& opt, const std::string& path,
                                const std::string& bytes) {
  write_bytes(path, bytes);
  ::testing::internal::CaptureStderr();
  DamagedResume r;
  r.outcome = fit_quantized(data, opt, path);
  r.warned = ::testing::internal::GetCapturedStderr().find("starting afresh") != std::string::npos;
  return r;
}

// A damaged training state is never half-applied: cut short or with bytes
// flipped anywhere in it, it either resumes exactly or is ignored with a
// warning, and either way the fit equals an uninterrupted one bit for bit
// (a state ignored whole leaves a fresh fit, which is the same fit).
TEST(TrainerResume, DamagedStateResumesExactlyOrIsIgnoredNeverHalfApplied) {
  auto data = clusters(960, 200);  // 30 updates per epoch
  auto opt = options(0.05, 2);
  const FitOutcome whole = fit_quantized(data, opt);

  qretrain::testing::TempDir dir;
  const std::string state = dir.file("cell.resume.pt");
  auto crashing = opt;
  crashing.checkpoint_every_s = 0;  // save after every update
  crashing.nan_at_update = 41;        // "crash" in the middle of epoch 2
  EXPECT_THROW(fit_quantized(data, crashing, state), Diverged);
  const std::string saved = read_bytes(state);
  ASSERT_GT(saved.size(), 1000u);
  {
    SCOPED_TRACE("undamaged");
    const DamagedResume r = resume_from_bytes(data, opt, state, saved);
    EXPECT_TRUE(r.outcome.result.resumed);
    expect_same_fit(whole, r.outcome);
  }
  int resumed = 0, ignored = 0;
  for (int i = 0; i < 20; ++i) {
    std::string bytes = saved;
    std::string what;
    if (i < 10) {
      bytes.resize(saved.size() * static_cast<std::size_t>(i) / 10);  // 0%, 10%, ... 90% of the file kept
      what = fmt::format("cut to {} of {} bytes", bytes.size(), saved.size());
    } else {
      const std::size_t at = saved.size() * static_cast<std::size_t>(2 * (i - 10) + 1) / 20;
      bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
      what = fmt::format("byte {} of {} flipped", at, saved.size());
    }
    SCOPED_TRACE(what);
    const DamagedResume r = resume_from_bytes(data, opt, state, bytes);
    std::cout << what << ": " << (r.outcome.result.resumed ? "resumed" : "ignored") << "\n";
    if (r.outcome.result.resumed) {
      ++resumed;
    } else {
      ++ignored;
      EXPECT_TRUE(r.warned) << "ignored without a warning";
    }
    expect_same_fit(whole, r.outcome);
  }
  EXPECT_GT(ignored, 10) << resumed << " resumed";  // every cut, and flips that were caught
}

// A state that opens and matches the network but fails on a later field
// (here the optimizer's, saved by another optimizer) is ignored whole: the
// weights read before that field must not reach the model.
TEST(TrainerResume, StateFailingOnALaterFieldIsIgnoredWhole) {
  auto data = clusters(960, 200);
  auto adam = options(0.01, 2);
  adam.train.optimizer = "adam";
  const FitOutcome whole = fit_quantized(data, adam);
  qretrain::testing::TempDir dir;
  const std::string state = dir.file("cell.resume.pt");
  auto crashing = options(0.05, 2);  // sgd_nesterov: its state has no Adam moments
  crashing.checkpoint_every_s = 0;
  crashing.nan_at_update = 41;
  EXPECT_THROW(fit_quantized(data, crashing, state), Diverged);
  ::testing::internal::CaptureStderr();
  const FitOutcome fresh = fit_quantized(data, adam, state);
  EXPECT_NE(::testing::internal::GetCapturedStderr().find("starting afresh"), std::string::npos);
  EXPECT_FALSE(fresh.result.resumed);
  expect_same_fit(whole, fresh);
}

TEST(Trainer, CheckpointKeepsIdentityAndTrainingRecordAndRefusesDamage) {
  auto data = clusters();
  auto model = small_ffdnn(data);
  qretrain::testing::TempDir dir;
  CheckpointInfo info;
  info.deltas = {0.5};
  info.identity = "dataset=x;network=y;seed=1;";
  FitResult fit;
  fit.epochs = 7;
  fit.updates = 700;
  fit.best_index = 1;
  fit.best_dev = 12.5;
  fit.samples_per_s = 1234.5;
  fit.wall_s = 9.75;
  fit.stop_reason = "learning rate 1e-4 fell below 3e-4";
  fit.curve.resize(2);
  fit.curve[1].epoch = 7;
  fit.curve[1].updates = 700;
  fit.curve[1].dev_metric = 12.5;
  fit.curve[1].deltas = {0.25, 0.5};
  info.training = fit;
  const std::string path = dir.file("b.pt");
  save_checkpoint(path, *model, info);

  auto other = small_ffdnn(data);
  const CheckpointInfo back = load_checkpoint(path, *other, info.identity);
  EXPECT_EQ(back.identity, info.identity);
  EXPECT_EQ(back.deltas, info.deltas);
  ASSERT_TRUE(back.training);
  EXPECT_EQ(back.training->epochs, 7);
  EXPECT_EQ(back.training->updates, 700);
  EXPECT_EQ(back.training->best_index, 1);
  EXPECT_EQ(back.training->best_dev, 12.5);
  EXPECT_EQ(back.training->samples_per_s, 1234.5);
  EXPECT_EQ(back.training->wall_s, 9.75);
  EXPECT_EQ(back.training->stop_reason, fit.stop_reason);
  ASSERT_EQ(back.training->curve.size(), 2u);
  EXPECT_EQ(back.training->curve[1].deltas, fit.curve[1].deltas);
  auto pa = model->parameters(), pb = other->parameters();
  for (std::size_t i = 0; i < pa.size(); ++i) EXPECT_TRUE(torch::equal(pa[i], pb[i]));

  // Another identity is refused before any weight is read, naming the file.
  auto third = small_ffdnn(data);
  const auto before = models::copy_state(*third);
  try {
    load_checkpoint(path, *third, "dataset=x;network=y;seed=2;");
    ADD_FAILURE() << "another identity was accepted";
  } catch (const CheckpointIdentityMismatch& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  const auto after = models::copy_state(*third);
  for (std::size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(torch::equal(before[i], after[i]));

  // Flipped weight bytes still open as a LibTorch archive; the checksum refuses them.
  std::string bytes = read_bytes(path);
  for (std::size_t at = bytes.size() / 2; at < bytes.size() / 2 + 64; ++at) bytes[at] = static_cast<char>(bytes[at] ^ 0x5a);
  write_bytes(path, bytes);
  const std::string message = qretrain::testing::error_of([&] { load_checkpoint(path, *other, info.identity); });
  EXPECT_NE(message.find(path), std::string::npos) << message;
}

}  // namespace
}  // namespace qretrain::train
