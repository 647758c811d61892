#include "quant/hook.h"

#include <ATen/record_function.h>
#include <fmt/format.h>

#include "quant/qstep.h"

namespace qretrain::quant {

std::vector<std::string> weight_group_names(torch::nn::Module& model) {
  std::vector<std::string> names;
  for (const auto& item : model.named_parameters(/*recurse=*/true))
    if (item.value().dim() >= 2) names.push_back(item.key());
  return names;
}

torch::Tensor quantize_tensor(const torch::Tensor& w, double delta, int bits) {
  if (w.device().is_cpu() && w.scalar_type() == torch::kFloat32 && w.is_contiguous()) {
    torch::Tensor out = torch::empty_like(w);
    quantize(w.data_ptr<float>(), out.data_ptr<float>(), static_cast<std::size_t>(w.numel()),
             static_cast<float>(delta), bits);
    return out;
  }
  // Same formula with tensor ops (GPU, other dtypes).
  if (delta <= 0) return torch::zeros_like(w);
  const double level = max_level(bits);
  auto k = torch::floor(w.abs() / delta + 0.5).clamp_max(level);
  return torch::sign(w) * k * delta;
}

double qstep_tensor(const torch::Tensor& w, int bits) {
  torch::Tensor cpu = w.detach().to(torch::kCPU, torch::kFloat32).contiguous();
  return qstep(cpu.data_ptr<float>(), static_cast<std::size_t>(cpu.numel()), bits).delta;
}

QuantHook::QuantHook(torch::nn::Module& model, int bits) : bits_(bits) {
  auto params = model.named_parameters(true);
  for (const auto& name : weight_group_names(model)) {
    WeightGroup g;
    g.name = name;
    g.param = params[name];
    g.weights = g.param.data();
    g.quantized = torch::empty_like(g.weights);
    groups_.push_back(std::move(g));
  }
  refit_step_sizes();
}

std::vector<double> QuantHook::step_sizes() const {
  std::vector<double> out;
  for (const auto& g : groups_) out.push_back(g.delta);
  return out;
}

void QuantHook::set_step_sizes(const std::vector<double>& step_sizes) {
  TORCH_CHECK(step_sizes.size() == groups_.size(), "set_step_sizes: ", step_sizes.size(), " step sizes for ",
              groups_.size(), " groups");
  for (std::size_t i = 0; i < groups_.size(); ++i) groups_[i].delta = step_sizes[i];
}

void QuantHook::refit_step_sizes() {
  TORCH_CHECK(!active_, "refit_step_sizes inside a QuantizedScope would fit the quantized weights");
  RECORD_FUNCTION("qretrain::refit_step_sizes", std::vector<c10::IValue>());
  // CPU float groups at once on the OpenMP threads; others one by one.
  std::vector<WeightSpan> spans;
  std::vector<WeightGroup*> fast;
  for (auto& g : groups_) {
    const torch::Tensor& w = g.param;
    if (w.device().is_cpu() && w.scalar_type() == torch::kFloat32 && w.is_contiguous()) {
      spans.push_back({w.data_ptr<float>(), static_cast<std::size_t>(w.numel())});
      fast.push_back(&g);
    } else {
      g.delta = qstep_tensor(g.param, bits_);
    }
  }
  const std::vector<StepResult> fitted = qstep_each(spans, bits_);
  for (std::size_t i = 0; i < fast.size(); ++i) fast[i]->delta = fitted[i].delta;
}

void QuantHook::swap_in() {
  TORCH_CHECK(!active_, "QuantHook::swap_in called twice");
  RECORD_FUNCTION("qretrain::quantize_weights", std::vector<c10::IValue>());
  torch::NoGradGuard no_grad;
  for (auto& g : groups_) {
    if (g.weights.device().is_cpu() && g.weights.scalar_type() == torch::kFloat32 && g.weights.is_contiguous()) {
      quantize(g.weights.data_ptr<float>(), g.quantized.data_ptr<float>(), static_cast<std::size_t>(g.weights.numel()),
               static_cast<float>(g.delta), bits_);
    } else {
      g.quantized.copy_(quantize_tensor(g.weights, g.delta, bits_));
    }
    g.param.set_data(g.quantized);
  }
  active_ = true;
}

void QuantHook::swap_out() {
  TORCH_CHECK(active_, "QuantHook::swap_out without swap_in");
  torch::NoGradGuard no_grad;
  for (auto& g : groups_) g.param.set_data(g.weights);
  active_ = false;
}

}  // namespace qretrain::quant
