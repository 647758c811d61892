#include "models/lstm_lm.h"

#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/text.h"
#include "util/error.h"

namespace qretrain::models {

LstmState detached(const LstmState& state) {
  LstmState out;
  out.reserve(state.size());
  for (const auto& [h, c] : state) out.emplace_back(h.detach(), c.detach());
  return out;
}

LstmLmImpl::LstmLmImpl(int vocabulary, const std::vector<int>& hidden) : vocabulary_(vocabulary), hidden_(hidden) {
  std::int64_t width = vocabulary;
  for (std::size_t i = 0; i < hidden.size(); ++i) {
    auto options = torch::nn::LSTMOptions(width, hidden[i]).batch_first(true);
    layers_.push_back(register_module(fmt::format("lstm{}", i + 1), torch::nn::LSTM(options)));
    width = hidden[i];
  }
  out_ = register_module("out", torch::nn::Linear(width, vocabulary));
}

LmOutput LstmLmImpl::forward(const torch::Tensor& symbols, const LstmState& state) {
  TORCH_CHECK(state.empty() || state.size() == layers_.size(), "LSTM state has ", state.size(), " layers, expected ",
              layers_.size());
  // One-hot input, as in the paper: the first layer's W_ih is then quantized
  // like every other weight matrix.
  auto x = torch::nn::functional::one_hot(symbols, vocabulary_).to(out_->weight.dtype());
  LmOutput result;
  result.state.reserve(layers_.size());
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    auto [y, next] = state.empty() ? layers_[i]->forward(x) : layers_[i]->forward(x, state[i]);
    result.state.push_back(std::move(next));
    x = std::move(y);
  }
  result.logits = out_(x);
  return result;
}

torch::Tensor LstmLmImpl::forward(torch::Tensor symbols) { return forward(symbols, LstmState{}).logits; }

std::string LstmLmImpl::describe() const {
  return fmt::format("LSTM language model: one-hot {} -> LSTM [{}] -> {}", vocabulary_, fmt::join(hidden_, ", "),
                     vocabulary_);
}

std::vector<LayerOp> LstmLmImpl::graph() const {
  LayerOp onehot;
  onehot.op = "onehot";
  onehot.size = vocabulary_;
  std::vector<LayerOp> ops{onehot};
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    LayerOp lstm;
    lstm.op = "lstm";
    lstm.module = fmt::format("lstm{}", i + 1);
    ops.push_back(lstm);
  }
  ops.push_back(linear_op("out"));
  return ops;
}

Network make_lstm_lm(const config::NetworkConfig& cfg, const NetworkSpec& spec) {
  if (cfg.hidden.empty()) throw UserError("network.hidden: lstm_lm needs the width of each LSTM layer, e.g. [256, 256, 256]");
  for (int width : cfg.hidden)
    if (width <= 0) throw UserError(fmt::format("network.hidden: LSTM widths must be positive, got {}", width));
  if (spec.num_classes <= 1)
    throw UserError(fmt::format("network.kind: lstm_lm needs a symbol dataset, got {} classes", spec.num_classes));
  return std::make_shared<LstmLmImpl>(spec.num_classes, cfg.hidden);
}

double bits_per_char(const torch::Tensor& logits, const torch::Tensor& targets) {
  // In double: a metric summed over millions of characters, and a uniform
  // predictor then scores exactly log2(256) = 8.
  auto flat = logits.reshape({-1, logits.size(-1)}).to(torch::kFloat64);
  auto nats = torch::nn::functional::cross_entropy(flat, targets.reshape({-1}).to(torch::kInt64));
  return nats.item<double>() / std::log(2.0);
}

double evaluate_bits_per_char(LstmLmImpl& model, const torch::Tensor& rows, std::int64_t window) {
  torch::NoGradGuard no_grad;
  model.eval();
  const auto device = model.parameters().front().device();
  LstmState state;
  double bits = 0;
  std::int64_t count = 0;
  for (std::int64_t w = 0; w < data::text::window_count(rows, window); ++w) {
    auto [inputs, targets] = data::text::window(rows, w, window);
    LmOutput out = model.forward(inputs.to(device), state);
    state = std::move(out.state);
    // Windows differ in length at the end: weight each by its predictions.
    bits += bits_per_char(out.logits, targets.to(device)) * static_cast<double>(targets.numel());
    count += targets.numel();
  }
  return count ? bits / static_cast<double>(count) : 0.0;
}

}  // namespace qretrain::models
