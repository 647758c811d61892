// The quantized-weight hook (paper Fig. 1): float shadow weights, forward and
// backward with w_q = Q(w, Δ), the optimizer updates the float weights.
//
// It works on any module without touching its forward: for the duration of a
// forward/backward (QuantizedScope) each weight parameter's data is swapped to
// a buffer holding w_q, and swapped back to the float weights before the
// optimizer step. Swapping the data pointer (Tensor::set_data) costs nothing
// per weight; modules that keep other handles to the same parameter tensor
// (an LSTM's flat weights) see the swap because they share the TensorImpl.
//
// Beyond the paper (HookOptions): one Δ per output channel instead of per
// tensor, a bit width per group, and Δ learned by gradient (LSQ) instead of
// fitted by QStep.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace qretrain::quant {

// tensor: one Δ per weight tensor (the paper). channel: one Δ per output
// channel, i.e. per slice along dimension 0: a row of a Linear, an output
// channel of a Conv2d, a row of an LSTM's W_ih / W_hh (one unit of one gate).
enum class Granularity { Tensor, Channel };

// Fitted: Δ = QStep of the float weights whenever the method refits it.
// Learned: LSQ (Esser et al. 2019), Δ trained by the optimizer with the
// weights; see learned_steps() for the exact parametrisation.
enum class StepRule { Fitted, Learned };

struct HookOptions {
  HookOptions() = default;
  explicit HookOptions(int bits_) : bits(bits_) {}
  int bits = 2;                           // bit width of every group not in layer_bits
  std::map<std::string, int> layer_bits;  // group name -> its own bit width (names checked by the hook)
  Granularity granularity = Granularity::Tensor;
  StepRule rule = StepRule::Fitted;
  // Learned only: start from LSQ's 2·mean|w|/√Q_P instead of QStep's Δ, and
  // whether the step gradient is scaled by LSQ's g = 1/√(N·Q_P).
  bool lsq_mean_init = false;
  bool lsq_grad_scale = true;
};

struct WeightGroup {
  std::string name;       // parameter name, e.g. "conv1.weight"
  torch::Tensor param;    // the module's parameter (data = float weights outside a scope)
  torch::Tensor weights;  // the float (shadow) weights: the parameter's own data
  torch::Tensor quantized;// w_q, recomputed at every swap_in
  int bits = 2;           // this group's bit width
  std::int64_t channels = 1;    // Δ count: 1, or the size of dimension 0 (per channel)
  std::vector<double> deltas;   // quantization step Δ of each channel (one for a tensor)
  torch::Tensor log_step;       // Learned only: log Δ per channel, trained by the optimizer

  std::int64_t channel_size() const { return weights.numel() / channels; }
  // The tensor's single Δ; throws for a per-channel group.
  double delta() const;
};

// One group per weight tensor (rank >= 2: Linear, Conv, LSTM W_ih / W_hh);
// biases and batch-norm parameters (rank 1) stay float, as in the paper.
std::vector<std::string> weight_group_names(torch::nn::Module& model);

// Resolves quant.layer_bits for a network's groups: keys are group names, or
// `first` / `last` for the first and last group (a name wins over them).
// Throws std::invalid_argument naming an unknown key and listing the groups.
std::map<std::string, int> resolve_layer_bits(const std::map<std::string, int>& layer_bits,
                                              const std::vector<std::string>& group_names);

// Q applied to a whole tensor (CPU fast path; any device via torch ops).
torch::Tensor quantize_tensor(const torch::Tensor& w, double delta, int bits);
// QStep of a tensor's values (copied to CPU float).
double qstep_tensor(const torch::Tensor& w, int bits);

class QuantHook {
 public:
  QuantHook(torch::nn::Module& model, int bits);
  QuantHook(torch::nn::Module& model, const HookOptions& options);

  // The default bit width (the cell's); groups() tell each group's own.
  int bits() const { return options_.bits; }
  const HookOptions& options() const { return options_; }
  const std::vector<WeightGroup>& groups() const { return groups_; }
  // Every Δ: group by group, channel by channel (one per group for tensor
  // granularity). What checkpoints and training states keep.
  std::vector<double> step_sizes() const;
  void set_step_sizes(const std::vector<double>& step_sizes);
  // One Δ per group, for curves and logs: the group's Δ, or the mean of its
  // channels' Δ (the per-layer summary of a per-channel group).
  std::vector<double> group_step_sizes() const;
  // Δ ← QStep(current float weights) for every group and channel. Learned
  // steps are re-initialised by it too (the hook's constructor calls it).
  void refit_step_sizes();

  // Learned steps only: the tensors θ = log Δ (one per group, one element
  // per channel) for the optimizer to train with the weights. Δ = exp(θ) is
  // positive by construction. accumulate_step_gradients() gives θ the
  // gradient g·(∂L/∂Δ)/Δ, so that a plain SGD step moves Δ to first order
  // exactly as LSQ's step on Δ itself (Δ − lr·g·∂L/∂Δ), yet can never reach
  // 0 (with momentum, the same holds of the accumulated step; RMSprop and
  // Adam normalise θ's gradient, so there Δ moves by about lr per update in
  // relative terms and the gradient scale hardly matters). Empty for
  // fitted steps.
  std::vector<torch::Tensor> learned_steps() const;
  // After backward (the parameters' gradients are ∂L/∂w_q), before the
  // update; a no-op for fitted steps. For learned steps: LSQ's step gradient
  //   ∂L/∂Δ = g · Σ_i ∂L/∂w_q,i · (round(w_i/Δ) − w_i/Δ   if |w_i/Δ| < Q_P,
  //                                 sign(w_i) · Q_P        otherwise),
  // with round as in Q (half away from zero), into θ's gradient; and the
  // straight-through estimator of LSQ for the weights: their gradient is
  // kept where |w/Δ| < Q_P and zeroed where w is clipped.
  void accumulate_step_gradients();
  // ∂L/∂Δ of every Δ (flat, as step_sizes()) from the last
  // accumulate_step_gradients(), before the division by Δ: for tests.
  const std::vector<double>& last_step_gradients() const { return last_step_gradients_; }
  // After the optimizer step: Δ = exp(θ) for step_sizes() and the next
  // forward (swap_in does it too). A no-op for fitted steps.
  void after_update();

  // Puts w_q into the parameters / the float weights back. Not re-entrant.
  void swap_in();
  void swap_out();
  bool active() const { return active_; }

 private:
  void push_learned_steps();
  HookOptions options_;
  bool active_ = false;
  std::vector<WeightGroup> groups_;
  std::vector<double> last_step_gradients_;
};

// RAII: w_q in the parameters for the lifetime of the scope (no-op for a null hook).
class QuantizedScope {
 public:
  explicit QuantizedScope(QuantHook* hook) : hook_(hook) {
    if (hook_) hook_->swap_in();
  }
  ~QuantizedScope() {
    if (hook_) hook_->swap_out();
  }
  QuantizedScope(const QuantizedScope&) = delete;
  QuantizedScope& operator=(const QuantizedScope&) = delete;

 private:
  QuantHook* hook_;
};

}  // namespace qretrain::quant
