#include <fmt/format.h>
#include <fmt/ranges.h>

#include "models/kinds.h"
#include "models/network.h"
#include "util/checksum.h"
#include "util/error.h"

namespace qretrain::models {

Network make_network(const config::NetworkConfig& cfg, const NetworkSpec& spec) {
  return network_kind(cfg.kind).make(cfg, spec);
}

bool is_convolutional(const std::string& kind) { return network_kind(kind).convolutional; }

std::string network_label(const config::NetworkConfig& cfg) {
  return cfg.label.empty() ? network_kind(cfg.kind).label(cfg) : cfg.label;
}

void require_square_images(const NetworkSpec& spec, const std::string& kind, std::int64_t min_side,
                           std::int64_t multiple) {
  const auto& s = spec.input_shape;
  if (s.size() != 3 || s[1] != s[2] || s[1] < min_side || s[1] % multiple != 0)
    throw UserError(fmt::format("network.kind: {} needs square images (channels, height, width) of at least {}x{} "
                                "pixels{}, got [{}]",
                                kind, min_side, min_side,
                                multiple > 1 ? fmt::format(" with a side divisible by {}", multiple) : "",
                                fmt::join(s, "x")));
}

std::vector<torch::Tensor> copy_state(const torch::nn::Module& m) {
  std::vector<torch::Tensor> state;
  for (const auto& p : m.parameters()) state.push_back(p.detach().clone());
  for (const auto& b : m.buffers()) state.push_back(b.detach().clone());
  return state;
}

std::string state_digest(const std::vector<torch::Tensor>& state) {
  Xxh64 h;
  for (const auto& t : state) {
    const torch::Tensor c = t.detach().to(torch::kCPU).contiguous();
    const std::int64_t dtype = static_cast<std::int64_t>(c.scalar_type());
    h.update(&dtype, sizeof dtype);
    for (const std::int64_t d : c.sizes()) h.update(&d, sizeof d);
    h.update(c.data_ptr(), c.nbytes());
  }
  return fmt::format("{:016x}", h.digest());
}

void load_state(torch::nn::Module& m, const std::vector<torch::Tensor>& state) {
  torch::NoGradGuard no_grad;
  std::size_t i = 0;
  for (auto& p : m.parameters()) p.copy_(state.at(i++));
  for (auto& b : m.buffers()) b.copy_(state.at(i++));
}

std::int64_t count_parameters(const torch::nn::Module& m) {
  std::int64_t n = 0;
  for (const auto& p : m.parameters())
    if (p.requires_grad()) n += p.numel();
  return n;
}

}  // namespace qretrain::models

namespace qretrain::models {

LayerOp conv_op(const std::string& module, std::int64_t kernel, std::int64_t padding) {
  LayerOp op;
  op.op = "conv2d";
  op.module = module;
  op.kernel = kernel;
  op.padding = padding;
  return op;
}

LayerOp linear_op(const std::string& module) {
  LayerOp op;
  op.op = "linear";
  op.module = module;
  return op;
}

LayerOp batchnorm_op(const std::string& module) {
  LayerOp op;
  op.op = "batchnorm";
  op.module = module;
  return op;
}

LayerOp simple_op(const std::string& name) {
  LayerOp op;
  op.op = name;
  return op;
}

LayerOp pool_op(const std::string& name, std::int64_t kernel, std::int64_t stride) {
  LayerOp op;
  op.op = name;
  op.kernel = kernel;
  op.stride = stride;
  return op;
}

}  // namespace qretrain::models
