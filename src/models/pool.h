// Max pooling for the CNNs: ATen's max_pool2d (no padding, floor mode) with
// the same results bit for bit, through a faster kernel on CPU float tensors
// (models/pool_kernel.h). ATen's spends 11-26% of a LeNet-5, C or V training
// step in max_pool2d_with_indices (bench/speed/profile_summary.py).
#pragma once

#include <torch/torch.h>

namespace qretrain::models {

torch::Tensor max_pool2d(const torch::Tensor& x, std::int64_t kernel, std::int64_t stride);

}  // namespace qretrain::models
