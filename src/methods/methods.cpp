#include "methods/methods.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "data/dataset.h"
#include "util/error.h"
#include "util/registry.h"
#include "util/log.h"

namespace qretrain::methods {
namespace {

using Clock = std::chrono::steady_clock;

// Reference [4]'s search, layer by layer: each group's Δ is replaced by the
// candidate in [Δ/2, 2Δ] (log-spaced) with the lowest dev error, the others
// held at their current values.
void exhaustive_step_search(Session& s, models::Network& model, quant::QuantHook& hook) {
  TORCH_CHECK(hook.options().granularity == quant::Granularity::Tensor,
              "the reference [4] search tunes one Δ per layer (the config refuses it per channel)");
  std::vector<double> step_sizes = hook.step_sizes();
  const int points = s.cfg().quant.search_points;
  for (std::size_t g = 0; g < step_sizes.size(); ++g) {
    const double initial = step_sizes[g];
    double best_delta = initial, best_err = std::numeric_limits<double>::infinity();
    for (int i = 0; i < points; ++i) {
      double candidate = initial * std::pow(2.0, -1.0 + 2.0 * i / (points - 1));
      step_sizes[g] = candidate;
      hook.set_step_sizes(step_sizes);
      double err = s.evaluate(model, &hook, s.data().dev);
      if (err < best_err) best_err = err, best_delta = candidate;
    }
    step_sizes[g] = best_delta;
    hook.set_step_sizes(step_sizes);
    log::get("method")->info("{} conventional {}-bit: search Δ[{}] {:.4g} -> {:.4g} (dev {})", s.network_label(),
                             hook.bits(), hook.groups()[g].name, initial, best_delta,
                             s.data().format_metric(best_err));
  }
}

template <typename Body>
void guarded(Session& s, const std::string& method, int bits, Body body) {
  const auto started = Clock::now();
  try {
    body(started);
  } catch (const train::Diverged& e) {
    s.record_failure(method, bits, e.what(), started);
  }
}

void direct_one(Session& s, int b, const std::string& method) {
  guarded(s, method, b, [&](Clock::time_point started) {
    models::Network model = s.baseline();
    quant::QuantHook hook(*model, s.hook_options(method, b));
    train::FitResult none;
    none.stop_reason = "no retraining";
    s.record(method, b, "qstep", model, &hook, none, started);
  });
}

void retrain_one(Session& s, int b, const std::string& method, const train::StepPolicy& policy, bool search) {
  guarded(s, method, b, [&](Clock::time_point started) {
    models::Network model = s.baseline();
    quant::QuantHook hook(*model, s.hook_options(method, b));
    if (search) exhaustive_step_search(s, model, hook);
    train::FitResult fit = s.retrain(model, &hook, policy, method, b);
    const bool learned = hook.options().rule == quant::StepRule::Learned;
    s.record(method, b, learned ? "learned (LSQ)" : policy.describe(), model, &hook, fit, started);
  });
}

void run_direct(Session& s, int b) { direct_one(s, b, "direct"); }
void run_direct_channel(Session& s, int b) { direct_one(s, b, "direct@channel"); }

// The reference [4] search tunes one Δ per layer: not for per-channel steps
// (the config refuses it with quant.granularity: channel).
void run_conventional(Session& s, int b) {
  retrain_one(s, b, "conventional", train::StepPolicy{}, s.cfg().quant.exhaustive_search);
}
void run_conventional_channel(Session& s, int b) {
  retrain_one(s, b, "conventional@channel", train::StepPolicy{}, false);
}

void run_adaptive(Session& s, int b) { retrain_one(s, b, "adaptive", s.adaptive_policy(), false); }
void run_adaptive_channel(Session& s, int b) { retrain_one(s, b, "adaptive@channel", s.adaptive_policy(), false); }

// LSQ: Δ trained by the optimizer with the weights (quant/hook.h); no refit.
void run_lsq(Session& s, int b) { retrain_one(s, b, "lsq", train::StepPolicy{}, false); }
void run_lsq_channel(Session& s, int b) { retrain_one(s, b, "lsq@channel", train::StepPolicy{}, false); }

// One stage of the curriculum over precision start_bits, start_bits-1, ...:
// it starts from the previous stage's kept float weights (the float baseline
// for the first) with a fresh QStep Δ at its own precision.
void gradual_stage(Session& s, int b, const std::string& method, const train::StepPolicy& policy) {
  guarded(s, method, b, [&](Clock::time_point started) {
    models::Network model = b == s.cfg().quant.gradual_start_bits ? s.baseline() : s.kept_network(method, b + 1);
    quant::QuantHook hook(*model, s.hook_options(method, b));
    train::FitResult fit = s.retrain(model, &hook, policy, method, b);
    s.record(method, b, policy.describe(), model, &hook, fit, started);
  });
}

void run_gradual(Session& s, int b) { gradual_stage(s, b, "gradual", train::StepPolicy{}); }

void run_adaptive_gradual(Session& s, int b) { gradual_stage(s, b, "adaptive+gradual", s.adaptive_policy()); }

// The fair control of retraining: the float network trained on for the
// retraining budget (recipe `retrain`) with no quantization, so that a table
// separates what quantized retraining gains from what more epochs give.
void run_control(Session& s, int) {
  guarded(s, "control", 0, [&](Clock::time_point started) {
    models::Network model = s.baseline();
    train::FitResult fit = s.retrain(model, nullptr, train::StepPolicy{}, "control", 0);
    s.record("control", 0, "-", model, nullptr, fit, started);
  });
}

}  // namespace

// Keys in every quantizing method's identity (single-key sections; at their
// defaults they leave the identities made before them unchanged).
constexpr const char* kGranularity = "quant.granularity";
constexpr const char* kLayerBits = "quant.layer_bits";

const std::vector<MethodKind>& method_kinds() {
  using S = CellShape;
  static const std::vector<MethodKind> rows = {
      {"float", "the float baseline every other cell starts from", S::Baseline, {}, "Floating result", "#000000",
       true, nullptr},
      {"control", "no quantization: the float network trained on for the retraining budget (a fair baseline)",
       S::Single, {"retrain"}, "Control: float + retraining epochs", "#8c564b", true, run_control},
      {"direct", "quantize the float network with QStep's Δ, no retraining", S::PerBitWidth,
       {"retrain", kGranularity, kLayerBits}, "Direct", "#7f7f7f", false, run_direct},
      {"direct@channel", "direct with one QStep Δ per output channel", S::PerBitWidth,
       {"retrain", kLayerBits}, "Direct, per channel", "#c7c7c7", false, run_direct_channel, true},
      {"conventional", "retrain with Δ from QStep on the float network, frozen", S::PerBitWidth,
       {"retrain", "quant.conventional", kGranularity, kLayerBits}, "Conventional", "#1f77b4", true,
       run_conventional},
      {"conventional@channel", "conventional with one frozen QStep Δ per output channel", S::PerBitWidth,
       {"retrain", kLayerBits}, "Conventional, per channel", "#aec7e8", true, run_conventional_channel, true},
      {"adaptive", "retrain with Δ re-estimated by QStep (quant.adaptive.update)", S::PerBitWidth,
       {"retrain", "quant.adaptive", kGranularity, kLayerBits}, "Adaptive", "#d62728", true, run_adaptive},
      {"adaptive@channel", "adaptive with one QStep Δ per output channel", S::PerBitWidth,
       {"retrain", "quant.adaptive", kLayerBits}, "Adaptive, per channel", "#ff9896", true, run_adaptive_channel,
       true},
      {"lsq", "learned step size (LSQ, Esser et al. 2019): Δ trained by gradient with the weights", S::PerBitWidth,
       {"retrain", "quant.lsq", kGranularity, kLayerBits}, "LSQ (learned Δ)", "#9467bd", true, run_lsq, false, true},
      {"lsq@channel", "LSQ with one learned Δ per output channel", S::PerBitWidth,
       {"retrain", "quant.lsq", kLayerBits}, "LSQ, per channel", "#c5b0d5", true, run_lsq_channel, true, true},
      {"gradual", "6 -> 5 -> ... bits, conventional retraining at each precision", S::Chain,
       {"retrain", "quant.gradual", kGranularity, kLayerBits}, "Gradual", "#2ca02c", true, run_gradual},
      {"adaptive+gradual", "gradual with adaptive retraining at each precision", S::Chain,
       {"retrain", "quant.adaptive", "quant.gradual", kGranularity, kLayerBits}, "Adaptive & Gradual", "#ff7f0e",
       true, run_adaptive_gradual},
  };
  return rows;
}

const MethodKind& method_kind(const std::string& name) { return require_row(method_kinds(), name, "unknown method"); }

const std::string& baseline_method() { return method_kinds().front().name; }

bool is_baseline(const std::string& method) { return method == baseline_method(); }

std::vector<std::string> quantization_method_names() {
  std::vector<std::string> names;
  for (const auto& m : method_kinds())
    if (m.cells == CellShape::PerBitWidth || m.is_chain()) names.push_back(m.name);
  for (const auto& m : method_kinds())
    if (m.cells == CellShape::Single) names.push_back(m.name);  // the unquantized control last
  return names;
}

}  // namespace qretrain::methods
