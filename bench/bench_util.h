// Shared by the benchmarks: this machine's sgemm peak, measured in the same
// process and with the same BLAS threads as the workload it is compared to.
#pragma once

#include <algorithm>
#include <chrono>

#include <torch/torch.h>

namespace qretrain::bench {

// The best of a few 2048^3 single-precision products, in FLOP/s.
inline double sgemm_peak_flops() {
  constexpr std::int64_t n = 2048;
  auto a = torch::randn({n, n}), b = torch::randn({n, n}), c = torch::empty({n, n});
  double best = 0;
  for (int i = 0; i < 6; ++i) {
    const auto start = std::chrono::steady_clock::now();
    torch::mm_out(c, a, b);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * n * n * n / s);
  }
  return best;
}

}  // namespace qretrain::bench
