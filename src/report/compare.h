// `qretrain table --compare A,B`: method A against method B, paired by seed in
// every (network, bit width) cell, so a reader can tell a real improvement
// from seed noise (the paper reports single runs). Lower is better (error %
// or bits per character); a difference is B - A, positive when A wins.
#pragma once

#include <string>
#include <vector>

#include "report/store.h"

namespace qretrain::report {

struct PairedCell {
  std::string network;
  int bits = 0;
  int pairs = 0;           // seeds with a successful run of both methods
  double mean_diff = 0;    // mean of B - A over those seeds
  double stdev_diff = 0;   // sample standard deviation (0 for one pair)
  int a_wins = 0, b_wins = 0, ties = 0;
};

struct Comparison {
  std::string a, b;
  std::vector<PairedCell> cells;  // in network-appearance then bit-width order
  int pairs = 0, a_wins = 0, b_wins = 0, ties = 0;
  double mean_diff = 0;           // over all pairs
  double ci_low = 0, ci_high = 0; // 95% Student-t interval of that mean (needs 2+ pairs)
  double win_rate = 0;            // A's wins among untied pairs
  double win_low = 0, win_high = 0;  // 95% Wilson interval of the win rate
};

Comparison compare_methods(const std::vector<RunRecord>& runs, const std::string& a, const std::string& b);
std::string render_comparison(const Comparison& c, const std::string& metric);

}  // namespace qretrain::report
