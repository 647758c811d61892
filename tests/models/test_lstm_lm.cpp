// The character-level LSTM language model: bits per character, learning with
// the state carried across truncation windows, and quantization through the hook.
#include "models/lstm_lm.h"

#include <gtest/gtest.h>

#include "data/text.h"
#include "quant/hand_quantize.h"
#include "quant/hook.h"
#include "test_util.h"

namespace qretrain::models {
namespace {

std::shared_ptr<LstmLmImpl> make_lm(const std::vector<int>& hidden, int vocabulary = data::text::kSymbols) {
  config::NetworkConfig cfg;
  cfg.kind = "lstm_lm";
  cfg.hidden = hidden;
  return std::dynamic_pointer_cast<LstmLmImpl>(make_network(cfg, {{1}, vocabulary}));
}

// `text` repeated to `length` bytes, laid out as `streams` rows.
torch::Tensor repeated_rows(const std::string& text, std::int64_t length, std::int64_t streams) {
  auto unit = torch::from_blob(const_cast<char*>(text.data()), {static_cast<std::int64_t>(text.size())}, torch::kUInt8);
  auto bytes = unit.repeat({length / static_cast<std::int64_t>(text.size()) + 1}).slice(0, 0, length);
  return data::text::as_streams(bytes, streams);
}

// Truncated BPTT over the rows: windows of `window` steps, one Adam update per
// window, the state carried from window to window and reset at each pass.
void train_carrying_state(LstmLmImpl& model, const torch::Tensor& rows, std::int64_t window, int updates) {
  torch::optim::Adam adam(model.parameters(), torch::optim::AdamOptions(1e-2));
  model.train();
  LstmState state;
  const std::int64_t windows = data::text::window_count(rows, window);
  for (int u = 0; u < updates; ++u) {
    if (u % windows == 0) state.clear();
    auto [inputs, targets] = data::text::window(rows, u % windows, window);
    adam.zero_grad();
    LmOutput out = model.forward(inputs, state);
    torch::nn::functional::cross_entropy(out.logits.flatten(0, 1), targets.flatten()).backward();
    adam.step();
    state = detached(out.state);
  }
}

TEST(Bpc, UniformPredictorIsExactlyEight) {
  auto targets = torch::randint(0, 256, {4, 9}, torch::kInt64);
  EXPECT_DOUBLE_EQ(bits_per_char(torch::zeros({4, 9, 256}), targets), 8.0);
  // Certain and right: zero bits.
  auto sure = torch::full({1, 2, 256}, -100.0).index_put_({0, torch::indexing::Slice(), 7}, 100.0);
  EXPECT_NEAR(bits_per_char(sure, torch::full({1, 2}, 7, torch::kInt64)), 0.0, 1e-12);
}

TEST(LstmLm, ShapesParametersAndOneWeightGroupPerMatrix) {
  auto lm = make_lm({8, 16, 32});
  // An LSTM layer of H cells on n inputs: 4H(n + H) weights and two 4H biases.
  auto layer = [](std::int64_t n, std::int64_t h) { return 4 * h * (n + h) + 8 * h; };
  EXPECT_EQ(count_parameters(*lm), layer(256, 8) + layer(8, 16) + layer(16, 32) + 32 * 256 + 256);
  EXPECT_EQ(quant::weight_group_names(*lm),
            (std::vector<std::string>{"lstm1.weight_ih_l0", "lstm1.weight_hh_l0", "lstm2.weight_ih_l0",
                                      "lstm2.weight_hh_l0", "lstm3.weight_ih_l0", "lstm3.weight_hh_l0",
                                      "out.weight"}));
  LmOutput out = lm->forward(torch::zeros({2, 5}, torch::kInt64), {});
  EXPECT_EQ(out.logits.sizes(), (std::vector<std::int64_t>{2, 5, 256}));
  ASSERT_EQ(out.state.size(), 3u);
  EXPECT_EQ(std::get<1>(out.state[2]).sizes(), (std::vector<std::int64_t>{1, 2, 32}));
  EXPECT_NE(lm->describe().find("[8, 16, 32]"), std::string::npos);

  config::NetworkConfig no_layers;
  no_layers.kind = "lstm_lm";
  EXPECT_NE(testing::error_of([&] { make_network(no_layers, {{1}, 256}); }).find("network.hidden"), std::string::npos);
}

TEST(LstmLm, LearnsAPeriodicStringToNearZeroBitsPerChar) {
  torch::manual_seed(1);
  auto rows = repeated_rows("qret.", 4 * 400, 4);
  auto lm = make_lm({32});
  const double before = evaluate_bits_per_char(*lm, rows, 16);
  train_carrying_state(*lm, rows, 16, 300);
  const double after = evaluate_bits_per_char(*lm, rows, 16);
  EXPECT_GT(before, 7.0);
  EXPECT_LT(after, 0.1);
}

// In "aabb" repeated, the next byte follows from the last two and not from the
// last one alone (1 bit of doubt). Read one byte per window, only a state
// carried across windows can supply the byte before.
TEST(LstmLm, StateIsCarriedAcrossTruncationWindows) {
  torch::manual_seed(2);
  auto rows = repeated_rows("aabb", 4 * 512, 4);
  auto lm = make_lm({32});
  train_carrying_state(*lm, rows, 8, 600);
  EXPECT_LT(evaluate_bits_per_char(*lm, rows, 1), 0.1);

  // Control: the same model with the state reset at every one-byte window.
  torch::NoGradGuard no_grad;
  double bits = 0;
  const std::int64_t windows = data::text::window_count(rows, 1);
  for (std::int64_t w = 0; w < windows; ++w) {
    auto [inputs, targets] = data::text::window(rows, w, 1);
    bits += bits_per_char(lm->forward(inputs, {}).logits, targets);
  }
  EXPECT_GT(bits / static_cast<double>(windows), 0.5);
}

// The hook's gradients equal those of a copy whose weights were replaced by
// hand with Q(w, Δ), over two windows with the state carried between them.
TEST(LstmLm, HookGradientsEqualHandQuantizedCopy) {
  torch::manual_seed(3);
  constexpr int kBits = 2;
  auto hooked = make_lm({6, 5});
  auto by_hand = make_lm({6, 5});
  quant::QuantHook hook(*hooked, kBits);
  ASSERT_EQ(hook.groups().size(), 5u);  // W_ih, W_hh of both layers and the output

  {
    torch::NoGradGuard no_grad;
    auto dst = by_hand->named_parameters();
    for (const auto& item : hooked->named_parameters()) dst[item.key()].copy_(item.value());
    for (const auto& g : hook.groups()) {
      auto w = g.param.detach();
      auto q = qretrain::testing::hand_quantize(w, g.delta(), kBits);
      EXPECT_FALSE(torch::equal(q, w)) << g.name;
      dst[g.name].copy_(q);
    }
  }

  auto rows = data::text::as_streams(torch::randint(0, 256, {3 * 15}, torch::kUInt8), 3);
  auto loss_of = [&](LstmLmImpl& lm) {
    auto first = data::text::window(rows, 0, 7), second = data::text::window(rows, 1, 7);
    LmOutput a = lm.forward(first.inputs, {});
    LmOutput b = lm.forward(second.inputs, detached(a.state));
    return torch::nn::functional::cross_entropy(a.logits.flatten(0, 1), first.targets.flatten()) +
           torch::nn::functional::cross_entropy(b.logits.flatten(0, 1), second.targets.flatten());
  };
  {
    quant::QuantizedScope scope(&hook);
    loss_of(*hooked).backward();
  }
  loss_of(*by_hand).backward();

  auto expected = by_hand->named_parameters();
  for (const auto& item : hooked->named_parameters()) {
    SCOPED_TRACE(item.key());
    ASSERT_TRUE(item.value().grad().defined());
    EXPECT_TRUE(torch::allclose(item.value().grad(), expected[item.key()].grad(), 1e-5, 1e-7));
  }
}

}  // namespace
}  // namespace qretrain::models
