// The claims section on a tiny store of known numbers, every verdict and
// interval worked out by hand (in the comments), plus the stale-run rule of
// Store::select that keeps a group's runs on one float baseline.
#include <cmath>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "report/claims.h"
#include "report/stats.h"
#include "report/store.h"

namespace qretrain::report {
namespace {

using ::testing::HasSubstr;

RunRecord run(const std::string& network, const std::string& method, int bits, int seed, double metric) {
  RunRecord r;
  r.cell_key = network + method + std::to_string(bits) + "s" + std::to_string(seed);
  r.experiment = "claims";
  r.network = network;
  r.method = method;
  r.bits = bits;
  r.seed = seed;
  r.test_metric = metric;
  return r;
}

// Table 1: three FFDNN widths, 3 seeds. float f; direct 2-bit 2f; adaptive
// 2-bit f + gap (6, 4, 2 for widths 64, 256, 1024); conventional = adaptive +
// seed (1, 2, 3) at 2 bits; control f + 1.
ClaimTable table1() {
  ClaimTable t;
  t.number = 1;
  t.source = "T1";
  const std::vector<std::pair<std::string, double>> nets = {{"64x64", 6}, {"256x256", 4}, {"1024x1024", 2}};
  const double base[3][3] = {{30, 31, 32}, {25, 26, 27}, {20, 21, 22}};
  for (int n = 0; n < 3; ++n)
    for (int s = 1; s <= 3; ++s) {
      const double f = base[n][s - 1], gap = nets[n].second;
      const std::string& net = nets[n].first;
      t.runs.push_back(run(net, "float", 0, s, f));
      t.runs.push_back(run(net, "control", 0, s, f + 1));
      t.runs.push_back(run(net, "direct", 2, s, 2 * f));
      t.runs.push_back(run(net, "adaptive", 2, s, f + gap));
      t.runs.push_back(run(net, "conventional", 2, s, f + gap + s));
    }
  return t;
}

// Table 4 (bits per character): direct 2-bit only 10% worse than float.
ClaimTable table4() {
  ClaimTable t;
  t.number = 4;
  t.source = "T4";
  t.metric = "bits per character";
  for (int s = 1; s <= 3; ++s) {
    t.runs.push_back(run("256", "float", 0, s, 2.0));
    t.runs.push_back(run("256", "direct", 2, s, 2.2));
  }
  return t;
}

// Table 2: adaptive+gradual 1 point worse than adaptive at 3 and 4 bits.
ClaimTable table2() {
  ClaimTable t;
  t.number = 2;
  t.source = "T2";
  for (int bits : {3, 4})
    for (int s = 1; s <= 3; ++s) {
      t.runs.push_back(run("512x512", "adaptive", bits, s, 30));
      t.runs.push_back(run("512x512", "adaptive+gradual", bits, s, 31));
    }
  return t;
}

// Three adaptive runs, Δ of 3 groups at the first and last evaluation.
std::vector<RunRecord> step_size_runs() {
  const double last[3][3] = {{1.1, 1.2, 1.5}, {1.05, 1.3, 1.6}, {1.2, 1.25, 1.45}};
  std::vector<RunRecord> out;
  for (int i = 0; i < 3; ++i) {
    RunRecord r = run("256x256", "adaptive", 2, i + 1, 40);
    r.group_names = {"layer1", "layer2", "output"};
    train::EvalPoint a, b;
    a.deltas = {1.0, 1.0, 1.0};
    b.deltas = {last[i][0], last[i][1], last[i][2]};
    r.curve = {a, b};
    out.push_back(r);
  }
  return out;
}

const ClaimVerdict& find(const std::vector<ClaimVerdict>& v, const std::string& id) {
  for (const auto& c : v)
    if (c.id == id) return c;
  throw std::runtime_error("no claim " + id);
}

TEST(Stats, MeanIntervalAndSlopeByHand) {
  // 1, 2, 3 three times: mean 2, s = sqrt(6/8), half = t(8) 2.306 * s / 3.
  const auto m = stats::mean_interval({1, 2, 3, 1, 2, 3, 1, 2, 3});
  EXPECT_DOUBLE_EQ(m.mean, 2.0);
  EXPECT_NEAR(m.stdev, 0.8660254, 1e-6);
  EXPECT_NEAR(m.low, 2.0 - 2.306 * 0.8660254 / 3, 1e-6);
  EXPECT_NEAR(m.high, 2.0 + 2.306 * 0.8660254 / 3, 1e-6);
  EXPECT_FALSE(stats::mean_interval({5}).has_interval());
  // y = 1 + 2x + (+1, -1, -1, +1): slope 2; residual SS 4 over 2 dof, Sxx = 5, half = t(2) 4.303 * sqrt(4/2/5).
  const auto s = stats::fit_slope({0, 1, 2, 3}, {2, 2, 4, 8});
  EXPECT_NEAR(s.slope, 2.0, 1e-12);
  EXPECT_NEAR(s.intercept, 1.0, 1e-12);  // mean y 4 - slope 2 * mean x 1.5
  EXPECT_NEAR(s.high - s.slope, 4.303 * std::sqrt(2.0 / 5.0), 1e-9);
}

TEST(Claims, EveryVerdictFromKnownNumbers) {
  ClaimInput in;
  in.tables = {table1(), table2(), table4()};
  in.step_size_source = "F2";
  in.step_size_runs = step_size_runs();
  const auto claims = evaluate_claims(in);
  ASSERT_EQ(claims.size(), 6u);

  // C1: T1 relative (2f - f) / f = 100% on all 9 pairs: holds; T4 10% on 3
  // pairs, interval [10, 10] below 50%: fails. Holds on one, fails on one.
  const auto& c1 = find(claims, "C1");
  EXPECT_EQ(c1.verdict, "inconclusive");
  ASSERT_EQ(c1.evidence.size(), 2u);
  EXPECT_THAT(c1.evidence[0], HasSubstr("T1: holds — relative +100.0% [95% CI +100.0, +100.0] over 9 pairs"));
  // Absolute: mean float 26 points.
  EXPECT_THAT(c1.evidence[0], HasSubstr("absolute +26.00 points"));
  EXPECT_THAT(c1.evidence[1], HasSubstr("T4: fails — relative +10.0%"));
  EXPECT_THAT(c1.evidence[1], HasSubstr("absolute +0.200 bpc"));

  // C2: best at 2 bits is adaptive (gap 6, 4, 2 below conventional);
  // relative gaps 6/30..6/32, 4/25..4/27, 2/20..2/22: mean 14.77%, s 4.310%,
  // half 2.306 * 4.310 / 3 = 3.31: [11.5, 18.1], above 10%: fails. Against the
  // control (gap - 1) / (f + 1): mean 10.4%.
  const auto& c2 = find(claims, "C2");
  EXPECT_EQ(c2.verdict, "fails");
  ASSERT_EQ(c2.evidence.size(), 1u);
  EXPECT_THAT(c2.evidence[0], HasSubstr("T1: fails — relative +14.8% [95% CI +11.5, +18.1] over 9 pairs"));
  EXPECT_THAT(c2.evidence[0], HasSubstr("against the control row +10.4%"));
  EXPECT_THAT(c2.evidence[0], HasSubstr("64x64 adaptive, 256x256 adaptive, 1024x1024 adaptive"));

  // C3: conventional - adaptive = seed (1, 2, 3) on 9 pairs: mean 2,
  // interval [1.33, 2.67] above 0, adaptive better in all 9: holds (T2 has no
  // conventional runs, T4 no adaptive ones: no data there).
  const auto& c3 = find(claims, "C3");
  EXPECT_EQ(c3.verdict, "holds");
  ASSERT_EQ(c3.evidence.size(), 1u);
  EXPECT_THAT(c3.evidence[0], HasSubstr("conventional − adaptive = +2.00 points [95% CI +1.33, +2.67] over 9 pairs"));
  EXPECT_THAT(c3.evidence[0], HasSubstr("adaptive better in 9 pairs, conventional in 0"));

  // C4: gap 6, 4, 2 at log2 widths 6, 8, 10: slope -1 per doubling, no
  // residual: interval [-1, -1] below 0: holds (no batch-norm networks).
  const auto& c4 = find(claims, "C4");
  EXPECT_EQ(c4.verdict, "holds");
  ASSERT_EQ(c4.evidence.size(), 1u);
  EXPECT_THAT(c4.evidence[0], HasSubstr("without batch norm (widths 64, 256, 1024): holds — slope -1.00 points"));

  // C5: relative changes (0.1, 0.2, 0.5), (0.05, 0.3, 0.6), (0.2, 0.25, 0.45).
  // Last - largest other: 0.3, 0.3, 0.2: mean 0.267, s 0.0577, half 0.143:
  // above 0. Smallest other - first: 0.1, 0.25, 0.05: mean 0.133, s 0.104,
  // half 0.259: [-0.13, 0.39]: inconclusive; so the claim is inconclusive.
  const auto& c5 = find(claims, "C5");
  EXPECT_EQ(c5.verdict, "inconclusive");
  ASSERT_EQ(c5.evidence.size(), 3u);
  EXPECT_THAT(c5.evidence[0], HasSubstr("F2: 3 runs; mean relative change per group: layer1 11.7%, layer2 25.0%, "
                                        "output 51.7%"));
  EXPECT_THAT(c5.evidence[1], HasSubstr("last layer moves most: holds — last − largest other +26.7 points of % "
                                        "[95% CI +12.3, +41.0]"));
  EXPECT_THAT(c5.evidence[2], HasSubstr("first layer moves least: inconclusive — smallest other − first +13.3"));

  // C6: adaptive - adaptive+gradual = -1 on all 6 pairs: fails.
  const auto& c6 = find(claims, "C6");
  EXPECT_EQ(c6.verdict, "fails");
  ASSERT_EQ(c6.evidence.size(), 1u);
  EXPECT_THAT(c6.evidence[0], HasSubstr("T2, 3 and 4 bits: fails — adaptive − adaptive+gradual = -1.00 points"));

  const std::string md = render_claims(claims);
  EXPECT_THAT(md, HasSubstr("| claim | verdict |"));
  EXPECT_THAT(md, HasSubstr("## C3: holds"));
}

TEST(Claims, OneSeedDecidesNothing) {
  ClaimInput in;
  ClaimTable t;
  t.number = 1;
  t.source = "T1";
  t.runs = {run("64x64", "float", 0, 1, 30), run("64x64", "direct", 2, 1, 90), run("64x64", "adaptive", 2, 1, 31),
            run("64x64", "conventional", 2, 1, 35)};
  in.tables = {t};
  const auto claims = evaluate_claims(in);
  EXPECT_EQ(find(claims, "C1").verdict, "inconclusive");  // +200% but from one pair
  EXPECT_THAT(find(claims, "C1").evidence[0], HasSubstr("from one pair (no interval)"));
  EXPECT_EQ(find(claims, "C3").verdict, "inconclusive");
  EXPECT_EQ(find(claims, "C4").verdict, "no data");  // one width
  EXPECT_EQ(find(claims, "C5").verdict, "no data");
  EXPECT_EQ(find(claims, "C6").verdict, "no data");
}

TEST(StoreSelect, RunsFromAnEarlierBaselineAreLeftOutAsStale) {
  Store store(":memory:");
  auto put = [&](const std::string& method, int bits, int seed, const std::string& digest) {
    RunRecord r = run("64x64", method, bits, seed, 30);
    r.baseline_digest = digest;
    store.put(r);
    return r.cell_key;
  };
  std::vector<std::string> keys = {put("float", 0, 1, "aaaa"), put("adaptive", 2, 1, "aaaa"),
                                   put("conventional", 2, 1, "bbbb"),  // from a baseline trained before
                                   put("direct", 2, 1, ""),            // stored before digests were kept
                                   put("adaptive", 2, 2, "cccc")};     // seed 2 has no float run
  const Selection s = store.select("claims", keys);
  EXPECT_EQ(s.stale, 1);
  std::vector<std::string> methods;
  for (const auto& r : s.runs) methods.push_back(r.method + std::to_string(r.seed));
  EXPECT_EQ(methods, (std::vector<std::string>{"float1", "adaptive1", "direct1", "adaptive2"}));
  EXPECT_EQ(store.baseline_digest(keys[2]), "bbbb");
}

}  // namespace
}  // namespace qretrain::report
