// Q(w, Δ) written independently of the library (tensor ops in double), the
// reference the tests substitute for the quantizer under test.
#pragma once

#include <cmath>

#include <torch/torch.h>

namespace qretrain::testing {

inline torch::Tensor hand_quantize(const torch::Tensor& w, double delta, int bits) {
  auto wd = w.to(torch::kFloat64);
  const double level = std::pow(2.0, bits - 1) - 1;
  auto k = torch::floor(wd.abs() / delta + 0.5).clamp_max(level);
  return (torch::sign(wd) * k * delta).to(torch::kFloat32);
}

}  // namespace qretrain::testing
