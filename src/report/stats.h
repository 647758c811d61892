// Small-sample statistics for paired comparisons, trends and claims: means
// with Student-t 95% intervals, and an ordinary least-squares slope with its
// interval. Written out here (a dozen lines each) rather than pulled from a
// library: the report needs nothing else, and the tests check every value by
// hand.
#pragma once

#include <vector>

namespace qretrain::report::stats {

// Two-sided 95% critical value of Student's t with `dof` degrees of freedom
// (NaN below 1).
double t_critical_95(int dof);

struct MeanInterval {
  int n = 0;
  double mean = 0;
  double stdev = 0;                 // sample standard deviation (0 for one value)
  double low = 0, high = 0;         // 95% Student-t interval of the mean; NaN for fewer than 2 values
  bool has_interval() const { return n > 1; }
};
MeanInterval mean_interval(const std::vector<double>& values);

struct Slope {
  int n = 0;
  double slope = 0, intercept = 0;
  double low = 0, high = 0;  // 95% interval of the slope (n - 2 degrees of freedom); NaN for fewer than 3 points
  bool has_interval() const { return n > 2; }
};
// y = intercept + slope * x by least squares; needs two distinct x values
// (slope NaN otherwise).
Slope fit_slope(const std::vector<double>& x, const std::vector<double>& y);

}  // namespace qretrain::report::stats
