// Truncated BPTT for the language model (train/task.h): the state carried
// across updates, the re-read context of TBPTT(k1, k2), and a full
// Trainer run on text reaching a threshold.
#include "train/task.h"

#include <gtest/gtest.h>

#include "data/text.h"
#include "quant/hook.h"
#include "train/trainer.h"
#include "test_util.h"

namespace qretrain::train {
namespace {

data::Dataset text_dataset(const std::string& unit, std::int64_t bytes) {
  auto pattern = torch::from_blob(const_cast<char*>(unit.data()), {static_cast<std::int64_t>(unit.size())},
                                  torch::kUInt8);
  auto stream = pattern.repeat({bytes / static_cast<std::int64_t>(unit.size()) + 1}).slice(0, 0, bytes).clone();
  data::text::ByteCorpus corpus{"periodic", stream, stream.slice(0, 0, bytes / 4), stream.slice(0, 0, bytes / 4)};
  return data::text::to_dataset(corpus, {});
}

models::Network small_lm(const std::vector<int>& hidden) {
  config::NetworkConfig cfg;
  cfg.kind = "lstm_lm";
  cfg.hidden = hidden;
  return models::make_network(cfg, {{1}, data::text::kSymbols});
}

config::TrainConfig tbptt(int streams, int k1, int k2) {
  config::TrainConfig t;
  t.streams = streams;
  t.bptt_steps = k1;
  t.bptt_unroll = k2;
  return t;
}

// The state before column `column` of every stream, computed in one pass
// from the zero state at column 0.
models::LstmState state_by_one_pass(models::LstmLmImpl& lm, const torch::Tensor& rows, std::int64_t column) {
  torch::NoGradGuard no_grad;
  return lm.forward(rows.slice(1, 0, column).to(torch::kInt64), {}).state;
}

void expect_same_state(const models::LstmState& a, const models::LstmState& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::allclose(std::get<0>(a[i]), std::get<0>(b[i]), 1e-5, 1e-6)) << "h of layer " << i;
    EXPECT_TRUE(torch::allclose(std::get<1>(a[i]), std::get<1>(b[i]), 1e-5, 1e-6)) << "c of layer " << i;
  }
}

// With the weights held still, the state the task carries into an update is
// exactly the state one uninterrupted pass reaches at that column: it fails
// if the state were reset (or skipped) at any update boundary.
void check_state_carried(int k1, int k2) {
  torch::manual_seed(3);
  auto data = text_dataset("the quick brown fox jumps over the lazy dog. ", 4 * 400);
  auto model = small_lm({6, 5});
  auto& lm = dynamic_cast<models::LstmLmImpl&>(*model);
  LanguageModelTask task(model, data, tbptt(4, k1, k2), torch::kCPU);
  auto rows = data::text::as_streams(data.train.x, 4);
  std::int64_t predicted = 0;
  for (int update = 0; update < 7; ++update) {
    const std::int64_t before = task.cursor();
    StepLoss loss = task.forward_backward(update);
    predicted += loss.samples;
    EXPECT_EQ(task.cursor(), before + k1);
    const std::int64_t state_column = std::max<std::int64_t>(0, task.cursor() - (k2 - k1));
    if (state_column == 0) {
      EXPECT_TRUE(task.carried_state().empty());
    } else {
      expect_same_state(task.carried_state(), state_by_one_pass(lm, rows, state_column));
    }
  }
  EXPECT_EQ(predicted, 7 * 4 * k1);  // the loss covers only the new characters
}

TEST(LanguageModelTask, StateIsCarriedAcrossUpdates) { check_state_carried(16, 16); }

TEST(LanguageModelTask, TbpttReReadsContextFromTheSavedState) { check_state_carried(16, 32); }

TEST(LanguageModelTask, UnrollAddsGradientPathsIntoTheContext) {
  // k2 > k1: the gradient of the new characters' loss reaches the context's
  // inputs, so W_ih of the first layer sees more one-hot rows than k1 alone.
  auto data = text_dataset("abcdefghij", 2 * 200);
  auto grad_rows = [&](int k2) {
    torch::manual_seed(5);
    auto model = small_lm({4});
    LanguageModelTask task(model, data, tbptt(2, 8, k2), torch::kCPU);
    task.forward_backward(0);  // first update has no context yet
    for (auto& p : model->parameters()) p.mutable_grad() = torch::Tensor();
    task.forward_backward(1);
    auto g = model->named_parameters()["lstm1.weight_ih_l0"].grad();
    return g.abs().sum(0).gt(0).sum().item<std::int64_t>();  // byte values with a gradient
  };
  // "abcdefghij": the 8 new characters of update 1 are 8 distinct bytes; 8
  // steps of context bring in the 2 others.
  EXPECT_EQ(grad_rows(8), 8);
  EXPECT_EQ(grad_rows(16), 10);
}

TEST(LanguageModelTask, WrapsToTheStartWithAZeroStateAtTheEnd) {
  auto data = text_dataset("0123456789", 2 * 41);  // rows of 41: 40 predictions each
  auto model = small_lm({4});
  LanguageModelTask task(model, data, tbptt(2, 16, 16), torch::kCPU);
  EXPECT_EQ(task.updates_per_epoch(), 3);  // 16 + 16 + 8
  EXPECT_EQ(task.forward_backward(0).samples, 2 * 16);
  EXPECT_EQ(task.forward_backward(1).samples, 2 * 16);
  EXPECT_EQ(task.forward_backward(2).samples, 2 * 8);
  EXPECT_EQ(task.cursor(), 40);
  EXPECT_FALSE(task.carried_state().empty());
  EXPECT_EQ(task.forward_backward(3).samples, 2 * 16);
  EXPECT_EQ(task.cursor(), 16);
}

TEST(LanguageModelTask, EpochIsEpochCharsWhenSet) {
  auto data = text_dataset("0123456789", 64 * 1000);
  auto train = tbptt(64, 128, 256);
  train.epoch_chars = 100000;  // 100000 / (64 * 128) = 12.2 -> 13 updates
  LanguageModelTask task(small_lm({4}), data, train, torch::kCPU);
  EXPECT_EQ(task.updates_per_epoch(), 13);
}

TEST(LanguageModelTask, TrainerLearnsPeriodicTextAndScoresBitsPerChar) {
  torch::manual_seed(1);
  auto data = text_dataset("a quantized lstm, ", 8 * 600);
  auto model = small_lm({32, 32});
  Trainer trainer(model, data, torch::kCPU);
  const double untrained = trainer.evaluate(data.dev);
  EXPECT_NEAR(untrained, 8.0, 0.2);  // near-uniform over 256 symbols
  FitOptions opt;
  opt.train = tbptt(8, 32, 64);
  opt.train.optimizer = "rmsprop";
  opt.train.patience = 2;
  opt.train.lr_decay = 0.5;
  opt.train.epoch_chars = 8 * 32 * 20;  // 20 updates per epoch
  opt.recipe = {1e-2, 1e-5, 10};
  FitResult r = trainer.fit(opt);
  EXPECT_LT(r.best_dev, 0.2) << "bits per character after 200 updates";
  EXPECT_EQ(r.updates, 200);
  // Quantized to 6 bits through the hook, the periodic text stays predictable.
  quant::QuantHook hook(*model, 6);
  EXPECT_LT(Trainer(model, data, torch::kCPU, &hook).evaluate(data.test), 1.0);
}

// The language model resumes mid-epoch with its carried LSTM state, stream
// position and RMSprop averages: the same as never stopping.
TEST(LanguageModelTask, ResumedFitEqualsUninterrupted) {
  auto data = text_dataset("resume the carried state, ", 8 * 400);
  FitOptions opt;
  opt.train = tbptt(8, 16, 32);
  opt.train.optimizer = "rmsprop";
  opt.train.patience = 2;
  opt.train.lr_decay = 0.5;
  opt.train.epoch_chars = 8 * 16 * 10;  // 10 updates per epoch
  opt.recipe = {1e-2, 1e-5, 3};
  auto run = [&](const FitOptions& o) {
    torch::manual_seed(5);
    auto model = small_lm({16});
    Trainer trainer(model, data, torch::kCPU);
    FitResult r = trainer.fit(o);
    return std::make_pair(r, models::copy_state(*model));
  };
  const auto whole = run(opt);
  qretrain::testing::TempDir dir;
  auto crashing = opt;
  crashing.resume_path = dir.file("lm.resume.pt");
  crashing.checkpoint_every_s = 0;
  crashing.nan_at_update = 15;  // mid epoch 2, state carried from epoch 1
  EXPECT_THROW(run(crashing), Diverged);
  auto resuming = opt;
  resuming.resume_path = crashing.resume_path;
  const auto resumed = run(resuming);
  EXPECT_TRUE(resumed.first.resumed);
  ASSERT_EQ(whole.first.curve.size(), resumed.first.curve.size());
  for (std::size_t i = 0; i < whole.first.curve.size(); ++i)
    EXPECT_EQ(whole.first.curve[i].dev_metric, resumed.first.curve[i].dev_metric) << i;
  for (std::size_t i = 0; i < whole.second.size(); ++i) EXPECT_TRUE(torch::equal(whole.second[i], resumed.second[i]));
}

}  // namespace
}  // namespace qretrain::train
