// LeNet-5 (the paper's network 'L', ~60k parameters on 32x32x3 input):
// conv 5x5x6 - maxpool 2 - conv 5x5x16 - maxpool 2 - fc 120 - fc 84 - fc classes,
// ReLU activations.
#include <fmt/format.h>

#include "models/network.h"
#include "models/pool.h"

namespace qretrain::models {
namespace {

class LeNet5Impl : public NetworkImpl {
 public:
  LeNet5Impl(std::int64_t channels, std::int64_t side, int classes) : channels_(channels), classes_(classes) {
    conv1_ = register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(channels, 6, 5)));
    conv2_ = register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(6, 16, 5)));
    const std::int64_t pooled = ((side - 4) / 2 - 4) / 2;  // side after conv-pool-conv-pool
    flat_ = 16 * pooled * pooled;
    fc1_ = register_module("fc1", torch::nn::Linear(flat_, 120));
    fc2_ = register_module("fc2", torch::nn::Linear(120, 84));
    fc3_ = register_module("fc3", torch::nn::Linear(84, classes));
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = max_pool2d(torch::relu(conv1_(x)), 2, 2);
    x = max_pool2d(torch::relu(conv2_(x)), 2, 2);
    x = x.flatten(1);
    x = torch::relu(fc1_(x));
    x = torch::relu(fc2_(x));
    return fc3_(x);
  }
  std::string describe() const override {
    return fmt::format(
        "LeNet-5: conv1 5x5 {}->6, ReLU, maxpool 2 | conv2 5x5 6->16, ReLU, maxpool 2 | fc1 {}->120, ReLU | "
        "fc2 120->84, ReLU | fc3 84->{}",
        channels_, flat_, classes_);
  }

  std::vector<LayerOp> graph() const override {
    return {conv_op("conv1", 5), simple_op("relu"), pool_op("maxpool", 2, 2),
            conv_op("conv2", 5), simple_op("relu"), pool_op("maxpool", 2, 2), simple_op("flatten"),
            linear_op("fc1"),    simple_op("relu"), linear_op("fc2"),          simple_op("relu"),
            linear_op("fc3")};
  }

 private:
  std::int64_t channels_, flat_ = 0;
  int classes_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
};

}  // namespace

Network make_lenet5(const config::NetworkConfig&, const NetworkSpec& spec) {
  require_square_images(spec, "lenet5", 16);
  return std::make_shared<LeNet5Impl>(spec.input_shape[0], spec.input_shape[1], spec.num_classes);
}

}  // namespace qretrain::models
