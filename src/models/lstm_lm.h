// Character-level LSTM language model (paper section 3.3): one-hot bytes ->
// stacked LSTM layers -> linear output over the 256 byte values.
//
// Each layer is its own torch::nn::LSTM, so every W_ih and W_hh (and the
// output projection) is a separate rank-2 parameter: its own weight group in
// the QuantHook, with no LSTM forked for quantization. The recurrent state is
// an explicit input and output of forward, so truncated BPTT can carry it
// across windows.
#pragma once

#include <tuple>
#include <vector>

#include "models/network.h"

namespace qretrain::models {

// (h, c) per layer, each [1, batch, hidden]. Empty = zero state.
using LstmState = std::vector<std::tuple<torch::Tensor, torch::Tensor>>;

// The state cut from the graph that produced it: gradients stop at a
// truncation window's boundary while the values flow on.
LstmState detached(const LstmState& state);

struct LmOutput {
  torch::Tensor logits;  // [batch, steps, vocabulary]
  LstmState state;       // after the last step
};

class LstmLmImpl : public NetworkImpl {
 public:
  LstmLmImpl(int vocabulary, const std::vector<int>& hidden);

  // Symbols [batch, steps] (int64) from `state` to logits and the next state.
  LmOutput forward(const torch::Tensor& symbols, const LstmState& state);
  // From the zero state; logits [batch, steps, vocabulary].
  torch::Tensor forward(torch::Tensor symbols) override;
  std::string describe() const override;
  // onehot, one lstm step per layer (lstm1, lstm2, ...), linear out.
  std::vector<LayerOp> graph() const override;

  int vocabulary() const { return vocabulary_; }

 private:
  int vocabulary_;
  std::vector<int> hidden_;
  std::vector<torch::nn::LSTM> layers_;
  torch::nn::Linear out_{nullptr};
};

// network.kind "lstm_lm": vocabulary = spec.num_classes, layer widths = network.hidden.
Network make_lstm_lm(const config::NetworkConfig& cfg, const NetworkSpec& spec);

// Mean cross-entropy of `targets` under `logits` (any leading shape, classes
// last) in bits: nats / ln 2. A uniform predictor over 256 symbols scores 8.
double bits_per_char(const torch::Tensor& logits, const torch::Tensor& targets);

// Bits per character over a [streams, L] layout (data::text::as_streams),
// read in windows of `window` steps with the state carried from the zero state
// at column 0 to the end: every prediction of every row is scored once.
// Runs under no_grad in eval mode; quantized callers wrap it in a QuantizedScope.
double evaluate_bits_per_char(LstmLmImpl& model, const torch::Tensor& rows, std::int64_t window);

}  // namespace qretrain::models
