#include "train/optimizer.h"

#include <fmt/format.h>

#include "train/sgd.h"
#include "util/error.h"

namespace qretrain::train {
namespace {

// A torch::optim optimizer; every parameter group gets the new rate.
template <typename TorchOptimizer>
class TorchAdapter : public Optimizer {
 public:
  template <typename Options>
  TorchAdapter(std::vector<torch::Tensor> params, Options options) : optimizer_(std::move(params), options) {}
  void zero_grad() override { optimizer_.zero_grad(); }
  void step() override { optimizer_.step(); }
  void set_lr(double lr) override {
    for (auto& group : optimizer_.param_groups()) group.options().set_lr(lr);
  }
  void save(torch::serialize::OutputArchive& archive) const override { optimizer_.save(archive); }
  void load(torch::serialize::InputArchive& archive) override { optimizer_.load(archive); }

 private:
  TorchOptimizer optimizer_;
};

class SgdAdapter : public Optimizer {
 public:
  SgdAdapter(std::vector<torch::Tensor> params, double lr, const config::TrainConfig& t)
      : sgd_(std::move(params), lr, t.momentum, t.optimizer == "sgd_nesterov", t.weight_decay) {}
  void zero_grad() override { sgd_.zero_grad(); }
  void step() override { sgd_.step(); }
  void set_lr(double lr) override { sgd_.set_lr(lr); }
  void save(torch::serialize::OutputArchive& archive) const override { sgd_.save(archive); }
  void load(torch::serialize::InputArchive& archive) override { sgd_.load(archive); }

 private:
  FusedSgd sgd_;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(std::vector<torch::Tensor> params, const config::TrainConfig& train,
                                          double lr) {
  if (train.optimizer == "sgd" || train.optimizer == "sgd_nesterov")
    return std::make_unique<SgdAdapter>(std::move(params), lr, train);
  if (train.optimizer == "rmsprop")
    return std::make_unique<TorchAdapter<torch::optim::RMSprop>>(
        std::move(params),
        torch::optim::RMSpropOptions(lr).alpha(0.95).eps(1e-6).weight_decay(train.weight_decay));
  if (train.optimizer == "adam")
    return std::make_unique<TorchAdapter<torch::optim::Adam>>(
        std::move(params), torch::optim::AdamOptions(lr).weight_decay(train.weight_decay));
  throw UserError(fmt::format("train.optimizer: unknown optimizer '{}'", train.optimizer));
}

}  // namespace qretrain::train
