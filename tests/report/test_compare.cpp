// `table --compare`: paired differences by seed, win counts, and the 95%
// intervals, against values worked by hand.
#include "report/compare.h"

#include <gtest/gtest.h>

namespace qretrain::report {
namespace {

RunRecord run(const std::string& net, const std::string& method, int bits, int seed, double v,
              const std::string& status = "ok") {
  RunRecord r;
  r.network = net;
  r.method = method;
  r.bits = bits;
  r.seed = seed;
  r.test_metric = v;
  r.status = status;
  return r;
}

TEST(Compare, PairsBySeedCountsWinsAndGivesIntervals) {
  std::vector<RunRecord> runs = {
      run("L", "adaptive", 2, 1, 10.0), run("L", "conventional", 2, 1, 11.0),  // d = +1
      run("L", "adaptive", 2, 2, 12.0), run("L", "conventional", 2, 2, 15.0),  // d = +3
      run("L", "adaptive", 2, 3, 9.0),                                          // unpaired: ignored
      run("L", "adaptive", 3, 1, 8.0),  run("L", "conventional", 3, 1, 7.0),   // d = -1
      run("L", "adaptive", 3, 2, 8.0),  run("L", "conventional", 3, 2, 8.0),   // tie
      run("C", "adaptive", 2, 1, 5.0),  run("C", "conventional", 2, 1, 0.0, "failed"),
      run("L", "direct", 2, 1, 50.0),
  };
  Comparison c = compare_methods(runs, "adaptive", "conventional");
  ASSERT_EQ(c.cells.size(), 2u);  // C has no successful pair
  EXPECT_EQ(c.cells[0].bits, 2);
  EXPECT_EQ(c.cells[0].pairs, 2);
  EXPECT_DOUBLE_EQ(c.cells[0].mean_diff, 2.0);
  EXPECT_NEAR(c.cells[0].stdev_diff, std::sqrt(2.0), 1e-12);
  EXPECT_EQ(c.cells[0].a_wins, 2);
  EXPECT_EQ(c.cells[1].b_wins, 1);
  EXPECT_EQ(c.cells[1].ties, 1);
  EXPECT_EQ(c.pairs, 4);
  EXPECT_EQ(c.a_wins, 2);
  EXPECT_EQ(c.b_wins, 1);
  EXPECT_EQ(c.ties, 1);
  // Differences {1, 3, -1, 0}: mean 0.75, s = sqrt(2.9167), t(3) = 3.182.
  EXPECT_DOUBLE_EQ(c.mean_diff, 0.75);
  const double half = 3.182 * std::sqrt((0.0625 + 5.0625 + 3.0625 + 0.5625) / 3.0) / 2.0;
  EXPECT_NEAR(c.ci_low, 0.75 - half, 1e-9);
  EXPECT_NEAR(c.ci_high, 0.75 + half, 1e-9);
  // Wilson interval of 2 wins in 3 decided pairs.
  EXPECT_NEAR(c.win_rate, 2.0 / 3.0, 1e-12);
  EXPECT_NEAR(c.win_low, 0.2077, 1e-4);
  EXPECT_NEAR(c.win_high, 0.9385, 1e-4);
  const std::string text = render_comparison(c, "error rate");
  EXPECT_NE(text.find("| L | 2 | 2 | +2.00 | 1.41 | 2 | 0 | 0 |"), std::string::npos) << text;
  EXPECT_NE(text.find("The interval contains 0"), std::string::npos) << text;
}

}  // namespace
}  // namespace qretrain::report
