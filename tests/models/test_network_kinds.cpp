// Every network row (models/kinds.h), looped over as ggml's
// test-quantize-fns loops over its types: a new row is tested for free.
#include <set>

#include <gtest/gtest.h>

#include "models/kinds.h"
#include "models/network.h"
#include "quant/hand_quantize.h"
#include "quant/hook.h"
#include "test_util.h"

namespace qretrain::models {
namespace {

// A small instance of the row's network and an input batch of 2 for it: images
// for convolutional nets, byte symbols for language models, flat features else.
struct Instance {
  Network net;
  torch::Tensor input;
  std::int64_t classes;
};

Instance small(const NetworkKind& row) {
  config::NetworkConfig cfg;
  cfg.kind = row.name;
  cfg.hidden = {16, 12};
  torch::manual_seed(3);
  if (row.language_model) return {make_network(cfg, {{1}, 256}), torch::randint(0, 256, {2, 5}, torch::kInt64), 256};
  if (row.convolutional) return {make_network(cfg, {{1, 32, 32}, 10}), torch::randn({2, 1, 32, 32}), 10};
  return {make_network(cfg, {{40}, 7}), torch::randn({2, 40}), 7};
}

TEST(NetworkKinds, EveryRowBuildsCountsItsParametersAndTrainsThroughTheHook) {
  std::set<std::string> names;
  for (const NetworkKind& row : network_kinds()) {
    SCOPED_TRACE(row.name);
    EXPECT_TRUE(names.insert(row.name).second) << "two rows named " << row.name;
    Instance one = small(row);

    // Parameters: every trainable tensor counted once.
    std::int64_t numel = 0;
    for (const auto& p : one.net->parameters()) numel += p.numel();
    EXPECT_GT(numel, 0);
    EXPECT_EQ(count_parameters(*one.net), numel);

    // One weight group per rank >= 2 parameter, none for biases and norms.
    std::vector<std::string> matrices;
    for (const auto& p : one.net->named_parameters())
      if (p.value().dim() >= 2) matrices.push_back(p.key());
    ASSERT_GE(matrices.size(), 2u);
    EXPECT_EQ(quant::weight_group_names(*one.net), matrices);

    // Forward and backward with 2-bit weights: every group holds levels of
    // {-Δ, 0, Δ} (checked against the hand quantizer), every group gets a
    // gradient, and the float weights come back untouched.
    quant::QuantHook hook(*one.net, 2);
    hook.refit_step_sizes();
    std::vector<torch::Tensor> before;
    for (const auto& g : hook.groups()) before.push_back(g.weights.clone());
    one.net->train();
    torch::Tensor logits;
    {
      quant::QuantizedScope scope(&hook);
      for (const auto& g : hook.groups()) {
        SCOPED_TRACE(g.name);
        EXPECT_GT(g.delta(), 0);
        EXPECT_TRUE(torch::equal(g.param, testing::hand_quantize(g.weights, g.delta(), 2)));
        EXPECT_LE(std::get<0>(at::_unique(g.param)).numel(), 3);
      }
      logits = one.net->forward(one.input);
      logits.sum().backward();
    }
    EXPECT_EQ(logits.size(0), 2);
    EXPECT_EQ(logits.size(-1), one.classes);
    EXPECT_TRUE(torch::isfinite(logits).all().item<bool>());
    for (std::size_t i = 0; i < hook.groups().size(); ++i) {
      const auto& g = hook.groups()[i];
      SCOPED_TRACE(g.name);
      ASSERT_TRUE(g.param.grad().defined());
      EXPECT_GT(g.param.grad().abs().sum().item<double>(), 0);
      EXPECT_TRUE(torch::equal(g.param, before[i]));
    }

    // A table column label, and the row's thread-plan fact.
    EXPECT_FALSE(network_label({row.name, {16, 12}, false, ""}).empty());
    EXPECT_EQ(is_convolutional(row.name), row.convolutional);
  }
}

TEST(NetworkKinds, UnknownKindNamesEveryRow) {
  config::NetworkConfig cfg;
  cfg.kind = "resnet";
  const std::string error = testing::error_of([&] { make_network(cfg, {{1, 32, 32}, 10}); });
  EXPECT_NE(error.find("network.kind: unknown network 'resnet'"), std::string::npos) << error;
  for (const NetworkKind& row : network_kinds()) EXPECT_NE(error.find(row.name), std::string::npos) << error;
}

}  // namespace
}  // namespace qretrain::models
