#include <gtest/gtest.h>

#include "models/network.h"
#include "quant/hook.h"

namespace qretrain::models {
namespace {

TEST(Networks, LeNet5ParameterCountsAndGroups) {
  config::NetworkConfig cfg;
  cfg.kind = "lenet5";
  // conv1 (c*25+1)*6, conv2 (6*25+1)*16 = 2416, fc1 401*120 = 48120, fc2 121*84 = 10164, fc3 85*10 = 850
  EXPECT_EQ(count_parameters(*make_network(cfg, {{3, 32, 32}, 10})), 456 + 2416 + 48120 + 10164 + 850);
  auto net = make_network(cfg, {{1, 32, 32}, 10});
  EXPECT_EQ(count_parameters(*net), 156 + 2416 + 48120 + 10164 + 850);
  EXPECT_EQ(quant::weight_group_names(*net),
            (std::vector<std::string>{"conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight", "fc3.weight"}));
  EXPECT_EQ(net->forward(torch::zeros({2, 1, 32, 32})).sizes(), (std::vector<std::int64_t>{2, 10}));
}

// The paper's trainable parameter counts for 32x32x3 input: L 60k, C 84k, V 435k.
TEST(Networks, PaperParameterCountsWithinFivePercent) {
  const std::vector<std::pair<std::string, double>> targets = {{"lenet5", 60e3}, {"cnn_c", 84e3}, {"cnn_v", 435e3}};
  for (const auto& [kind, target] : targets) {
    config::NetworkConfig cfg;
    cfg.kind = kind;
    auto net = make_network(cfg, {{3, 32, 32}, 10});
    const double count = static_cast<double>(count_parameters(*net));
    EXPECT_NEAR(count / target, 1.0, 0.05) << kind << ": " << count;
    net->eval();
    EXPECT_EQ(net->forward(torch::zeros({2, 3, 32, 32})).sizes(), (std::vector<std::int64_t>{2, 10})) << kind;
    // 1-channel input (the Fashion-MNIST stand-in) builds too.
    auto gray = make_network(cfg, {{1, 32, 32}, 10});
    gray->eval();
    EXPECT_EQ(gray->forward(torch::zeros({1, 1, 32, 32})).size(1), 10) << kind;
  }
  // Hand count of C: convs (3*25+1)*32 + (32*25+1)*32 + (32*25+1)*64, fc 64*3*3*10+10.
  config::NetworkConfig c;
  c.kind = "cnn_c";
  EXPECT_EQ(count_parameters(*make_network(c, {{3, 32, 32}, 10})), 2432 + 25632 + 51264 + 5770);
}

TEST(Networks, FfdnnShapesAndBatchNormStaysFloat) {
  config::NetworkConfig cfg;
  cfg.kind = "ffdnn";
  cfg.hidden = {64, 32};
  cfg.batch_norm = true;
  auto net = make_network(cfg, {{1, 4, 4}, 5});
  EXPECT_EQ(count_parameters(*net), (16 * 64 + 64) + 2 * 64 + (64 * 32 + 32) + 2 * 32 + (32 * 5 + 5));
  EXPECT_EQ(quant::weight_group_names(*net), (std::vector<std::string>{"fc1.weight", "fc2.weight", "out.weight"}));
  EXPECT_EQ(network_label(cfg), "64x32+BN");
  net->eval();
  EXPECT_EQ(net->forward(torch::zeros({3, 1, 4, 4})).sizes(), (std::vector<std::int64_t>{3, 5}));
}

// The BLAS behind LibTorch computes correctly on this CPU (some OpenBLAS
// builds need OPENBLAS_CORETYPE on newer CPUs): sgemm against a double
// reference, at sizes that take the blocked kernels.
TEST(Networks, BlasMatrixProductIsCorrect) {
  torch::manual_seed(0);
  for (std::int64_t n : {7, 64, 257}) {
    auto a = torch::randn({n, 300}), b = torch::randn({300, 129});
    // Reference without BLAS: broadcast multiply and sum in double.
    auto ref = (a.to(torch::kFloat64).unsqueeze(2) * b.to(torch::kFloat64).unsqueeze(0)).sum(1);
    auto got = torch::mm(a, b).to(torch::kFloat64);
    EXPECT_LT((got - ref).abs().max().item<double>(), 1e-3) << "n = " << n;
  }
}

}  // namespace
}  // namespace qretrain::models
