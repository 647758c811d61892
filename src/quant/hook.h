// The quantized-weight hook (paper Fig. 1): float shadow weights, forward and
// backward with w_q = Q(w, Δ), the optimizer updates the float weights.
//
// It works on any module without touching its forward: for the duration of a
// forward/backward (QuantizedScope) each weight parameter's data is swapped to
// a buffer holding w_q, and swapped back to the float weights before the
// optimizer step. Swapping the data pointer (Tensor::set_data) costs nothing
// per weight; modules that keep other handles to the same parameter tensor
// (an LSTM's flat weights) see the swap because they share the TensorImpl.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

namespace qretrain::quant {

struct WeightGroup {
  std::string name;       // parameter name, e.g. "conv1.weight"
  torch::Tensor param;    // the module's parameter (data = float weights outside a scope)
  torch::Tensor weights;  // the float (shadow) weights: the parameter's own data
  torch::Tensor quantized;// w_q, recomputed at every swap_in
  double delta = 0;       // quantization step Δ of this group
};

// One group per weight tensor (rank >= 2: Linear, Conv, LSTM W_ih / W_hh);
// biases and batch-norm parameters (rank 1) stay float, as in the paper.
std::vector<std::string> weight_group_names(torch::nn::Module& model);

// Q applied to a whole tensor (CPU fast path; any device via torch ops).
torch::Tensor quantize_tensor(const torch::Tensor& w, double delta, int bits);
// QStep of a tensor's values (copied to CPU float).
double qstep_tensor(const torch::Tensor& w, int bits);

class QuantHook {
 public:
  QuantHook(torch::nn::Module& model, int bits);

  int bits() const { return bits_; }
  const std::vector<WeightGroup>& groups() const { return groups_; }
  // Δ of every group, in group order.
  std::vector<double> step_sizes() const;
  void set_step_sizes(const std::vector<double>& step_sizes);
  // Δ ← QStep(current float weights) for every group.
  void refit_step_sizes();

  // Puts w_q into the parameters / the float weights back. Not re-entrant.
  void swap_in();
  void swap_out();
  bool active() const { return active_; }

 private:
  int bits_;
  bool active_ = false;
  std::vector<WeightGroup> groups_;
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
