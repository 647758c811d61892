#include "report/compare.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>

#include "report/stats.h"

namespace qretrain::report {

Comparison compare_methods(const std::vector<RunRecord>& runs, const std::string& a, const std::string& b) {
  Comparison c;
  c.a = a;
  c.b = b;
  // (network order, bits) -> seed -> value of each method
  std::vector<std::string> networks;
  std::map<std::pair<std::size_t, int>, std::map<int, std::pair<double, double>>> cells;
  std::map<std::pair<std::size_t, int>, std::map<int, int>> seen;  // bit 1: a, bit 2: b
  for (const auto& r : runs) {
    if (r.method != a && r.method != b) continue;
    if (r.status != "ok" || !std::isfinite(r.test_metric)) continue;
    auto it = std::find(networks.begin(), networks.end(), r.network);
    if (it == networks.end()) it = networks.insert(networks.end(), r.network);
    const auto key = std::make_pair(static_cast<std::size_t>(it - networks.begin()), r.bits);
    auto& pair = cells[key][r.seed];
    (r.method == a ? pair.first : pair.second) = r.test_metric;
    seen[key][r.seed] |= r.method == a ? 1 : 2;
  }
  std::vector<double> all;
  for (const auto& [key, by_seed] : cells) {
    PairedCell cell;
    cell.network = networks[key.first];
    cell.bits = key.second;
    std::vector<double> diffs;
    for (const auto& [seed, values] : by_seed) {
      if (seen[key][seed] != 3) continue;
      const double d = values.second - values.first;
      diffs.push_back(d);
      (d > 0 ? cell.a_wins : d < 0 ? cell.b_wins : cell.ties) += 1;
    }
    if (diffs.empty()) continue;
    cell.pairs = static_cast<int>(diffs.size());
    const stats::MeanInterval m = stats::mean_interval(diffs);
    cell.mean_diff = m.mean;
    cell.stdev_diff = m.stdev;
    all.insert(all.end(), diffs.begin(), diffs.end());
    c.a_wins += cell.a_wins;
    c.b_wins += cell.b_wins;
    c.ties += cell.ties;
    c.cells.push_back(cell);
  }
  c.pairs = static_cast<int>(all.size());
  const stats::MeanInterval overall = stats::mean_interval(all);
  c.mean_diff = overall.mean;
  c.ci_low = overall.low;
  c.ci_high = overall.high;
  const int decided = c.a_wins + c.b_wins;
  if (decided > 0) {
    const double n = decided, p = c.a_wins / n, z = 1.96, z2 = z * z;
    const double centre = (p + z2 / (2 * n)) / (1 + z2 / n);
    const double spread = z * std::sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n);
    c.win_rate = p;
    c.win_low = centre - spread;
    c.win_high = centre + spread;
  }
  return c;
}

std::string render_comparison(const Comparison& c, const std::string& metric) {
  const bool bpc = metric == "bits per character";
  const int digits = bpc ? 3 : 2;
  std::string out = fmt::format(
      "{} vs {}, paired by seed: difference = {} - {} in test {} (positive: {} is better).\n\n"
      "| network | bits | pairs | mean difference | std | {} wins | {} wins | ties |\n"
      "|---|---:|---:|---:|---:|---:|---:|---:|\n",
      c.a, c.b, c.b, c.a, bpc ? "bits per character" : "error (%)", c.a, c.a, c.b);
  for (const auto& cell : c.cells)
    out += fmt::format("| {} | {} | {} | {:+.{}f} | {:.{}f} | {} | {} | {} |\n", cell.network, cell.bits, cell.pairs,
                       cell.mean_diff, digits, cell.stdev_diff, digits, cell.a_wins, cell.b_wins, cell.ties);
  if (c.pairs == 0) return out + "\nNo seed has a successful run of both methods.\n";
  out += fmt::format("\nOverall: {} pairs; {} wins {}, {} wins {}, {} ties. Mean difference {:+.{}f}", c.pairs, c.a,
                     c.a_wins, c.b, c.b_wins, c.ties, c.mean_diff, digits);
  if (c.pairs > 1) out += fmt::format(", 95% CI [{:+.{}f}, {:+.{}f}]", c.ci_low, digits, c.ci_high, digits);
  if (c.a_wins + c.b_wins > 0)
    out += fmt::format("; {} wins {:.0f}% of decided pairs (95% Wilson interval {:.0f}–{:.0f}%)", c.a,
                       100 * c.win_rate, 100 * c.win_low, 100 * c.win_high);
  out += ".\n";
  if (c.pairs > 1 && c.ci_low <= 0 && c.ci_high >= 0)
    out += "The interval contains 0: these runs do not show a difference between the methods.\n";
  return out;
}

}  // namespace qretrain::report
