// Feed-forward DNN on flattened input: Linear (+ optional BatchNorm) + ReLU per
// hidden layer, then a linear output layer. The paper's phoneme network is
// 1353 -> {64..1024} x 2 -> 61.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "models/network.h"

namespace qretrain::models {
namespace {

class FFDNNImpl : public NetworkImpl {
 public:
  FFDNNImpl(std::int64_t inputs, const std::vector<int>& hidden, bool batch_norm, int classes)
      : inputs_(inputs), hidden_(hidden), batch_norm_(batch_norm), classes_(classes) {
    std::int64_t width = inputs;
    for (std::size_t i = 0; i < hidden.size(); ++i) {
      layers_.push_back(register_module(fmt::format("fc{}", i + 1), torch::nn::Linear(width, hidden[i])));
      if (batch_norm)
        norms_.push_back(register_module(fmt::format("bn{}", i + 1), torch::nn::BatchNorm1d(hidden[i])));
      width = hidden[i];
    }
    out_ = register_module("out", torch::nn::Linear(width, classes));
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = x.flatten(1);
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      x = layers_[i](x);
      if (batch_norm_) x = norms_[i](x);
      x = torch::relu(x);
    }
    return out_(x);
  }
  std::string describe() const override {
    return fmt::format("FFDNN: {} -> [{}]{} (ReLU) -> {}", inputs_, fmt::join(hidden_, ", "),
                       batch_norm_ ? " with batch norm" : "", classes_);
  }

  std::vector<LayerOp> graph() const override {
    std::vector<LayerOp> ops{simple_op("flatten")};
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      ops.push_back(linear_op(fmt::format("fc{}", i + 1)));
      if (batch_norm_) ops.push_back(batchnorm_op(fmt::format("bn{}", i + 1)));
      ops.push_back(simple_op("relu"));
    }
    ops.push_back(linear_op("out"));
    return ops;
  }

 private:
  std::int64_t inputs_;
  std::vector<int> hidden_;
  bool batch_norm_;
  int classes_;
  std::vector<torch::nn::Linear> layers_;
  std::vector<torch::nn::BatchNorm1d> norms_;
  torch::nn::Linear out_{nullptr};
};

}  // namespace

Network make_ffdnn(const config::NetworkConfig& cfg, const NetworkSpec& spec) {
  std::int64_t inputs = 1;
  for (auto d : spec.input_shape) inputs *= d;
  return std::make_shared<FFDNNImpl>(inputs, cfg.hidden, cfg.batch_norm, spec.num_classes);
}

}  // namespace qretrain::models
