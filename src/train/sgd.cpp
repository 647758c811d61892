#include "train/sgd.h"

#include <fmt/format.h>

namespace qretrain::train {
namespace {

// The fused update over n floats; restrict lets the compiler vectorise it,
// one clone per instruction set, each rounding every operation on its own
// (built with -ffp-contract=off, see CMakeLists.txt): the same bits on every CPU.
__attribute__((target_clones("avx512f", "avx2", "default"))) void fused_range(float* __restrict p,
                                                                             const float* __restrict g,
                                                                             float* __restrict buf, std::int64_t n,
                                                                             float lr, float m, float wd,
                                                                             bool nesterov, bool first) {
  for (std::int64_t i = 0; i < n; ++i) {
    const float grad = g[i] + wd * p[i];
    const float b = first ? grad : m * buf[i] + grad;
    buf[i] = b;
    p[i] -= lr * (nesterov ? grad + m * b : b);
  }
}

// On LibTorch's OpenMP threads, in chunks large enough that small tensors stay on one.
void fused_update(float* p, const float* g, float* buf, std::int64_t n, float lr, float m, float wd, bool nesterov,
                  bool first) {
  constexpr std::int64_t kChunk = std::int64_t{1} << 16;
  const std::int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (std::int64_t c = 0; c < chunks; ++c) {
    const std::int64_t begin = c * kChunk;
    fused_range(p + begin, g + begin, buf + begin, std::min(kChunk, n - begin), lr, m, wd, nesterov, first);
  }
}

bool fusable(const torch::Tensor& t) {
  return t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous();
}

}  // namespace

FusedSgd::FusedSgd(std::vector<torch::Tensor> params, double lr, double momentum, bool nesterov, double weight_decay)
    : params_(std::move(params)),
      momentum_(params_.size()),
      lr_(lr),
      momentum_coef_(momentum),
      weight_decay_(weight_decay),
      nesterov_(nesterov) {}

void FusedSgd::zero_grad() {
  for (auto& p : params_) p.mutable_grad() = torch::Tensor();
}

void FusedSgd::step() {
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor& p = params_[i];
    const torch::Tensor& grad = p.grad();
    if (!grad.defined()) continue;
    if (momentum_coef_ == 0) {  // plain SGD
      p.add_(weight_decay_ != 0 ? grad + weight_decay_ * p : grad, -lr_);
      continue;
    }
    const bool first = !momentum_[i].defined();
    if (first) momentum_[i] = torch::empty_like(p);
    torch::Tensor& buf = momentum_[i];
    if (fusable(p) && fusable(grad) && fusable(buf)) {
      fused_update(p.data_ptr<float>(), grad.data_ptr<float>(), buf.data_ptr<float>(), p.numel(),
                   static_cast<float>(lr_), static_cast<float>(momentum_coef_), static_cast<float>(weight_decay_),
                   nesterov_, first);
      continue;
    }
    // Other devices and dtypes: the same rule in tensor ops.
    torch::Tensor g = weight_decay_ != 0 ? grad + weight_decay_ * p : grad;
    if (first) buf.copy_(g);
    else buf.mul_(momentum_coef_).add_(g);
    p.add_(nesterov_ ? g + momentum_coef_ * buf : buf, -lr_);
  }
}

void FusedSgd::save(torch::serialize::OutputArchive& archive) const {
  for (std::size_t i = 0; i < momentum_.size(); ++i)
    archive.write(fmt::format("momentum{}", i), momentum_[i].defined() ? momentum_[i] : torch::empty({0}));
}

void FusedSgd::load(torch::serialize::InputArchive& archive) {
  for (std::size_t i = 0; i < momentum_.size(); ++i) {
    torch::Tensor buf;
    archive.read(fmt::format("momentum{}", i), buf);
    momentum_[i] = buf.numel() == 0 && params_[i].numel() != 0 ? torch::Tensor() : buf.to(params_[i].device());
  }
}

}  // namespace qretrain::train
