// The GEMM switch (util/gemm.h): LibTorch's float products really go to the
// library chosen, for every transpose combination LibTorch passes to BLAS, and
// each agrees with a double-precision product.
#include "util/gemm.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <gtest/gtest.h>
#include <torch/torch.h>

namespace qretrain {
namespace {

class GemmBackend : public ::testing::TestWithParam<gemm::Backend> {
 protected:
  void SetUp() override { gemm::set_backend(GetParam()); }
  void TearDown() override { gemm::set_backend(gemm::Backend::OpenBlas); }
};

TEST_P(GemmBackend, EveryTransposeMatchesDoublePrecision) {
  torch::manual_seed(3);
  // Odd sizes, so a swapped m/n or lda/ldb cannot pass by symmetry.
  const std::int64_t m = 37, k = 53, n = 29;
  auto a = torch::randn({m, k}), b = torch::randn({k, n});
  auto at = torch::randn({k, m}), bt = torch::randn({n, k});
  struct Case { torch::Tensor left, right; };
  // A plain operand, or the transpose of a contiguous one: BLAS sees 'n' / 't'.
  const Case cases[] = {{a, b}, {at.t(), b}, {a, bt.t()}, {at.t(), bt.t()}};
  for (const auto& c : cases) {
    const auto before = gemm::calls(GetParam());
    auto product = torch::mm(c.left, c.right);
    EXPECT_GT(gemm::calls(GetParam()), before) << "the product did not reach " << gemm::name(GetParam());
    auto exact = torch::mm(c.left.to(torch::kFloat64), c.right.to(torch::kFloat64));
    EXPECT_LT((product.to(torch::kFloat64) - exact).abs().max().item<double>(), 1e-4);
  }
  // alpha and beta (addmm: bias + x W^T, as Linear computes it).
  auto bias = torch::randn({n});
  auto y = torch::addmm(bias, a, b, /*beta=*/0.5, /*alpha=*/2.0);
  auto exact = 0.5 * bias.to(torch::kFloat64) + 2.0 * torch::mm(a.to(torch::kFloat64), b.to(torch::kFloat64));
  EXPECT_LT((y.to(torch::kFloat64) - exact).abs().max().item<double>(), 1e-4);
}

TEST_P(GemmBackend, LinearGradientsMatchTheOtherLibrary) {
  torch::manual_seed(4);
  torch::nn::Linear layer(33, 17);
  auto x = torch::randn({45, 33}, torch::requires_grad());
  auto run = [&] {
    layer->zero_grad();
    x.mutable_grad() = torch::Tensor();
    auto y = layer(x);
    (y * y).sum().backward();
    return std::vector<torch::Tensor>{y.detach(), layer->weight.grad().clone(), x.grad().clone()};
  };
  const auto here = run();
  gemm::set_backend(GetParam() == gemm::Backend::OneDnn ? gemm::Backend::OpenBlas : gemm::Backend::OneDnn);
  const auto there = run();
  for (std::size_t i = 0; i < here.size(); ++i) EXPECT_TRUE(torch::allclose(here[i], there[i], 1e-4, 1e-4)) << i;
}

INSTANTIATE_TEST_SUITE_P(Gemm, GemmBackend, ::testing::Values(gemm::Backend::OpenBlas, gemm::Backend::OneDnn),
                         [](const auto& info) { return std::string(gemm::name(info.param)); });

TEST(Gemm, ResolveNamesAndRejectsUnknown) {
  EXPECT_EQ(gemm::resolve("openblas"), gemm::Backend::OpenBlas);
  EXPECT_EQ(gemm::resolve("onednn"), gemm::Backend::OneDnn);
  EXPECT_EQ(gemm::resolve("auto"), gemm::cpu_has_avx512() ? gemm::Backend::OneDnn : gemm::Backend::OpenBlas);
  EXPECT_THROW(gemm::resolve("mkl"), std::invalid_argument);
}

// The kernel set OpenBLAS reports is the one it runs: forced by
// OPENBLAS_CORETYPE when set (stored with every run's machine).
TEST(Gemm, OpenBlasReportsTheKernelSetItRuns) {
  const char* forced = std::getenv("OPENBLAS_CORETYPE");
  const std::string core = gemm::openblas_core();
  EXPECT_FALSE(core.empty());
  auto lower = [](std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
  };
  if (forced && *forced) {
    EXPECT_EQ(lower(core), lower(forced));
  }
  EXPECT_NE(gemm::numerics_summary().find("(" + core + " kernels)"), std::string::npos) << gemm::numerics_summary();
}

}  // namespace
}  // namespace qretrain
