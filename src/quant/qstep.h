// L2-optimal quantization step size (the paper's QStep) and the uniform
// quantizer Q on raw float arrays. No LibTorch here: the hook wraps these.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace qretrain::quant {

// Largest quantization level (M-1)/2 for M = 2^bits - 1 points: 1 for 2 bits,
// 3 for 3 bits, 127 for 8 bits.
int max_level(int bits);

// Q(w, Δ) = sgn(w) · Δ · min(floor(|w|/Δ + 0.5), (M−1)/2)   (paper, Fig. 1)
float quantize_value(float w, float delta, int bits);
void quantize(const float* w, float* out, std::size_t n, float delta, int bits);

struct StepResult {
  double delta = 0;      // argmin over Δ > 0 of Σ (Q(w_i, Δ) − w_i)²
  double sse = 0;        // Σ (Q(w_i, Δ) − w_i)² at that Δ
  std::size_t nodes = 0; // search intervals examined (diagnostics only)
};

// Global minimiser of the quantization error (not a local fixed point).
// Error evaluation over sorted |w| with prefix sums; branch and bound over Δ.
// An all-zero or empty input returns delta = 0, sse = 0.
StepResult qstep(const float* w, std::size_t n, int bits);
inline StepResult qstep(const std::vector<float>& w, int bits) {
  return qstep(w.data(), w.size(), bits);
}

// The same for a quantizer of levels -max_level .. max_level (any count, e.g.
// fixed-point signals: unsigned b-bit codes 0 .. 2^b - 1 on non-negative
// values are max_level = 2^b - 1). The search grows with the levels.
StepResult qstep_levels(const float* w, std::size_t n, int max_level);

struct WeightSpan {
  const float* data;
  std::size_t size;
};
// QStep of several independent weight groups, spread over the OpenMP threads
// (largest group first); the same result as one qstep() call per group.
std::vector<StepResult> qstep_each(const std::vector<WeightSpan>& groups, int bits);

// Σ (Q(w_i, Δ) − w_i)², computed directly in double (O(n)); the reference
// that tests and tools compare against.
double quantization_sse(const float* w, std::size_t n, double delta, int bits);

}  // namespace qretrain::quant
