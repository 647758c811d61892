#include "deploy/reference.h"

#include <cmath>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/text.h"
#include "models/lstm_lm.h"
#include "quant/qstep.h"
#include "util/error.h"

namespace qretrain::deploy {
namespace {

using models::LayerOp;

bool is_weight_layer(const LayerOp& op) { return op.op == "conv2d" || op.op == "linear"; }

// A per-channel vector shaped to broadcast over dim 1 of a rank-`rank` tensor.
torch::Tensor per_channel(const torch::Tensor& v, std::int64_t rank) {
  std::vector<std::int64_t> shape(static_cast<std::size_t>(rank), 1);
  shape[1] = v.numel();
  return v.reshape(shape);
}

std::int64_t code_max(int bits, bool is_signed) {
  return is_signed ? (std::int64_t{1} << (bits - 1)) - 1 : (std::int64_t{1} << bits) - 1;
}

// Real values to codes of `point`: round half away from zero, clamped (the
// weight quantizer's rule), in float64.
torch::Tensor to_codes(const torch::Tensor& x, const SignalPoint& point, int bits) {
  const std::int64_t hi = code_max(bits, point.is_signed);
  const std::int64_t lo = point.is_signed ? -hi : 0;
  auto v = x.to(torch::kFloat64) / point.step;
  return (torch::sign(v) * torch::floor(v.abs() + 0.5)).clamp(static_cast<double>(lo), static_cast<double>(hi)).to(torch::kInt64);
}

// The float64 product of integers is exact while |partial sums| < 2^53; the
// hardware accumulator is 32 bits, so results must stay below 2^31.
void check_accumulator(const torch::Tensor& acc, const std::string& layer, const std::string& file) {
  const double largest = acc.numel() ? acc.abs().max().item<double>() : 0.0;
  if (largest >= 2147483648.0)
    throw UserError(fmt::format("{}: layer {}'s accumulator reached {:.0f}, beyond 32 bits (use fewer --signal-bits)",
                                file, layer, largest));
}

// Torch's errors on a network that does not fit together (a file whose
// header passed the reader's checks) as one line naming the file.
template <typename F>
auto naming_file(const std::string& file, F&& run) {
  try {
    return run();
  } catch (const c10::Error& e) {
    throw UserError(fmt::format("{}: the network in this file cannot run: {}", file, e.what_without_backtrace()));
  }
}

}  // namespace

struct ReferenceNetwork::Signal {
  torch::Tensor values;  // float32 real values, or int64 codes
  bool integer = false;
  double scale = 1;      // real value of code 1
};

ReferenceNetwork::ReferenceNetwork(PackedModel model) : model_(std::move(model)) {}

bool ReferenceNetwork::language_model() const { return !model_.graph.empty() && model_.graph.front().op == "onehot"; }

std::vector<SignalPoint> ReferenceNetwork::default_points() const {
  std::vector<SignalPoint> points;
  if (!language_model()) points.push_back({"input", true, 0});
  std::string last_weight;
  for (std::size_t i = 0; i < model_.graph.size(); ++i) {
    const LayerOp& op = model_.graph[i];
    if (is_weight_layer(op)) last_weight = op.module;
    if (op.op == "relu") points.push_back({last_weight, false, 0});
    if (op.op == "lrn") points.push_back({fmt::format("lrn after {}", last_weight), false, 0});
    if (op.op == "lstm") points.push_back({op.module + ".h", true, 0});
  }
  return points;
}

void ReferenceNetwork::set_signal_steps(int bits, const std::vector<SignalPoint>& points) {
  if (bits != 0 && (bits < 2 || bits > 12)) throw UserError(fmt::format("--signal-bits: {} is outside 2..12", bits));
  if (bits != 0 && points.size() != default_points().size())
    throw std::runtime_error(fmt::format("{} signal steps for {} points", points.size(), default_points().size()));
  for (const auto& p : points)
    if (bits && !(p.step > 0) ) throw std::invalid_argument(fmt::format("signal step of {} is {}", p.where, p.step));
  signal_bits_ = bits;
  points_ = bits ? points : std::vector<SignalPoint>{};
}

void ReferenceNetwork::quantize_signals(int bits, const torch::Tensor& calibration) {
  naming_file(model_.source, [&] {
    fit_signal_steps(bits, calibration);
    return 0;
  });
}

void ReferenceNetwork::fit_signal_steps(int bits, const torch::Tensor& calibration) {
  torch::NoGradGuard no_grad;
  set_signal_steps(0, {});
  if (bits == 0) return;
  std::vector<torch::Tensor> record;
  if (language_model()) {
    // Each layer's h over the calibration symbols, in float.
    torch::Tensor x = calibration;
    std::size_t point = 0;
    for (const auto& op : model_.graph) {
      if (op.op != "lstm") continue;
      torch::Tensor h, c;
      x = lstm_layer(op, x, h, c, point++, &record);
    }
  } else {
    run_layers({calibration.to(torch::kFloat32), false, 1}, nullptr, &record);
  }
  std::vector<SignalPoint> points = default_points();
  TORCH_CHECK(record.size() == points.size(), "calibration recorded ", record.size(), " signals for ", points.size(),
              " points");
  for (std::size_t i = 0; i < points.size(); ++i) {
    // At most 2^18 values, evenly strided, bound the exact search's time.
    auto values = record[i].flatten().to(torch::kFloat32);
    if (values.numel() > (1 << 18)) values = values.slice(0, 0, values.numel(), values.numel() / (1 << 18) + 1);
    values = values.contiguous();
    points[i].step = quant::qstep_levels(values.data_ptr<float>(), static_cast<std::size_t>(values.numel()),
                                         static_cast<int>(code_max(bits, points[i].is_signed))).delta;
    if (!(points[i].step > 0)) points[i].step = 1.0;  // an all-zero signal: any step codes it exactly
  }
  set_signal_steps(bits, points);
}

torch::Tensor ReferenceNetwork::weighted_sum(const LayerOp& op, const torch::Tensor& x, bool integer) const {
  const PackedTensor& w = model_.tensor(op.module + ".weight");
  auto weights = w.bits > 0 ? w.levels_tensor() : w.values_tensor();
  if (integer) weights = weights.to(torch::kFloat64);
  torch::Tensor acc = op.op == "conv2d" ? torch::conv2d(x, weights, {}, 1, op.padding) : x.matmul(weights.t());
  if (!integer && w.bits > 0) acc = acc * static_cast<float>(w.delta);
  return acc;
}

ReferenceNetwork::Signal ReferenceNetwork::run_layers(Signal s, IntegerTrace* trace,
                                                      std::vector<torch::Tensor>* record) const {
  const auto& ops = model_.graph;
  const bool integer = signal_bits_ > 0;
  std::size_t point = 0;
  if (record) record->push_back(s.values);
  if (integer) {
    s = {to_codes(s.values, points_[0], signal_bits_), true, points_[0].step};
    if (trace) trace->where.push_back("input"), trace->codes.push_back(s.values);
  }
  ++point;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const LayerOp& op = ops[i];
    const std::int64_t rank = s.values.dim();
    if (is_weight_layer(op)) {
      const PackedTensor& w = model_.tensor(op.module + ".weight");
      const PackedTensor* bias = model_.find(op.module + ".bias");
      if (!integer) {
        s.values = weighted_sum(op, s.values, false);
        if (bias) s.values = s.values + per_channel(bias->values_tensor(), s.values.dim());
        continue;
      }
      // Integer signals: the layer, its batch norm and its ReLU are one
      // product and one rescale.
      std::size_t j = i + 1;
      const LayerOp* norm = j < ops.size() && ops[j].op == "batchnorm" ? &ops[j++] : nullptr;
      const bool relu = j < ops.size() && ops[j].op == "relu";
      torch::Tensor acc = w.bits > 0 ? weighted_sum(op, s.values.to(torch::kFloat64), true)
                                     : weighted_sum(op, s.values.to(torch::kFloat64) * s.scale, true);
      const std::int64_t channels = acc.size(1);
      auto scale = torch::full({channels}, (w.bits > 0 ? w.delta : 1.0) * (w.bits > 0 ? s.scale : 1.0), torch::kFloat64);
      auto offset = bias ? bias->values_tensor().to(torch::kFloat64) : torch::zeros({channels}, torch::kFloat64);
      if (norm) {
        auto a = model_.tensor(norm->module + ".scale").values_tensor().to(torch::kFloat64);
        scale = scale * a;
        offset = a * offset + model_.tensor(norm->module + ".shift").values_tensor().to(torch::kFloat64);
      }
      if (!relu) {  // the output layer: real logits, once
        if (j != ops.size())
          throw UserError(fmt::format("{}: layer '{}' has no activation and is not the last: no integer form",
                                      model_.source, op.module));
        if (w.bits > 0) {
          check_accumulator(acc, op.module, model_.source);
          if (trace) trace->output_accumulator = acc.to(torch::kInt64);
        }
        s = {acc * per_channel(scale, acc.dim()) + per_channel(offset, acc.dim()), false, 1};
        s.values = s.values.to(torch::kFloat32);
        i = j - 1;
        continue;
      }
      const SignalPoint& out = points_[point++];
      if (w.bits > 0) {
        check_accumulator(acc, op.module, model_.source);
        s.values = apply_rescale(acc.to(torch::kInt64), fixed_rescale(scale / out.step, offset / out.step), 0,
                                 code_max(signal_bits_, false));
      } else {  // float weights: a real product, quantized in float
        s.values = to_codes(acc * per_channel(scale, acc.dim()) + per_channel(offset, acc.dim()), out, signal_bits_);
      }
      s.scale = out.step;
      if (trace) trace->where.push_back(out.where), trace->codes.push_back(s.values);
      i = j;  // the ReLU is done: codes start at 0
      continue;
    }
    if (op.op == "batchnorm") {
      if (integer) throw UserError(fmt::format("{}: a batch norm that follows no weight layer has no integer form", model_.source));
      s.values = s.values * per_channel(model_.tensor(op.module + ".scale").values_tensor(), rank) +
                 per_channel(model_.tensor(op.module + ".shift").values_tensor(), rank);
    } else if (op.op == "relu") {
      if (integer) throw UserError(fmt::format("{}: a ReLU that follows no weight layer has no integer form", model_.source));
      s.values = torch::relu(s.values);
      if (record) record->push_back(s.values);
      ++point;
    } else if (op.op == "maxpool") {
      s.values = s.integer ? torch::max_pool2d(s.values.to(torch::kFloat64), op.kernel, op.stride).to(torch::kInt64)
                           : torch::max_pool2d(s.values, op.kernel, op.stride);
    } else if (op.op == "avgpool") {
      if (s.integer) {
        // Sums of codes (exact); the 1/k² goes into the scale.
        namespace F = torch::nn::functional;
        s.values = F::avg_pool2d(s.values.to(torch::kFloat64),
                                 F::AvgPool2dFuncOptions(op.kernel).stride(op.stride).divisor_override(1))
                       .to(torch::kInt64);
        s.scale /= static_cast<double>(op.kernel * op.kernel);
      } else {
        s.values = torch::avg_pool2d(s.values, op.kernel, op.stride);
      }
    } else if (op.op == "lrn") {
      namespace F = torch::nn::functional;
      auto options = F::LocalResponseNormFuncOptions(op.size).alpha(op.alpha).beta(op.beta).k(op.k);
      auto real = s.integer ? (s.values.to(torch::kFloat64) * s.scale).to(torch::kFloat32) : s.values;
      s.values = F::local_response_norm(real, options);
      if (record) record->push_back(s.values);
      if (integer) {  // a float island, requantized at its output
        const SignalPoint& out = points_[point];
        s = {to_codes(s.values, out, signal_bits_), true, out.step};
        if (trace) trace->where.push_back(out.where), trace->codes.push_back(s.values);
      }
      ++point;
    } else if (op.op == "flatten") {
      s.values = s.values.flatten(1);
    } else {
      throw UserError(fmt::format("{}: layer '{}' does not belong in a feed-forward network", model_.source, op.op));
    }
  }
  return s;
}

torch::Tensor ReferenceNetwork::forward(const torch::Tensor& x, IntegerTrace* trace) const {
  if (language_model()) throw std::logic_error("forward: a language model reads symbols (forward_lm)");
  torch::NoGradGuard no_grad;
  return naming_file(model_.source, [&] { return run_layers({x.to(torch::kFloat32), false, 1}, trace, nullptr).values; });
}

torch::Tensor ReferenceNetwork::lstm_layer(const LayerOp& op, const torch::Tensor& x, torch::Tensor& h,
                                           torch::Tensor& c, std::size_t point, std::vector<torch::Tensor>* record) const {
  const PackedTensor& w_ih = model_.tensor(op.module + ".weight_ih_l0");
  const PackedTensor& w_hh = model_.tensor(op.module + ".weight_hh_l0");
  const bool integer = signal_bits_ > 0;
  const std::int64_t hidden = w_hh.shape[1];
  const std::int64_t batch = x.size(0), steps = x.size(1);
  auto ih = w_ih.bits > 0 ? w_ih.levels_tensor() : w_ih.values_tensor();
  auto hh = w_hh.bits > 0 ? w_hh.levels_tensor() : w_hh.values_tensor();
  const double d_ih = w_ih.bits > 0 ? w_ih.delta : 1.0, d_hh = w_hh.bits > 0 ? w_hh.delta : 1.0;
  const auto dtype = integer ? torch::kFloat64 : torch::kFloat32;
  ih = ih.to(dtype);
  hh = hh.to(dtype);
  auto bias = (model_.tensor(op.module + ".bias_ih_l0").values_tensor() +
               model_.tensor(op.module + ".bias_hh_l0").values_tensor()).to(dtype);

  // Input products for the whole window: a one-hot input selects a column
  // of levels; codes (or reals) multiply them.
  torch::Tensor input_sum;
  double input_scale = d_ih;
  if (x.scalar_type() == torch::kInt64 && x.dim() == 2) {
    input_sum = ih.t().index_select(0, x.reshape({-1})).reshape({batch, steps, -1});
  } else {
    input_sum = x.to(dtype).matmul(ih.t());
    if (integer) input_scale *= points_[point - 1].step;  // x holds the previous layer's codes
  }
  if (integer) check_accumulator(input_sum, op.module + " (input)", model_.source);
  auto gates_in = input_sum * input_scale + bias;

  if (!h.defined()) {
    h = integer ? torch::zeros({batch, hidden}, torch::kInt64) : torch::zeros({batch, hidden}, dtype);
    c = torch::zeros({batch, hidden}, dtype);
  }
  const double h_scale = integer ? points_[point].step : 1.0;
  std::vector<torch::Tensor> outputs;
  outputs.reserve(static_cast<std::size_t>(steps));
  for (std::int64_t t = 0; t < steps; ++t) {
    auto recurrent = h.to(dtype).matmul(hh.t());
    if (integer) check_accumulator(recurrent, op.module + " (recurrent)", model_.source);
    auto gates = gates_in.select(1, t) + recurrent * (d_hh * h_scale);
    auto chunks = gates.chunk(4, 1);  // PyTorch order: input, forget, cell, output
    c = torch::sigmoid(chunks[1]) * c + torch::sigmoid(chunks[0]) * torch::tanh(chunks[2]);
    auto real = torch::sigmoid(chunks[3]) * torch::tanh(c);
    h = integer ? to_codes(real, points_[point], signal_bits_) : real;
    outputs.push_back(record ? real : h);
  }
  auto sequence = torch::stack(outputs, 1);
  if (record) record->push_back(sequence);
  return sequence;
}

torch::Tensor ReferenceNetwork::forward_lm(const torch::Tensor& symbols, LmState& state) const {
  return naming_file(model_.source, [&] { return run_lm(symbols, state); });
}

torch::Tensor ReferenceNetwork::run_lm(const torch::Tensor& symbols, LmState& state) const {
  torch::NoGradGuard no_grad;
  const bool integer = signal_bits_ > 0;
  torch::Tensor x = symbols;
  std::size_t layer = 0;
  for (const auto& op : model_.graph) {
    if (op.op == "onehot") continue;
    if (op.op == "lstm") {
      if (state.h.size() <= layer) state.h.emplace_back(), state.c.emplace_back();
      x = lstm_layer(op, x, state.h[layer], state.c[layer], layer, nullptr);
      ++layer;
      continue;
    }
    if (op.op != "linear") throw UserError(fmt::format("{}: layer '{}' does not belong in a language model", model_.source, op.op));
    const PackedTensor& w = model_.tensor(op.module + ".weight");
    auto weights = w.bits > 0 ? w.levels_tensor() : w.values_tensor();
    double scale = w.bits > 0 ? w.delta : 1.0;
    torch::Tensor acc;
    if (integer) {
      acc = x.to(torch::kFloat64).matmul(weights.to(torch::kFloat64).t());
      if (w.bits > 0) check_accumulator(acc, op.module, model_.source);
      scale *= points_[layer - 1].step;
    } else {
      acc = x.matmul(weights.t());
    }
    x = (acc * scale + model_.tensor(op.module + ".bias").values_tensor().to(acc.scalar_type())).to(torch::kFloat32);
  }
  return x;
}

double ReferenceNetwork::evaluate_bits_per_char(const torch::Tensor& rows, std::int64_t window) const {
  LmState state;
  double bits = 0;
  std::int64_t count = 0;
  for (std::int64_t w = 0; w < data::text::window_count(rows, window); ++w) {
    auto [inputs, targets] = data::text::window(rows, w, window);
    auto logits = forward_lm(inputs, state);
    bits += models::bits_per_char(logits, targets) * static_cast<double>(targets.numel());
    count += targets.numel();
  }
  return count ? bits / static_cast<double>(count) : 0.0;
}

FixedRescale fixed_rescale(const torch::Tensor& scale, const torch::Tensor& offset) {
  FixedRescale r;
  const double largest = std::max(scale.abs().max().item<double>(), 1e-30);
  // max |M| in [2^30, 2^31): 31 significant bits, and |acc · M| < 2^62.
  r.shift = std::clamp(30 - static_cast<int>(std::floor(std::log2(largest))), 0, 62);
  const double unit = std::ldexp(1.0, r.shift);
  auto multiplier = torch::round(scale.to(torch::kFloat64) * unit);
  auto shifted_offset = torch::round(offset.to(torch::kFloat64) * unit);
  // |acc| < 2^31 and |M| < 2^31 keep acc * M + O inside int64.
  if (!(multiplier.abs().max().item<double>() < 2147483648.0) || !(shifted_offset.abs().max().item<double>() < 0x1p61))
    throw UserError(fmt::format("a layer's rescale ({:.3g}, offset up to {:.3g}) has no 31-bit fixed-point form",
                                largest, offset.abs().max().item<double>()));
  r.multiplier = multiplier.to(torch::kInt64);
  r.offset = shifted_offset.to(torch::kInt64);
  return r;
}

torch::Tensor apply_rescale(const torch::Tensor& acc, const FixedRescale& r, std::int64_t lo, std::int64_t hi) {
  const std::int64_t rank = acc.dim();
  auto total = acc * per_channel(r.multiplier, rank) + per_channel(r.offset, rank);
  if (r.shift > 0) total = torch::div(total + (std::int64_t{1} << (r.shift - 1)), std::int64_t{1} << r.shift, "floor");
  return total.clamp(lo, hi);
}

}  // namespace qretrain::deploy
