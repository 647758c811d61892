#include "models/pool.h"

#include <limits>

#include <ATen/record_function.h>

#include "models/pool_kernel.h"

namespace qretrain::models {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::tensor_list;

kernels::PoolShape shape_of(const torch::Tensor& x, std::int64_t kernel, std::int64_t stride) {
  kernels::PoolShape s;
  s.planes = x.size(0) * x.size(1);
  s.height = x.size(2);
  s.width = x.size(3);
  s.kernel = kernel;
  s.stride = stride;
  s.out_height = (s.height - kernel) / stride + 1;
  s.out_width = (s.width - kernel) / stride + 1;
  return s;
}

struct MaxPool : torch::autograd::Function<MaxPool> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, std::int64_t kernel, std::int64_t stride) {
    RECORD_FUNCTION("qretrain::max_pool2d", std::vector<c10::IValue>());
    const torch::Tensor in = x.contiguous();
    const kernels::PoolShape s = shape_of(in, kernel, stride);
    auto out = torch::empty({x.size(0), x.size(1), s.out_height, s.out_width}, in.options());
    auto indices = torch::empty(out.sizes(), in.options().dtype(torch::kInt32));
    kernels::max_pool_forward(in.data_ptr<float>(), s, out.data_ptr<float>(), indices.data_ptr<std::int32_t>());
    ctx->save_for_backward({indices});
    ctx->saved_data["height"] = s.height;
    ctx->saved_data["width"] = s.width;
    ctx->saved_data["kernel"] = kernel;
    ctx->saved_data["stride"] = stride;
    return out;
  }
  static tensor_list backward(AutogradContext* ctx, tensor_list grads) {
    const torch::Tensor indices = ctx->get_saved_variables()[0];
    const torch::Tensor grad_out = grads[0].contiguous();
    kernels::PoolShape s;
    s.planes = indices.size(0) * indices.size(1);
    s.height = ctx->saved_data["height"].toInt();
    s.width = ctx->saved_data["width"].toInt();
    s.kernel = ctx->saved_data["kernel"].toInt();
    s.stride = ctx->saved_data["stride"].toInt();
    s.out_height = indices.size(2);
    s.out_width = indices.size(3);
    auto grad_in = torch::empty({indices.size(0), indices.size(1), s.height, s.width}, grad_out.options());
    kernels::max_pool_backward(grad_out.data_ptr<float>(), indices.data_ptr<std::int32_t>(), s,
                               grad_in.data_ptr<float>());
    return {grad_in, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor max_pool2d(const torch::Tensor& x, std::int64_t kernel, std::int64_t stride) {
  const bool fast = x.device().is_cpu() && x.scalar_type() == torch::kFloat32 && x.dim() == 4 &&
                    x.size(2) >= kernel && x.size(3) >= kernel &&
                    x.size(2) * x.size(3) <= std::numeric_limits<std::int32_t>::max();
  if (!fast) return torch::max_pool2d(x, kernel, stride);
  return MaxPool::apply(x, kernel, stride);
}

}  // namespace qretrain::models
