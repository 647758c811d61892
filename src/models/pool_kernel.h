// Max pooling on raw float planes (no LibTorch here: models/pool.h wraps it).
// Same windows, same choice of maximum and same gradient sums as ATen's
// max_pool2d without padding or dilation (floor mode), so its results are
// bit for bit ATen's, at several times the speed on small images.
#pragma once

#include <cstdint>

namespace qretrain::models::kernels {

struct PoolShape {
  std::int64_t planes;   // batch x channels
  std::int64_t height, width;
  std::int64_t kernel, stride;
  std::int64_t out_height, out_width;
};

// out[p, oh, ow] = max of the window, indices = its flat position in the
// input plane: the first maximum in row-major window order, or the last NaN.
void max_pool_forward(const float* in, const PoolShape& s, float* out, std::int32_t* indices);
// grad_in (zeroed here) += grad_out at each output's index, outputs in order.
void max_pool_backward(const float* grad_out, const std::int32_t* indices, const PoolShape& s, float* grad_in);

}  // namespace qretrain::models::kernels
