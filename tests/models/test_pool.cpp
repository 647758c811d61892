// models::max_pool2d gives ATen's max_pool2d results bit for bit: outputs,
// and input gradients (summed in ATen's order where windows overlap), on
// inputs with ties, NaN and -inf, for the kernels the CNNs use.
#include "models/pool.h"

#include <limits>

#include <gtest/gtest.h>

namespace qretrain {
namespace {

struct PoolCase {
  std::vector<std::int64_t> shape;
  std::int64_t kernel, stride;
};

void expect_same_as_aten(const torch::Tensor& input, std::int64_t kernel, std::int64_t stride) {
  auto ours_in = input.clone().requires_grad_(true);
  auto aten_in = input.clone().requires_grad_(true);
  auto ours = models::max_pool2d(ours_in, kernel, stride);
  auto aten = torch::max_pool2d(aten_in, kernel, stride);
  ASSERT_EQ(ours.sizes(), aten.sizes());
  // equal() treats NaN as unequal: compare the bits.
  EXPECT_TRUE(torch::equal(ours.detach().view(torch::kInt32), aten.detach().view(torch::kInt32)));
  auto grad = torch::randn(ours.sizes());
  ours.backward(grad);
  aten.backward(grad);
  EXPECT_TRUE(torch::equal(ours_in.grad(), aten_in.grad()));
}

TEST(MaxPool, SameBitsAsAtenForwardAndBackward) {
  torch::manual_seed(11);
  const PoolCase cases[] = {
      {{3, 6, 28, 28}, 2, 2},   // LeNet-5
      {{2, 16, 10, 10}, 2, 2},  // LeNet-5, second pool
      {{2, 8, 32, 32}, 3, 2},   // C: overlapping windows, gradients accumulate
      {{2, 3, 15, 17}, 2, 2},   // odd sides: the last row and column are dropped
      {{1, 2, 7, 9}, 3, 2},
      {{4, 4, 4, 4}, 2, 2},     // V's last pool
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.shape << " k" << c.kernel << " s" << c.stride);
    expect_same_as_aten(torch::randn(c.shape), c.kernel, c.stride);
    // After ReLU: whole windows of zeros (ties; the first one wins).
    expect_same_as_aten(torch::relu(torch::randn(c.shape)), c.kernel, c.stride);
    // Coarse values: ties among positive maxima too.
    expect_same_as_aten(torch::round(torch::randn(c.shape) * 2) / 2, c.kernel, c.stride);
  }
}

TEST(MaxPool, NanAndInfinityChosenAsAtenChooses) {
  auto x = torch::randn({2, 3, 8, 8});
  auto nan = std::numeric_limits<float>::quiet_NaN();
  x[0][0][0][0] = nan;
  x[0][0][1][1] = nan;  // two NaNs in one window: the last is chosen
  x[1][2].fill_(-std::numeric_limits<float>::infinity());  // a window of -inf keeps its first position
  x[1][1][3][3] = std::numeric_limits<float>::infinity();
  expect_same_as_aten(x, 2, 2);
  expect_same_as_aten(x, 3, 2);
}

TEST(MaxPool, EvaluationWithoutGradientsAndOtherLayouts) {
  torch::manual_seed(12);
  auto x = torch::randn({2, 4, 12, 12});
  {
    torch::NoGradGuard no_grad;
    EXPECT_TRUE(torch::equal(models::max_pool2d(x, 2, 2), torch::max_pool2d(x, 2)));
  }
  // A non-contiguous view and a double tensor (the fallback) agree too.
  auto strided = torch::randn({4, 2, 12, 12}).transpose(0, 1);
  EXPECT_TRUE(torch::equal(models::max_pool2d(strided, 2, 2), torch::max_pool2d(strided, 2)));
  auto wide = x.to(torch::kFloat64);
  EXPECT_TRUE(torch::equal(models::max_pool2d(wide, 3, 2), torch::max_pool2d(wide, 3, 2)));
}

}  // namespace
}  // namespace qretrain
