#include "train/plateau.h"

#include <algorithm>
#include <vector>

#include <gtest/gtest.h>

namespace qretrain::train {
namespace {

// Hand-worked: lr 1, patience 2, factor 0.5, stop below 0.2. An equal score
// is no new best (PyTorch's ReduceLROnPlateau, mode "min", threshold 0).
TEST(PlateauSchedule, DecaysAfterPatienceEvaluationsWithoutANewBestAndStopsBelowTheMinimum) {
  PlateauSchedule s(1.0, 0.2, 2, 0.5);
  struct Expect {
    double metric;
    bool best;
    double lr;
    int bad;
  };
  const std::vector<Expect> script = {
      {10, true, 1.0, 0},  {11, false, 1.0, 1}, {12, false, 0.5, 0}, {9, true, 0.5, 0},   {9, false, 0.5, 1},
      {9, false, 0.25, 0}, {8, true, 0.25, 0},  {8.5, false, 0.25, 1}, {7.9, true, 0.25, 0}, {8, false, 0.25, 1},
      {8, false, 0.125, 0}};
  for (std::size_t i = 0; i < script.size(); ++i) {
    SCOPED_TRACE(i);
    EXPECT_FALSE(s.finished());
    EXPECT_EQ(s.record(script[i].metric), script[i].best);
    EXPECT_DOUBLE_EQ(s.lr(), script[i].lr);
    EXPECT_EQ(s.bad_evals(), script[i].bad);
  }
  EXPECT_TRUE(s.finished());
}

// An evaluation in a hold (may_decay false) can set a new best but counts
// nothing toward the patience: after the hold the count starts from zero.
TEST(PlateauSchedule, HeldEvaluationsSetABestButNeverCountTowardADecay) {
  PlateauSchedule s(1.0, 0.2, 2, 0.5);
  EXPECT_TRUE(s.record(10, false));
  EXPECT_FALSE(s.record(10, false));
  EXPECT_FALSE(s.record(11, false));
  EXPECT_FALSE(s.record(12, false));
  EXPECT_DOUBLE_EQ(s.lr(), 1.0);
  EXPECT_EQ(s.bad_evals(), 0);
  EXPECT_TRUE(s.record(9, false));  // a best inside the hold is still a best
  EXPECT_FALSE(s.record(9));
  EXPECT_EQ(s.bad_evals(), 1);
  EXPECT_DOUBLE_EQ(s.lr(), 1.0);
  EXPECT_FALSE(s.record(9.5));
  EXPECT_DOUBLE_EQ(s.lr(), 0.5);
}

// The recipes' numbers: 2e-2 halved six times is 3.125e-4 up to rounding and
// must not count as below lr_min 3.125e-4; the seventh halving is.
TEST(PlateauSchedule, ARateEqualToTheMinimumUpToRoundingIsNotBelowIt) {
  PlateauSchedule s(2e-2, 3.125e-4, 1, 0.5);
  s.record(1.0);
  int halvings = 0;
  while (!s.finished()) {
    s.record(2.0);  // patience 1: every evaluation without a new best halves
    ++halvings;
  }
  EXPECT_EQ(halvings, 7);
}

TEST(PlateauSchedule, RestoredStateContinuesAsTheUninterruptedOne) {
  const std::vector<double> metrics = {5, 6, 4, 4.5, 4.2, 4.1, 4.3, 4.4, 3, 3.5, 3.6};
  PlateauSchedule whole(1.0, 0.01, 2, 0.5);
  std::vector<double> lrs;
  for (double m : metrics) {
    whole.record(m);
    lrs.push_back(whole.lr());
  }
  for (std::size_t cut = 0; cut <= metrics.size(); ++cut) {
    SCOPED_TRACE(cut);
    PlateauSchedule first(1.0, 0.01, 2, 0.5);
    double best = 0;
    for (std::size_t i = 0; i < cut; ++i) {
      first.record(metrics[i]);
      best = i == 0 ? metrics[i] : std::min(best, metrics[i]);
    }
    PlateauSchedule resumed(1.0, 0.01, 2, 0.5);
    resumed.restore(first.lr(), first.bad_evals(), cut > 0, best);
    for (std::size_t i = cut; i < metrics.size(); ++i) {
      resumed.record(metrics[i]);
      EXPECT_DOUBLE_EQ(resumed.lr(), lrs[i]) << "evaluation " << i;
    }
  }
}

}  // namespace
}  // namespace qretrain::train
