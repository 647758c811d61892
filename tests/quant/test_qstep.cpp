// Tests for the uniform quantizer Q and the exact step-size search QStep.
// Every expectation is computed here, independently of qstep.cpp: by hand, by
// direct O(N) evaluation of the error, or by an exhaustive sweep over all
// breakpoints of the piecewise-quadratic error.
#include "quant/qstep.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

namespace qretrain::quant {
namespace {

// ---------------------------------------------------------------- helpers

enum class Dist { kGaussian, kLaplace, kUniform };

std::vector<float> sample(Dist dist, std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 0.05f);
  std::exponential_distribution<float> expo(20.0f);
  std::uniform_real_distribution<float> unif(-0.1f, 0.1f);
  std::bernoulli_distribution coin(0.5);
  std::vector<float> w(n);
  for (auto& x : w) {
    switch (dist) {
      case Dist::kGaussian: x = gauss(rng); break;
      case Dist::kLaplace: x = coin(rng) ? expo(rng) : -expo(rng); break;
      case Dist::kUniform: x = unif(rng); break;
    }
  }
  return w;
}

int levels(int bits) { return (1 << (bits - 1)) - 1; }

// Σ (Q(w, Δ) − w)² straight from the definition.
double error_at(const std::vector<float>& w, double delta, int L) {
  double sse = 0.0;
  for (float x : w) {
    const double a = std::fabs(static_cast<double>(x));
    const double level = std::min(std::floor(a / delta + 0.5), static_cast<double>(L));
    sse += (a - level * delta) * (a - level * delta);
  }
  return sse;
}

struct Ref {
  double delta;
  double sse;
};

// Lloyd (fixed-point) iteration: Δ ← Σ k a / Σ k² with k the level at Δ.
Ref lloyd(const std::vector<float>& w, int L, double delta, int max_iter = 200) {
  double e = error_at(w, delta, L);
  for (int it = 0; it < max_iter; ++it) {
    double num = 0.0, den = 0.0;
    for (float x : w) {
      const double a = std::fabs(static_cast<double>(x));
      const double k = std::min(std::floor(a / delta + 0.5), static_cast<double>(L));
      num += k * a;
      den += k * k;
    }
    if (den == 0.0 || num / den == delta) break;
    const double next = num / den;
    const double e_next = error_at(w, next, L);
    if (!(e_next < e)) break;
    delta = next;
    e = e_next;
  }
  return {delta, e};
}

// Exact global minimum by exhaustive sweep: as Δ grows past a/(k−½) one weight
// drops from level k to k−1; between breakpoints the levels are fixed and
// E(Δ) = C − 2BΔ + AΔ² is minimised at clamp(B/A). The best pieces are
// re-scored directly, so the result is in the same units as error_at().
Ref exact_reference(const std::vector<float>& w, int L) {
  struct Event {
    double t;
    double a;
    int k;
  };
  std::vector<Event> events;
  long double A = 0, B = 0, C = 0;
  for (float x : w) {
    const double a = std::fabs(static_cast<double>(x));
    if (a == 0.0) continue;
    A += static_cast<long double>(L) * L;
    B += static_cast<long double>(L) * a;
    C += static_cast<long double>(a) * a;
    for (int k = 1; k <= L; ++k) events.push_back({a / (k - 0.5), a, k});
  }
  std::sort(events.begin(), events.end(), [](const Event& x, const Event& y) { return x.t < y.t; });
  std::vector<std::pair<long double, double>> pieces;  // (E, Δ) of each piece's minimum
  double prev = 0.0;
  for (const Event& ev : events) {
    if (ev.t > prev && A > 0) {
      const double d = std::clamp(static_cast<double>(B / A), prev, ev.t);
      pieces.emplace_back(C - 2 * B * d + A * d * d, d);
    }
    B -= ev.a;
    A -= 2 * ev.k - 1;
    prev = ev.t;
  }
  const std::size_t keep = std::min<std::size_t>(pieces.size(), 32);
  std::partial_sort(pieces.begin(), pieces.begin() + keep, pieces.end());
  Ref best{prev, static_cast<double>(C)};  // Δ beyond every breakpoint: all zero
  for (std::size_t i = 0; i < keep; ++i) {
    const double e = error_at(w, pieces[i].second, L);
    if (e < best.sse) best = {pieces[i].second, e};
  }
  return best;
}

// The brute force of the design notes: a fine log grid, then a dense sub-grid
// and Lloyd from the best few grid minima. It cannot tell apart the many tiny
// local minima near the bottom (E has a concave kink at every breakpoint), so
// it is a bound that qstep must match or beat, not the exact optimum.
Ref grid_reference(const std::vector<float>& w, int L, int points) {
  double a_max = 0.0;
  for (float x : w) a_max = std::max(a_max, std::fabs(static_cast<double>(x)));
  const double lo = a_max / (1000.0 * (L + 1)), hi = 2.0 * a_max;
  const double ratio = std::pow(hi / lo, 1.0 / (points - 1));
  std::vector<double> grid(points), err(points);
  for (int g = 0; g < points; ++g) {
    grid[g] = lo * std::pow(ratio, g);
    err[g] = error_at(w, grid[g], L);
  }
  std::vector<int> minima;
  for (int g = 0; g < points; ++g) {
    if ((g == 0 || err[g] <= err[g - 1]) && (g == points - 1 || err[g] <= err[g + 1])) {
      minima.push_back(g);
    }
  }
  std::sort(minima.begin(), minima.end(), [&](int x, int y) { return err[x] < err[y]; });
  Ref best{grid[minima[0]], err[minima[0]]};
  for (std::size_t m = 0; m < std::min<std::size_t>(minima.size(), 3); ++m) {
    const double c = grid[minima[m]];
    Ref local{c, err[minima[m]]};
    for (int s = -20; s <= 20; ++s) {
      const double d = c * std::pow(ratio, s / 20.0);
      const double e = error_at(w, d, L);
      if (e < local.sse) local = {d, e};
    }
    local = lloyd(w, L, local.delta);
    if (local.sse < best.sse) best = local;
  }
  return best;
}

// ------------------------------------------------------------ quantizer Q

TEST(QStepQuantize, TwoBitTiesAndClip) {
  EXPECT_EQ(max_level(2), 1);
  EXPECT_FLOAT_EQ(quantize_value(0.49f, 1.0f, 2), 0.0f);
  EXPECT_FLOAT_EQ(quantize_value(0.5f, 1.0f, 2), 1.0f);  // tie: away from zero
  EXPECT_FLOAT_EQ(quantize_value(-0.5f, 1.0f, 2), -1.0f);
  EXPECT_FLOAT_EQ(quantize_value(1.49f, 1.0f, 2), 1.0f);
  EXPECT_FLOAT_EQ(quantize_value(7.0f, 1.0f, 2), 1.0f);  // clipped at L·Δ
  EXPECT_FLOAT_EQ(quantize_value(-7.0f, 1.0f, 2), -1.0f);
  EXPECT_EQ(quantize_value(0.0f, 1.0f, 2), 0.0f);
}

TEST(QStepQuantize, ThreeBitTiesAndClip) {
  EXPECT_EQ(max_level(3), 3);
  EXPECT_EQ(max_level(8), 127);
  EXPECT_FLOAT_EQ(quantize_value(1.25f, 0.5f, 3), 1.5f);  // 2.5 → 3
  EXPECT_FLOAT_EQ(quantize_value(1.24f, 0.5f, 3), 1.0f);
  EXPECT_FLOAT_EQ(quantize_value(0.75f, 0.5f, 3), 1.0f);  // 1.5 → 2
  EXPECT_FLOAT_EQ(quantize_value(-0.25f, 0.5f, 3), -0.5f);
  EXPECT_FLOAT_EQ(quantize_value(100.0f, 0.5f, 3), 1.5f);
  EXPECT_FLOAT_EQ(quantize_value(-1.75f, 0.5f, 3), -1.5f);
  EXPECT_EQ(quantize_value(0.0f, 0.5f, 3), 0.0f);
  EXPECT_EQ(quantize_value(-0.0f, 0.5f, 3), 0.0f);
}

TEST(QStepQuantize, NonPositiveStepGivesZeros) {
  EXPECT_EQ(quantize_value(0.7f, 0.0f, 3), 0.0f);
  EXPECT_EQ(quantize_value(-0.7f, -1.0f, 3), 0.0f);
  const std::vector<float> w = {0.3f, -2.0f};
  std::vector<float> out(w.size(), 9.0f);
  quantize(w.data(), out.data(), w.size(), 0.0f, 4);
  EXPECT_EQ(out, std::vector<float>(2, 0.0f));
}

TEST(QStepQuantize, ArrayMatchesScalar) {
  std::vector<float> w = sample(Dist::kGaussian, 1000, 11);
  for (float x : {0.0f, 0.025f, -0.025f, 0.075f, 1e6f, -1e6f}) w.push_back(x);
  for (int bits : {2, 3, 5, 8}) {
    const float delta = 0.05f;
    std::vector<float> out(w.size());
    quantize(w.data(), out.data(), w.size(), delta, bits);
    for (std::size_t i = 0; i < w.size(); ++i) {
      ASSERT_EQ(out[i], quantize_value(w[i], delta, bits)) << "bits " << bits << " i " << i;
    }
  }
}

TEST(QStepQuantize, BitsOutOfRangeThrow) {
  EXPECT_THROW(max_level(1), std::invalid_argument);
  EXPECT_THROW(max_level(9), std::invalid_argument);
  EXPECT_THROW(qstep(std::vector<float>{1.0f}, 0), std::invalid_argument);
}

TEST(QStepSse, HandComputed) {
  const std::vector<float> w = {0.25f, -0.75f, 1.625f, 2.5f};
  // 2 bits, Δ = 1: levels 0, 1, 1, 1(clip) → errors 0.25, 0.25, 0.625, 1.5.
  EXPECT_NEAR(quantization_sse(w.data(), w.size(), 1.0, 2),
              0.0625 + 0.0625 + 0.390625 + 2.25, 1e-12);
  // 3 bits, Δ = 0.5: levels 1 (tie 0.5+0.5), 2 (tie 1.5+0.5), 3, 3(clip) →
  // errors 0.25, 0.25, 0.125, 1.0.
  EXPECT_NEAR(quantization_sse(w.data(), w.size(), 0.5, 3),
              0.0625 + 0.0625 + 0.015625 + 1.0, 1e-12);
  // Δ <= 0 quantizes everything to zero.
  EXPECT_NEAR(quantization_sse(w.data(), w.size(), 0.0, 3),
              0.0625 + 0.5625 + 2.640625 + 6.25, 1e-12);
}

// --------------------------------------------- qstep against references

using Case = std::tuple<Dist, std::size_t, int>;

class QStepRandom : public ::testing::TestWithParam<Case> {};

TEST_P(QStepRandom, MatchesExhaustiveSweep) {
  const auto [dist, n, bits] = GetParam();
  const int L = levels(bits);
  const std::vector<float> w = sample(dist, n, static_cast<std::uint32_t>(n * 31 + bits));
  const StepResult r = qstep(w, bits);
  ASSERT_GT(r.delta, 0.0);

  // The reported error is the error of the reported step.
  EXPECT_NEAR(r.sse, error_at(w, r.delta, L), 1e-12 * r.sse);

  const Ref exact = exact_reference(w, L);
  EXPECT_LE(r.sse, exact.sse * (1 + 1e-9));
  if (std::fabs(r.sse - exact.sse) > 1e-12 * exact.sse) {  // else: two minima tie
    EXPECT_NEAR(r.delta, exact.delta, 1e-6 * exact.delta)
        << "sse " << r.sse << " vs exact " << exact.sse;
  }

  // The grid is the expensive part at 100k weights: fewer points there (the
  // local refinement still runs).
  const Ref grid = grid_reference(w, L, n >= 100000 ? 600 : 3000);
  EXPECT_LE(r.sse, grid.sse * (1 + 1e-12));
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  const auto [dist, n, bits] = info.param;
  const char* d = dist == Dist::kGaussian ? "Gauss" : dist == Dist::kLaplace ? "Laplace" : "Uniform";
  return std::string(d) + "_n" + std::to_string(n) + "_b" + std::to_string(bits);
}

INSTANTIATE_TEST_SUITE_P(QStep, QStepRandom,
                         ::testing::Combine(::testing::Values(Dist::kGaussian, Dist::kLaplace,
                                                              Dist::kUniform),
                                            ::testing::Values<std::size_t>(10, 100, 1000, 10000,
                                                                           100000),
                                            ::testing::Values(2, 3, 4, 6)),
                         case_name);

// Two clusters: |w| ≈ 1 (50 weights) and ≈ 3 (20 weights), ternary. Lloyd
// started at mean|w| ≈ 1.57 keeps every weight at level 1 and stops at that
// fixed point (E ≈ 57); the global minimum sends the small cluster to zero
// and puts Δ on the large one (E ≈ 50).
TEST(QStepGlobal, BeatsLloydFromMeanStart) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> jitter(-0.02f, 0.02f);
  std::bernoulli_distribution coin(0.5);
  std::vector<float> w;
  for (int i = 0; i < 50; ++i) w.push_back((coin(rng) ? 1.0f : -1.0f) * (1.0f + jitter(rng)));
  for (int i = 0; i < 20; ++i) w.push_back((coin(rng) ? 1.0f : -1.0f) * (3.0f + jitter(rng)));
  const int bits = 2, L = levels(bits);

  double mean = 0.0;
  for (float x : w) mean += std::fabs(x);
  mean /= static_cast<double>(w.size());
  const Ref local = lloyd(w, L, mean);
  EXPECT_NEAR(local.delta, mean, 1e-6);  // a fixed point at once
  EXPECT_NEAR(local.sse, 57.0, 0.5);

  const StepResult r = qstep(w, bits);
  const Ref exact = exact_reference(w, L);
  EXPECT_NEAR(r.delta, exact.delta, 1e-9 * exact.delta);
  EXPECT_NEAR(r.sse, exact.sse, 1e-9 * exact.sse);
  EXPECT_NEAR(r.delta, 3.0, 0.02);
  EXPECT_NEAR(r.sse, 50.0, 0.5);
  EXPECT_GT(local.sse, r.sse * 1.1);
}

// One large outlier among many small weights: the optimum ignores the outlier
// (Δ ≈ a_max / 99), far below any "Δ near a_max / L" heuristic range.
TEST(QStepGlobal, OutlierIsClipped) {
  std::vector<float> w(10000, 1.0f);
  w.push_back(100.0f);
  const StepResult r = qstep(w, 2);
  const Ref exact = exact_reference(w, 1);
  EXPECT_NEAR(r.delta, 10100.0 / 10001.0, 1e-9);
  EXPECT_NEAR(r.sse, exact.sse, 1e-9 * exact.sse);
}

TEST(QStepGlobal, SparseWeights) {
  std::vector<float> w = sample(Dist::kLaplace, 20000, 3);
  for (std::size_t i = 0; i < w.size(); ++i) {
    if (i % 10 != 0) w[i] = 0.0f;
  }
  for (int bits : {2, 4}) {
    const StepResult r = qstep(w, bits);
    const Ref exact = exact_reference(w, levels(bits));
    EXPECT_LE(r.sse, exact.sse * (1 + 1e-9));
    if (std::fabs(r.sse - exact.sse) > 1e-12 * exact.sse) {
      EXPECT_NEAR(r.delta, exact.delta, 1e-6 * exact.delta);
    }
  }
}

// ------------------------------------------------------------ edge cases

TEST(QStepEdge, EmptyAndAllZero) {
  const StepResult empty = qstep(nullptr, 0, 3);
  EXPECT_EQ(empty.delta, 0.0);
  EXPECT_EQ(empty.sse, 0.0);
  const StepResult zeros = qstep(std::vector<float>{0.0f, -0.0f, 0.0f}, 4);
  EXPECT_EQ(zeros.delta, 0.0);
  EXPECT_EQ(zeros.sse, 0.0);
}

TEST(QStepEdge, SingleMagnitudeIsExact) {
  for (float x : {0.37f, -5.0f, 1e-20f, 3e30f}) {
    for (int bits : {2, 3, 8}) {
      const std::vector<float> w = {x, -x, x, 0.0f};
      const StepResult r = qstep(w, bits);
      EXPECT_GT(r.delta, 0.0);
      EXPECT_LE(r.sse, 1e-12 * 3.0 * x * x) << x << " bits " << bits;
      // Some level k <= L hits |x| exactly: Δ = |x| / k.
      const double k = std::fabs(x) / r.delta;
      EXPECT_NEAR(k, std::round(k), 1e-6) << x << " bits " << bits;
      EXPECT_LE(std::round(k), levels(bits));
    }
  }
}

TEST(QStepEdge, TwoValues) {
  const std::vector<float> w = {1.0f, -3.0f};
  // Ternary: both at level 1 costs at least 2 (Δ = 2); sending 1 to zero and
  // putting Δ on 3 costs 1; Δ = 1 clips 3 for 4.
  const StepResult ternary = qstep(w, 2);
  EXPECT_NEAR(ternary.delta, 3.0, 1e-9);
  EXPECT_NEAR(ternary.sse, 1.0, 1e-9);
  // Three bits: Δ = 1 represents both exactly (levels 1 and 3).
  const StepResult three = qstep(w, 3);
  EXPECT_NEAR(three.delta, 1.0, 1e-9);
  EXPECT_NEAR(three.sse, 0.0, 1e-12);
}

TEST(QStepEdge, NonFiniteThrows) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_THROW(qstep(std::vector<float>{0.1f, nan, 0.2f}, 3), std::invalid_argument);
  EXPECT_THROW(qstep(std::vector<float>{-inf}, 3), std::invalid_argument);
  try {
    qstep(std::vector<float>{0.1f, nan}, 3);
    FAIL() << "a NaN weight was quantized";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("NaN"), std::string::npos) << e.what();
  }
}

// ------------------------------------------------------------ invariance

TEST(QStepInvariance, PowerOfTwoScaleIsExact) {
  const std::vector<float> w = sample(Dist::kGaussian, 10000, 21);
  for (int bits : {3, 6}) {
    const StepResult base = qstep(w, bits);
    for (float c : {4.0f, 0.125f}) {
      std::vector<float> scaled(w);
      for (auto& x : scaled) x *= c;
      const StepResult r = qstep(scaled, bits);
      EXPECT_NEAR(r.delta, c * base.delta, 1e-6 * c * base.delta);
      EXPECT_NEAR(r.sse, c * c * base.sse, 1e-9 * c * c * base.sse);
    }
  }
}

// Integers times 3 stay exact in float, so the scaled problem is the same
// problem; only a tie between two minima may change the step.
TEST(QStepInvariance, IntegerScaleByThree) {
  std::mt19937 rng(8);
  std::uniform_int_distribution<int> pick(-1000, 1000);
  std::vector<float> w(3000), scaled(3000);
  for (std::size_t i = 0; i < w.size(); ++i) {
    w[i] = static_cast<float>(pick(rng));
    scaled[i] = 3.0f * w[i];
  }
  for (int bits : {2, 4}) {
    const StepResult base = qstep(w, bits);
    const StepResult r = qstep(scaled, bits);
    EXPECT_NEAR(r.sse, 9.0 * base.sse, 1e-9 * 9.0 * base.sse);
    if (std::fabs(r.sse - 9.0 * base.sse) > 1e-12 * r.sse) {
      EXPECT_NEAR(r.delta, 3.0 * base.delta, 1e-6 * 3.0 * base.delta);
    }
  }
}

TEST(QStepInvariance, SignsAndOrderDoNotMatter) {
  std::vector<float> w = sample(Dist::kLaplace, 5000, 4);
  const StepResult base = qstep(w, 3);
  std::mt19937 rng(9);
  std::vector<float> flipped(w);
  for (auto& x : flipped) {
    if (rng() & 1u) x = -x;
  }
  std::shuffle(flipped.begin(), flipped.end(), rng);
  const StepResult r = qstep(flipped, 3);
  EXPECT_DOUBLE_EQ(r.delta, base.delta);
  EXPECT_DOUBLE_EQ(r.sse, base.sse);
}

}  // namespace
}  // namespace qretrain::quant

// qstep_each (groups spread over threads) returns what one qstep call per group returns.
TEST(QStep, EachGroupAsIfAlone) {
  std::mt19937 rng(41);
  std::normal_distribution<float> gauss(0.0f, 0.1f);
  std::vector<std::vector<float>> groups;
  for (std::size_t n : {std::size_t{5000}, std::size_t{17}, std::size_t{120000}, std::size_t{1}, std::size_t{3000}}) {
    std::vector<float> w(n);
    for (auto& x : w) x = gauss(rng);
    groups.push_back(std::move(w));
  }
  std::vector<qretrain::quant::WeightSpan> spans;
  for (const auto& g : groups) spans.push_back({g.data(), g.size()});
  for (int bits : {2, 3, 6}) {
    const auto each = qretrain::quant::qstep_each(spans, bits);
    ASSERT_EQ(each.size(), groups.size());
    for (std::size_t i = 0; i < groups.size(); ++i) {
      const auto alone = qretrain::quant::qstep(groups[i], bits);
      EXPECT_EQ(each[i].delta, alone.delta) << "group " << i << " at " << bits << " bits";
      EXPECT_EQ(each[i].sse, alone.sse);
    }
  }
  EXPECT_TRUE(qretrain::quant::qstep_each({}, 2).empty());
}
