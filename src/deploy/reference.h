// The reference inference of a packed model: runs its graph from the file
// alone, with the weights as integer levels. Each weight layer computes
// acc = Σ level · x and multiplies by Δ once; no float weight is formed.
//
// With fixed-point signals (signal_bits > 0) every layer's output after its
// activation is requantized to a `signal_bits`-bit code with a step fitted by
// QStep on a calibration batch (post-ReLU signals are unsigned: levels
// 0 .. 2^b - 1; the input is signed: -(2^(b-1) - 1) .. 2^(b-1) - 1). A layer
// then multiplies integer levels by integer codes into an accumulator that
// must fit 32 bits (checked), and its single rescale Δ·s_in·(batch-norm
// scale) / s_out and offset are fixed-point integers (multiplier M_c and
// shift F, round half up): the whole pass is integer arithmetic, identical
// bit for bit on every machine. The exceptions, computed in float and
// requantized after: local response normalisation (network C) and the
// LSTM's gates and cell state (its h is quantized before every product).
// The products themselves run through torch on float64 holding integers:
// exact, since every partial sum stays below 2^53, so the summation order
// cannot change a bit.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "deploy/packed.h"

namespace qretrain::deploy {

struct SignalPoint {
  std::string where;   // "input", "fc1", "lstm2.h", ...
  bool is_signed = false;
  double step = 0;     // real value of code 1
};

// Codes of every requantization point of one forward, for tests that pin them.
struct IntegerTrace {
  std::vector<std::string> where;
  std::vector<torch::Tensor> codes;   // int64
  torch::Tensor output_accumulator;   // int64: the last layer's Σ level · code
};

class ReferenceNetwork {
 public:
  explicit ReferenceNetwork(PackedModel model);

  const PackedModel& model() const { return model_; }
  bool language_model() const;
  int signal_bits() const { return signal_bits_; }
  const std::vector<SignalPoint>& signal_points() const { return points_; }

  // Fixes signals to `bits` bits (0: float signals), with each point's step
  // fitted by QStep on the signals `calibration` produces in a float-signal
  // pass (images or frames [B, ...]; for a language model, symbols [B, T]).
  void quantize_signals(int bits, const torch::Tensor& calibration);
  // Sets the steps directly (tests, hand-worked values): one per point, in the
  // order signal_points() lists after quantize_signals.
  void set_signal_steps(int bits, const std::vector<SignalPoint>& points);

  // Logits [B, classes] of inputs [B, ...] (classification networks).
  torch::Tensor forward(const torch::Tensor& x, IntegerTrace* trace = nullptr) const;

  // Language models: logits [B, T, V] of symbols [B, T], carrying `state`
  // (h, c per layer; empty = zero state) from window to window.
  struct LmState {
    std::vector<torch::Tensor> h, c;
  };
  torch::Tensor forward_lm(const torch::Tensor& symbols, LmState& state) const;
  // Bits per character over a [streams, L] layout, windows of `window`
  // steps, every prediction scored once (as models::evaluate_bits_per_char).
  double evaluate_bits_per_char(const torch::Tensor& rows, std::int64_t window) const;

 private:
  struct Signal;
  Signal run_layers(Signal s, IntegerTrace* trace, std::vector<torch::Tensor>* record) const;
  torch::Tensor run_lm(const torch::Tensor& symbols, LmState& state) const;
  void fit_signal_steps(int bits, const torch::Tensor& calibration);
  torch::Tensor lstm_layer(const models::LayerOp& op, const torch::Tensor& x, torch::Tensor& h, torch::Tensor& c,
                           std::size_t point, std::vector<torch::Tensor>* record) const;
  // Σ level · x of a conv2d / linear op, times Δ for float signals.
  torch::Tensor weighted_sum(const models::LayerOp& op, const torch::Tensor& x, bool integer) const;
  std::vector<SignalPoint> default_points() const;

  PackedModel model_;
  int signal_bits_ = 0;
  std::vector<SignalPoint> points_;
};

// Fixed-point rescale of an accumulator to an output code: round(acc · m + o)
// as (acc · M + O + 2^(F-1)) >> F with M = round(m · 2^F), O = round(o · 2^F),
// F chosen so that max |M| < 2^31 (per output channel c: m_c, o_c; one F per
// layer, so a channel whose m_c is far below the layer's largest keeps fewer
// significant bits). A rescale with no such form is a UserError.
struct FixedRescale {
  torch::Tensor multiplier;  // int64 [C]
  torch::Tensor offset;      // int64 [C]
  int shift = 0;
};
FixedRescale fixed_rescale(const torch::Tensor& scale, const torch::Tensor& offset);
// codes = clamp(rescaled accumulator, lo, hi), channels along dim 1.
torch::Tensor apply_rescale(const torch::Tensor& acc, const FixedRescale& r, std::int64_t lo, std::int64_t hi);

}  // namespace qretrain::deploy
