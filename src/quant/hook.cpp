#include "quant/hook.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include <ATen/record_function.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "quant/qstep.h"

namespace qretrain::quant {
namespace {

bool cpu_float(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous();
}

// LSQ's initial step: 2·mean|w| / √Q_P over one channel's values.
double lsq_mean_step(const float* w, std::int64_t n, int bits) {
  double sum = 0;
  for (std::int64_t i = 0; i < n; ++i) sum += std::fabs(w[i]);
  return n > 0 ? 2.0 * sum / static_cast<double>(n) / std::sqrt(static_cast<double>(max_level(bits))) : 0.0;
}

}  // namespace

double WeightGroup::delta() const {
  TORCH_CHECK(deltas.size() == 1, "group ", name, " has ", deltas.size(), " step sizes (per channel), not one");
  return deltas[0];
}

std::vector<std::string> weight_group_names(torch::nn::Module& model) {
  std::vector<std::string> names;
  for (const auto& item : model.named_parameters(/*recurse=*/true))
    if (item.value().dim() >= 2) names.push_back(item.key());
  return names;
}

std::map<std::string, int> resolve_layer_bits(const std::map<std::string, int>& layer_bits,
                                              const std::vector<std::string>& group_names) {
  std::map<std::string, int> out;
  // first / last, then names, so that an explicit name wins.
  for (const auto& [key, bits] : layer_bits) {
    if (group_names.empty()) break;
    if (key == "first") out[group_names.front()] = bits;
    if (key == "last") out[group_names.back()] = bits;
  }
  for (const auto& [key, bits] : layer_bits) {
    if (key == "first" || key == "last") continue;
    if (std::find(group_names.begin(), group_names.end(), key) == group_names.end())
      throw std::invalid_argument(fmt::format("'{}' is not a weight group of this network (groups: {}; or first, last)",
                                              key, fmt::join(group_names, ", ")));
    out[key] = bits;
  }
  return out;
}

torch::Tensor quantize_tensor(const torch::Tensor& w, double delta, int bits) {
  if (cpu_float(w)) {
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

QuantHook::QuantHook(torch::nn::Module& model, int bits) : QuantHook(model, HookOptions{bits}) {}

QuantHook::QuantHook(torch::nn::Module& model, const HookOptions& options) : options_(options) {
  auto params = model.named_parameters(true);
  const std::vector<std::string> names = weight_group_names(model);
  const std::map<std::string, int> layer_bits = resolve_layer_bits(options.layer_bits, names);
  for (const auto& name : names) {
    WeightGroup g;
    g.name = name;
    g.param = params[name];
    g.weights = g.param.data();
    g.quantized = torch::empty_like(g.weights);
    const auto own = layer_bits.find(name);
    g.bits = own == layer_bits.end() ? options.bits : own->second;
    g.channels = options.granularity == Granularity::Channel ? g.weights.size(0) : 1;
    g.deltas.assign(static_cast<std::size_t>(g.channels), 0.0);
    if (options.rule == StepRule::Learned)
      g.log_step = torch::zeros({g.channels}, torch::TensorOptions().dtype(torch::kFloat32).device(g.weights.device()))
                       .set_requires_grad(true);
    groups_.push_back(std::move(g));
  }
  refit_step_sizes();
}

std::vector<double> QuantHook::step_sizes() const {
  std::vector<double> out;
  for (const auto& g : groups_) out.insert(out.end(), g.deltas.begin(), g.deltas.end());
  return out;
}

std::vector<double> QuantHook::group_step_sizes() const {
  std::vector<double> out;
  for (const auto& g : groups_) {
    double sum = 0;
    for (double d : g.deltas) sum += d;
    out.push_back(sum / static_cast<double>(g.deltas.size()));
  }
  return out;
}

void QuantHook::set_step_sizes(const std::vector<double>& step_sizes) {
  std::size_t total = 0;
  for (const auto& g : groups_) total += g.deltas.size();
  TORCH_CHECK(step_sizes.size() == total, "set_step_sizes: ", step_sizes.size(), " step sizes for ", total,
              " (", groups_.size(), " groups", options_.granularity == Granularity::Channel ? ", per channel" : "",
              ")");
  std::size_t k = 0;
  for (auto& g : groups_)
    for (double& d : g.deltas) d = step_sizes[k++];
  push_learned_steps();
}

void QuantHook::refit_step_sizes() {
  TORCH_CHECK(!active_, "refit_step_sizes inside a QuantizedScope would fit the quantized weights");
  RECORD_FUNCTION("qretrain::refit_step_sizes", std::vector<c10::IValue>());
  // Every channel of every CPU float group at once on the OpenMP threads (one
  // call per bit width); others one by one.
  std::map<int, std::vector<WeightSpan>> spans;
  std::map<int, std::vector<double*>> targets;
  std::vector<torch::Tensor> copies;  // keeps CPU copies of other groups alive
  for (auto& g : groups_) {
    torch::Tensor w = cpu_float(g.weights) ? g.weights : g.weights.detach().to(torch::kCPU, torch::kFloat32).contiguous();
    if (!cpu_float(g.weights)) copies.push_back(w);
    const std::int64_t size = g.channel_size();
    for (std::int64_t c = 0; c < g.channels; ++c) {
      const float* data = w.data_ptr<float>() + c * size;
      if (options_.rule == StepRule::Learned && options_.lsq_mean_init) {
        g.deltas[static_cast<std::size_t>(c)] = lsq_mean_step(data, size, g.bits);
        continue;
      }
      spans[g.bits].push_back({data, static_cast<std::size_t>(size)});
      targets[g.bits].push_back(&g.deltas[static_cast<std::size_t>(c)]);
    }
  }
  for (const auto& [bits, list] : spans) {
    const std::vector<StepResult> fitted = qstep_each(list, bits);
    for (std::size_t i = 0; i < fitted.size(); ++i) *targets[bits][i] = fitted[i].delta;
  }
  push_learned_steps();
}

std::vector<torch::Tensor> QuantHook::learned_steps() const {
  std::vector<torch::Tensor> out;
  if (options_.rule != StepRule::Learned) return out;
  for (const auto& g : groups_) out.push_back(g.log_step);
  return out;
}

// θ = log Δ from the Δ values (after a refit or a restore). A zero Δ (an
// all-zero channel) would make θ = −∞, and a tiny one a step gradient that
// overflows θ as soon as the weights move: it starts at the mean of the
// group's other steps instead (1 if it has none).
void QuantHook::push_learned_steps() {
  if (options_.rule != StepRule::Learned) return;
  torch::NoGradGuard no_grad;
  for (auto& g : groups_) {
    double sum = 0;
    int positive = 0;
    for (double d : g.deltas)
      if (d > 0) sum += d, ++positive;
    const double fallback = positive ? sum / positive : 1.0;
    std::vector<float> logs;
    for (double d : g.deltas) logs.push_back(static_cast<float>(std::log(d > 0 ? d : fallback)));
    g.log_step.copy_(torch::tensor(logs).to(g.log_step.device()));
  }
}

// Δ = exp(θ) after the optimizer moved θ, in double: then float(log Δ) gives
// θ back bit for bit, so a restored or resumed Δ is the very same step
// (exp in float32 and back missed θ by an ulp for Δ above about 0.37).
void QuantHook::after_update() {
  if (options_.rule != StepRule::Learned) return;
  for (auto& g : groups_) {
    torch::Tensor steps = g.log_step.detach().to(torch::kCPU, torch::kFloat64).exp().contiguous();
    const double* s = steps.data_ptr<double>();
    for (std::int64_t c = 0; c < g.channels; ++c) g.deltas[static_cast<std::size_t>(c)] = s[c];
  }
}

void QuantHook::accumulate_step_gradients() {
  if (options_.rule != StepRule::Learned) return;
  RECORD_FUNCTION("qretrain::lsq_step_gradients", std::vector<c10::IValue>());
  torch::NoGradGuard no_grad;
  last_step_gradients_.clear();
  for (auto& g : groups_) {
    torch::Tensor grad = g.param.grad();
    if (!grad.defined()) {
      last_step_gradients_.insert(last_step_gradients_.end(), g.deltas.size(), 0.0);
      continue;
    }
    const double q = max_level(g.bits);
    // Per channel: rows of [channels, channel_size].
    torch::Tensor w = g.weights.reshape({g.channels, -1}).to(torch::kFloat64);
    torch::Tensor gr = grad.reshape({g.channels, -1}).to(torch::kFloat64);
    torch::Tensor delta = torch::tensor(g.deltas, torch::kFloat64).to(w.device()).unsqueeze(1);
    torch::Tensor v = w / delta;
    torch::Tensor inside = v.abs() < q;
    torch::Tensor rounded = torch::sign(v) * torch::floor(v.abs() + 0.5);
    torch::Tensor dwq_ddelta = torch::where(inside, rounded - v, torch::sign(w) * q);
    torch::Tensor step_grad = (gr * dwq_ddelta).sum(1);
    if (options_.lsq_grad_scale) step_grad = step_grad / std::sqrt(static_cast<double>(g.channel_size()) * q);
    torch::Tensor cpu = step_grad.to(torch::kCPU).contiguous();
    last_step_gradients_.insert(last_step_gradients_.end(), cpu.data_ptr<double>(),
                                cpu.data_ptr<double>() + cpu.numel());
    // θ = log Δ: the LSQ step divided by Δ (see learned_steps()).
    g.log_step.mutable_grad() = (step_grad / delta.squeeze(1)).to(torch::kFloat32);
    // LSQ's straight-through estimator: no weight gradient where w is clipped.
    grad.mul_(inside.reshape(grad.sizes()).to(grad.scalar_type()));
  }
}

void QuantHook::swap_in() {
  TORCH_CHECK(!active_, "QuantHook::swap_in called twice");
  RECORD_FUNCTION("qretrain::quantize_weights", std::vector<c10::IValue>());
  torch::NoGradGuard no_grad;
  after_update();
  for (auto& g : groups_) {
    if (cpu_float(g.weights)) {
      const std::int64_t size = g.channel_size();
      for (std::int64_t c = 0; c < g.channels; ++c)
        quantize(g.weights.data_ptr<float>() + c * size, g.quantized.data_ptr<float>() + c * size,
                 static_cast<std::size_t>(size), static_cast<float>(g.deltas[static_cast<std::size_t>(c)]), g.bits);
    } else if (g.channels == 1) {
      g.quantized.copy_(quantize_tensor(g.weights, g.deltas[0], g.bits));
    } else {
      for (std::int64_t c = 0; c < g.channels; ++c)
        g.quantized[c].copy_(quantize_tensor(g.weights[c], g.deltas[static_cast<std::size_t>(c)], g.bits));
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
