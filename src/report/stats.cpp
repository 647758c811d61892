#include "report/stats.h"

#include <cmath>

namespace qretrain::report::stats {

double t_critical_95(int dof) {
  static const double table[] = {12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
                                 2.201,  2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
                                 2.080,  2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042};
  if (dof < 1) return std::nan("");
  return dof <= 30 ? table[dof - 1] : 1.96 + 2.4 / dof;  // within 0.002 of the true value above 30
}

MeanInterval mean_interval(const std::vector<double>& v) {
  MeanInterval m;
  m.n = static_cast<int>(v.size());
  double sum = 0;
  for (double x : v) sum += x;
  m.mean = v.empty() ? 0 : sum / static_cast<double>(v.size());
  double ss = 0;
  for (double x : v) ss += (x - m.mean) * (x - m.mean);
  m.stdev = v.size() > 1 ? std::sqrt(ss / static_cast<double>(v.size() - 1)) : 0;
  const double half = m.n > 1 ? t_critical_95(m.n - 1) * m.stdev / std::sqrt(static_cast<double>(m.n)) : NAN;
  m.low = m.mean - half;
  m.high = m.mean + half;
  return m;
}

Slope fit_slope(const std::vector<double>& x, const std::vector<double>& y) {
  Slope s;
  s.n = static_cast<int>(x.size());
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mx += x[i], my += y[i];
  mx /= static_cast<double>(s.n);
  my /= static_cast<double>(s.n);
  double sxx = 0, sxy = 0;
  for (std::size_t i = 0; i < x.size(); ++i) sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
  s.slope = sxx > 0 ? sxy / sxx : NAN;
  s.intercept = my - s.slope * mx;
  double half = NAN;
  if (s.n > 2 && sxx > 0) {
    double rss = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
      const double r = y[i] - s.intercept - s.slope * x[i];
      rss += r * r;
    }
    half = t_critical_95(s.n - 2) * std::sqrt(rss / (s.n - 2) / sxx);
  }
  s.low = s.slope - half;
  s.high = s.slope + half;
  return s;
}

}  // namespace qretrain::report::stats
