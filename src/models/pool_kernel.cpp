#include "models/pool_kernel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace qretrain::models::kernels {
namespace {

// One plane. The window is scanned as ATen scans it (rows, then columns) and
// an element replaces the running maximum when it is larger or NaN; the
// running maximum starts at -inf with the window's first position. The loop
// over output columns is innermost and branch-free, so it vectorises.
__attribute__((target_clones("avx512f", "avx2", "default"))) void pool_plane(const float* __restrict in,
                                                                            const PoolShape& s, float* __restrict out,
                                                                            std::int32_t* __restrict indices) {
  const std::int64_t ow_n = s.out_width;
  for (std::int64_t oh = 0; oh < s.out_height; ++oh) {
    float* best = out + oh * ow_n;
    std::int32_t* where = indices + oh * ow_n;
    const std::int64_t ih0 = oh * s.stride;
    for (std::int64_t ow = 0; ow < ow_n; ++ow) {
      best[ow] = -std::numeric_limits<float>::infinity();
      where[ow] = static_cast<std::int32_t>(ih0 * s.width + ow * s.stride);
    }
    for (std::int64_t kh = 0; kh < s.kernel; ++kh) {
      const std::int64_t ih = ih0 + kh;
      const float* row = in + ih * s.width;
      for (std::int64_t kw = 0; kw < s.kernel; ++kw) {
        for (std::int64_t ow = 0; ow < ow_n; ++ow) {
          const std::int64_t iw = ow * s.stride + kw;
          const float v = row[iw];
          const bool take = v > best[ow] || v != v;
          best[ow] = take ? v : best[ow];
          where[ow] = take ? static_cast<std::int32_t>(ih * s.width + iw) : where[ow];
        }
      }
    }
  }
}

}  // namespace

void max_pool_forward(const float* in, const PoolShape& s, float* out, std::int32_t* indices) {
  const std::int64_t in_plane = s.height * s.width, out_plane = s.out_height * s.out_width;
#pragma omp parallel for schedule(static) if (s.planes * in_plane > (1 << 15))
  for (std::int64_t p = 0; p < s.planes; ++p)
    pool_plane(in + p * in_plane, s, out + p * out_plane, indices + p * out_plane);
}

void max_pool_backward(const float* grad_out, const std::int32_t* indices, const PoolShape& s, float* grad_in) {
  const std::int64_t in_plane = s.height * s.width, out_plane = s.out_height * s.out_width;
#pragma omp parallel for schedule(static) if (s.planes * in_plane > (1 << 15))
  for (std::int64_t p = 0; p < s.planes; ++p) {
    float* gi = grad_in + p * in_plane;
    std::fill(gi, gi + in_plane, 0.0f);
    const float* go = grad_out + p * out_plane;
    const std::int32_t* at = indices + p * out_plane;
    for (std::int64_t o = 0; o < out_plane; ++o) gi[at[o]] += go[o];
  }
}

}  // namespace qretrain::models::kernels
