// Network 'C': the cuda-convnet "layers-18pct" CIFAR network of the paper's
// reference [22] (Krizhevsky 2012), ~85k parameters on 32x32x3 input:
//   conv 5x5x32 pad 2 - ReLU - maxpool 3/2 - LRN(3)
//   conv 5x5x32 pad 2 - ReLU - avgpool 3/2 - LRN(3)
//   conv 5x5x64 pad 2 - ReLU - avgpool 3/2 - fc classes
// Pools take floor((n - 3)/2) + 1 outputs (32 -> 15 -> 7 -> 3).
#include <fmt/format.h>

#include "models/network.h"
#include "models/pool.h"

namespace qretrain::models {
namespace {

class CnnCImpl : public NetworkImpl {
 public:
  CnnCImpl(std::int64_t channels, std::int64_t side, int classes) : channels_(channels), classes_(classes) {
    using torch::nn::Conv2dOptions;
    conv1_ = register_module("conv1", torch::nn::Conv2d(Conv2dOptions(channels, 32, 5).padding(2)));
    conv2_ = register_module("conv2", torch::nn::Conv2d(Conv2dOptions(32, 32, 5).padding(2)));
    conv3_ = register_module("conv3", torch::nn::Conv2d(Conv2dOptions(32, 64, 5).padding(2)));
    auto lrn = torch::nn::LocalResponseNormOptions(3).alpha(5e-5).beta(0.75).k(1.0);
    norm1_ = register_module("norm1", torch::nn::LocalResponseNorm(lrn));
    norm2_ = register_module("norm2", torch::nn::LocalResponseNorm(lrn));
    std::int64_t s = side;
    for (int i = 0; i < 3; ++i) s = (s - 3) / 2 + 1;
    flat_ = 64 * s * s;
    fc_ = register_module("fc", torch::nn::Linear(flat_, classes));
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = norm1_(max_pool2d(torch::relu(conv1_(x)), 3, 2));
    x = norm2_(torch::avg_pool2d(torch::relu(conv2_(x)), 3, 2));
    x = torch::avg_pool2d(torch::relu(conv3_(x)), 3, 2);
    return fc_(x.flatten(1));
  }
  std::string describe() const override {
    return fmt::format(
        "C (cuda-convnet layers-18pct): conv1 5x5 {}->32 pad 2, ReLU, maxpool 3/2, LRN 3 | conv2 5x5 32->32 pad 2, "
        "ReLU, avgpool 3/2, LRN 3 | conv3 5x5 32->64 pad 2, ReLU, avgpool 3/2 | fc {}->{}",
        channels_, flat_, classes_);
  }

  std::vector<LayerOp> graph() const override {
    const auto& lrn = norm1_->options;
    LayerOp norm;
    norm.op = "lrn";
    norm.size = lrn.size();
    norm.alpha = lrn.alpha();
    norm.beta = lrn.beta();
    norm.k = lrn.k();
    return {conv_op("conv1", 5, 2), simple_op("relu"), pool_op("maxpool", 3, 2), norm,
            conv_op("conv2", 5, 2), simple_op("relu"), pool_op("avgpool", 3, 2), norm,
            conv_op("conv3", 5, 2), simple_op("relu"), pool_op("avgpool", 3, 2), simple_op("flatten"),
            linear_op("fc")};
  }

 private:
  std::int64_t channels_, flat_ = 0;
  int classes_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr}, conv3_{nullptr};
  torch::nn::LocalResponseNorm norm1_{nullptr}, norm2_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

}  // namespace

Network make_cnn_c(const config::NetworkConfig&, const NetworkSpec& spec) {
  require_square_images(spec, "cnn_c", 16);
  return std::make_shared<CnnCImpl>(spec.input_shape[0], spec.input_shape[1], spec.num_classes);
}

}  // namespace qretrain::models
