// Network 'V': a VGG / BinaryConnect-style network (the paper's reference
// [23], Courbariaux et al. 2015) scaled from 128-256-512 channels and
// 1024-unit FC layers down to ~424k parameters on 32x32x3 input:
//   2x (conv 3x3x32 pad 1 - BN - ReLU) - maxpool 2
//   2x (conv 3x3x64 pad 1 - BN - ReLU) - maxpool 2
//   2x (conv 3x3x128 pad 1 - BN - ReLU) - maxpool 2
//   fc 64 - BN - ReLU - fc 64 - BN - ReLU - fc classes
// Layers followed by batch normalisation have no bias (BN's shift replaces it).
#include <fmt/format.h>

#include "models/network.h"
#include "models/pool.h"

namespace qretrain::models {
namespace {

class CnnVImpl : public NetworkImpl {
 public:
  CnnVImpl(std::int64_t channels, std::int64_t side, int classes) : channels_(channels), classes_(classes) {
    const std::int64_t widths[] = {32, 32, 64, 64, 128, 128};
    std::int64_t in = channels;
    for (int i = 0; i < 6; ++i) {
      convs_.push_back(register_module(fmt::format("conv{}", i + 1),
                                       torch::nn::Conv2d(torch::nn::Conv2dOptions(in, widths[i], 3).padding(1).bias(false))));
      conv_norms_.push_back(register_module(fmt::format("bn{}", i + 1), torch::nn::BatchNorm2d(widths[i])));
      in = widths[i];
    }
    flat_ = 128 * (side / 8) * (side / 8);
    fc1_ = register_module("fc1", torch::nn::Linear(torch::nn::LinearOptions(flat_, kHidden).bias(false)));
    fc1_norm_ = register_module("bn_fc1", torch::nn::BatchNorm1d(kHidden));
    fc2_ = register_module("fc2", torch::nn::Linear(torch::nn::LinearOptions(kHidden, kHidden).bias(false)));
    fc2_norm_ = register_module("bn_fc2", torch::nn::BatchNorm1d(kHidden));
    fc3_ = register_module("fc3", torch::nn::Linear(kHidden, classes));
  }
  torch::Tensor forward(torch::Tensor x) override {
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      x = torch::relu(conv_norms_[i](convs_[i](x)));
      if (i % 2 == 1) x = max_pool2d(x, 2, 2);
    }
    x = x.flatten(1);
    x = torch::relu(fc1_norm_(fc1_(x)));
    x = torch::relu(fc2_norm_(fc2_(x)));
    return fc3_(x);
  }
  std::string describe() const override {
    return fmt::format(
        "V (VGG/BinaryConnect style): 2x conv 3x3 {}->32->32 BN ReLU, maxpool 2 | 2x conv 3x3 ->64 BN ReLU, maxpool 2 "
        "| 2x conv 3x3 ->128 BN ReLU, maxpool 2 | fc {}->{} BN ReLU | fc {}->{} BN ReLU | fc {}->{}",
        channels_, flat_, kHidden, kHidden, kHidden, kHidden, classes_);
  }

  std::vector<LayerOp> graph() const override {
    std::vector<LayerOp> ops;
    for (std::size_t i = 0; i < convs_.size(); ++i) {
      ops.push_back(conv_op(fmt::format("conv{}", i + 1), 3, 1));
      ops.push_back(batchnorm_op(fmt::format("bn{}", i + 1)));
      ops.push_back(simple_op("relu"));
      if (i % 2 == 1) ops.push_back(pool_op("maxpool", 2, 2));
    }
    ops.push_back(simple_op("flatten"));
    for (const char* fc : {"fc1", "fc2"}) {
      ops.push_back(linear_op(fc));
      ops.push_back(batchnorm_op(fmt::format("bn_{}", fc)));
      ops.push_back(simple_op("relu"));
    }
    ops.push_back(linear_op("fc3"));
    return ops;
  }

 private:
  static constexpr std::int64_t kHidden = 64;
  std::int64_t channels_, flat_ = 0;
  int classes_;
  std::vector<torch::nn::Conv2d> convs_;
  std::vector<torch::nn::BatchNorm2d> conv_norms_;
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr}, fc3_{nullptr};
  torch::nn::BatchNorm1d fc1_norm_{nullptr}, fc2_norm_{nullptr};
};

}  // namespace

Network make_cnn_v(const config::NetworkConfig&, const NetworkSpec& spec) {
  require_square_images(spec, "cnn_v", 8, 8);
  return std::make_shared<CnnVImpl>(spec.input_shape[0], spec.input_shape[1], spec.num_classes);
}

}  // namespace qretrain::models
