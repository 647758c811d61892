#include "report/claims.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "methods/kinds.h"
#include "report/compare.h"
#include "report/stats.h"

namespace qretrain::report {
namespace {

constexpr const char* kHolds = "holds";
constexpr const char* kFails = "fails";
constexpr const char* kInconclusive = "inconclusive";
constexpr const char* kNoData = "no data";

// The quantized methods that retrain (C2's "best quantized").
const std::vector<std::string> kRetrained = [] {
  std::vector<std::string> out;
  for (const auto& m : methods::method_kinds())
    if (m.trains && (m.cells == methods::CellShape::PerBitWidth || m.is_chain())) out.push_back(m.name);
  return out;
}();

bool is_bpc(const ClaimTable& t) { return t.metric == "bits per character"; }
int digits(const ClaimTable& t) { return is_bpc(t) ? 3 : 2; }
std::string unit(const ClaimTable& t) { return is_bpc(t) ? " bpc" : " points"; }

// (network, bits, seed) -> test metric of the successful runs of `method`.
using CellSeed = std::tuple<std::string, int, int>;
std::map<CellSeed, double> values_of(const std::vector<RunRecord>& runs, const std::string& method) {
  std::map<CellSeed, double> out;
  for (const auto& r : runs)
    if (r.method == method && r.status == "ok" && std::isfinite(r.test_metric))
      out[{r.network, r.bits, r.seed}] = r.test_metric;
  return out;
}

// Networks in order of first appearance.
std::vector<std::string> networks_of(const std::vector<RunRecord>& runs) {
  std::vector<std::string> out;
  for (const auto& r : runs)
    if (std::find(out.begin(), out.end(), r.network) == out.end()) out.push_back(r.network);
  return out;
}

// The verdict on "the quantity lies above `threshold`" from its interval.
std::string verdict_above(double low, double high, int n, double threshold) {
  if (n == 0) return kNoData;
  if (n < 2) return kInconclusive;
  if (low > threshold) return kHolds;
  if (high < threshold) return kFails;
  return kInconclusive;
}
std::string verdict_above(const stats::MeanInterval& m, double threshold) {
  return verdict_above(m.low, m.high, m.n, threshold);
}

std::string combine(const std::vector<std::string>& verdicts) {
  int holds = 0, fails = 0, other = 0;
  for (const auto& v : verdicts) {
    if (v == kHolds) ++holds;
    else if (v == kFails) ++fails;
    else if (v == kInconclusive) ++other;
  }
  if (holds + fails + other == 0) return kNoData;
  if (fails == 0 && other == 0) return kHolds;
  if (fails > 0 && holds == 0) return kFails;
  return kInconclusive;
}

std::string interval_text(const stats::MeanInterval& m, int places, const std::string& suffix = "") {
  if (m.n == 0) return "no pairs";
  if (!m.has_interval()) return fmt::format("{:+.{}f}{} from one pair (no interval)", m.mean, places, suffix);
  return fmt::format("{:+.{}f}{} [95% CI {:+.{}f}, {:+.{}f}] over {} pairs", m.mean, places, suffix, m.low, places,
                     m.high, places, m.n);
}
std::string percent_text(const stats::MeanInterval& m) {
  stats::MeanInterval p = m;
  p.mean *= 100, p.low *= 100, p.high *= 100;
  return interval_text(p, 1, "%");
}

ClaimVerdict c1_direct(const ClaimInput& in) {
  ClaimVerdict c{"C1", "Direct 2-bit quantization (no retraining) is catastrophic: (direct 2-bit − float) / float, "
                       "paired by network and seed, is above 50%.",
                 kNoData, {}};
  std::vector<std::string> verdicts;
  for (const auto& t : in.tables) {
    const auto direct = values_of(t.runs, "direct"), base = values_of(t.runs, methods::baseline_method());
    std::vector<double> rel, abs;
    for (const auto& [key, v] : direct) {
      if (std::get<1>(key) != 2) continue;
      auto f = base.find({std::get<0>(key), 0, std::get<2>(key)});
      if (f == base.end() || f->second <= 0) continue;
      rel.push_back((v - f->second) / f->second);
      abs.push_back(v - f->second);
    }
    if (rel.empty()) continue;
    const auto m = stats::mean_interval(rel);
    verdicts.push_back(verdict_above(m, 0.5));
    c.evidence.push_back(fmt::format("{}: {} — relative {}; absolute {}", t.source, verdicts.back(), percent_text(m),
                                     interval_text(stats::mean_interval(abs), digits(t), unit(t))));
  }
  c.verdict = combine(verdicts);
  return c;
}

ClaimVerdict c2_recovery(const ClaimInput& in) {
  ClaimVerdict c{"C2", "Retraining recovers to within a few points: at 2 bits, (best retrained − float) / float is "
                       "below 10%, paired by network and seed; best = the retrained method with the lowest mean in "
                       "the network's 2-bit cell. Shown beside: the same against the control row (float trained on "
                       "for the retraining budget).",
                 kNoData, {}};
  std::vector<std::string> verdicts;
  for (const auto& t : in.tables) {
    const auto base = values_of(t.runs, methods::baseline_method()), control = values_of(t.runs, "control");
    std::vector<double> rel, abs, rel_control;
    std::vector<std::string> picked;
    for (const auto& net : networks_of(t.runs)) {
      std::string best;
      std::map<int, double> best_by_seed;
      double best_mean = INFINITY;
      for (const auto& m : kRetrained) {
        std::map<int, double> by_seed;
        for (const auto& [key, v] : values_of(t.runs, m))
          if (std::get<0>(key) == net && std::get<1>(key) == 2) by_seed[std::get<2>(key)] = v;
        if (by_seed.empty()) continue;
        double sum = 0;
        for (const auto& [seed, v] : by_seed) sum += v;
        const double mean = sum / static_cast<double>(by_seed.size());
        if (mean < best_mean) best_mean = mean, best = m, best_by_seed = by_seed;
      }
      if (best.empty()) continue;
      picked.push_back(fmt::format("{} {}", net, best));
      for (const auto& [seed, v] : best_by_seed) {
        auto f = base.find({net, 0, seed});
        if (f != base.end() && f->second > 0) {
          rel.push_back((v - f->second) / f->second);
          abs.push_back(v - f->second);
        }
        auto k = control.find({net, 0, seed});
        if (k != control.end() && k->second > 0) rel_control.push_back((v - k->second) / k->second);
      }
    }
    if (rel.empty()) continue;
    // "Within": the whole interval below 10% holds; the whole of it above fails.
    const auto m = stats::mean_interval(rel);
    const std::string v = m.n < 2 ? kInconclusive : m.high < 0.10 ? kHolds : m.low > 0.10 ? kFails : kInconclusive;
    verdicts.push_back(v);
    std::string line = fmt::format("{}: {} — relative {}; absolute {}", t.source, v, percent_text(m),
                                   interval_text(stats::mean_interval(abs), digits(t), unit(t)));
    if (!rel_control.empty())
      line += fmt::format("; against the control row {}", percent_text(stats::mean_interval(rel_control)));
    else
      line += "; no control row";
    line += fmt::format(" (best per network: {})", fmt::join(picked, ", "));
    c.evidence.push_back(line);
  }
  c.verdict = combine(verdicts);
  return c;
}

// "a is better than b" (lower metric): b - a above 0, paired by seed.
std::string paired_better(const ClaimTable& t, const std::vector<RunRecord>& runs, const std::string& a,
                          const std::string& b, std::vector<std::string>& evidence, const std::string& what) {
  const Comparison cmp = compare_methods(runs, a, b);
  if (cmp.pairs == 0) return kNoData;
  const std::string v = verdict_above(cmp.ci_low, cmp.ci_high, cmp.pairs, 0.0);
  stats::MeanInterval m;
  m.n = cmp.pairs, m.mean = cmp.mean_diff, m.low = cmp.ci_low, m.high = cmp.ci_high;
  evidence.push_back(fmt::format("{}{}: {} — {} − {} = {}; {} better in {} pairs, {} in {}, {} ties", t.source, what,
                                 v, b, a, interval_text(m, digits(t), unit(t)), a, cmp.a_wins, b, cmp.b_wins,
                                 cmp.ties));
  return v;
}

ClaimVerdict c3_adaptive(const ClaimInput& in) {
  ClaimVerdict c{"C3", "Adaptive step sizes retrain at least as well as conventional (Δ frozen): conventional − "
                       "adaptive, paired over every network × bits × seed of a table, is above 0 (the paper: adaptive "
                       "better in 44 of its 51 cells).",
                 kNoData, {}};
  std::vector<std::string> verdicts;
  for (const auto& t : in.tables) {
    const std::string v = paired_better(t, t.runs, "adaptive", "conventional", c.evidence, "");
    if (v != kNoData) verdicts.push_back(v);
  }
  c.verdict = combine(verdicts);
  return c;
}

// The hidden width of an FFDNN label "WxW", "WxW+bn" or "WxW BN" (0 when not one).
int hidden_width(const std::string& label) {
  std::size_t i = 0;
  auto number = [&] {
    const std::size_t start = i;
    while (i < label.size() && std::isdigit(static_cast<unsigned char>(label[i]))) ++i;
    return i > start && i - start < 7 ? std::stoi(label.substr(start, i - start)) : 0;
  };
  const int w = number();
  if (w == 0 || i >= label.size() || label[i] != 'x') return 0;
  ++i;
  return number() == w ? w : 0;
}
bool has_batch_norm(const std::string& label) {
  std::string l = label;
  std::transform(l.begin(), l.end(), l.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
  return l.find("bn") != std::string::npos;
}

ClaimVerdict c4_size(const ClaimInput& in) {
  ClaimVerdict c{"C4", "The float–quantized gap shrinks as the network grows: the slope of the 2-bit adaptive gap "
                       "(adaptive − float, per network and seed) against log2 of the hidden width is below 0, fitted "
                       "apart for FFDNNs with and without batch normalisation (Table 1's WxW networks).",
                 kNoData, {}};
  std::vector<std::string> verdicts;
  for (const auto& t : in.tables) {
    if (t.number != 1) continue;  // the paper's network-size table
    const auto adaptive = values_of(t.runs, "adaptive"), base = values_of(t.runs, methods::baseline_method());
    for (const bool bn : {false, true}) {
      std::vector<double> x, y;
      std::set<int> widths;
      for (const auto& [key, v] : adaptive) {
        const int w = hidden_width(std::get<0>(key));
        if (std::get<1>(key) != 2 || w <= 0 || has_batch_norm(std::get<0>(key)) != bn) continue;
        auto f = base.find({std::get<0>(key), 0, std::get<2>(key)});
        if (f == base.end()) continue;
        x.push_back(std::log2(static_cast<double>(w)));
        y.push_back(v - f->second);
        widths.insert(w);
      }
      if (widths.size() < 2) continue;
      const stats::Slope s = stats::fit_slope(x, y);
      const std::string v = !s.has_interval() ? kInconclusive : s.high < 0 ? kHolds : s.low > 0 ? kFails : kInconclusive;
      verdicts.push_back(v);
      const int p = digits(t);
      c.evidence.push_back(fmt::format(
          "{}, FFDNNs {} batch norm (widths {}): {} — slope {:+.{}f}{} per doubling of the width{} from {} points",
          t.source, bn ? "with" : "without", fmt::join(widths, ", "), v, s.slope, p, unit(t),
          s.has_interval() ? fmt::format(" [95% CI {:+.{}f}, {:+.{}f}]", s.low, p, s.high, p) : " (no interval)",
          s.n));
    }
  }
  c.verdict = combine(verdicts);
  return c;
}

ClaimVerdict c5_step_sizes(const ClaimInput& in) {
  ClaimVerdict c{"C5", "During adaptive retraining the last layer's step size moves most and the first layer's least: "
                       "per run, the relative change |Δ(last evaluation) − Δ(first)| / Δ(first) of each weight group; "
                       "(last group − the largest other) and (the smallest other − first group) both above 0.",
                 kNoData, {}};
  std::vector<double> last_margin, first_margin;
  std::vector<std::vector<double>> changes;  // per run, per group
  std::vector<std::string> names;
  for (const auto& r : in.step_size_runs) {
    if (r.method != "adaptive" || r.status != "ok" || r.curve.size() < 2) continue;
    const auto& a = r.curve.front().deltas;
    const auto& b = r.curve.back().deltas;
    if (a.size() < 2 || a.size() != b.size()) continue;
    std::vector<double> rel;
    for (std::size_t g = 0; g < a.size(); ++g) rel.push_back(a[g] > 0 ? std::fabs(b[g] - a[g]) / a[g] : NAN);
    if (std::any_of(rel.begin(), rel.end(), [](double v) { return !std::isfinite(v); })) continue;
    const std::size_t n = rel.size();
    const double largest_other = *std::max_element(rel.begin(), rel.end() - 1);
    const double smallest_other = *std::min_element(rel.begin() + 1, rel.end());
    last_margin.push_back(rel[n - 1] - largest_other);
    first_margin.push_back(smallest_other - rel[0]);
    changes.push_back(rel);
    if (names.empty()) names = r.group_names;
  }
  if (changes.empty()) return c;
  const auto last = stats::mean_interval(last_margin), first = stats::mean_interval(first_margin);
  const std::string v_last = verdict_above(last, 0.0), v_first = verdict_above(first, 0.0);
  c.verdict = v_last == kHolds && v_first == kHolds ? kHolds
              : (v_last == kFails || v_first == kFails) ? kFails
                                                        : kInconclusive;
  // Mean relative change of each group over the runs with that many groups.
  std::vector<std::string> per_group;
  const std::size_t groups = changes.front().size();
  for (std::size_t g = 0; g < groups; ++g) {
    std::vector<double> v;
    for (const auto& rel : changes)
      if (rel.size() == groups) v.push_back(rel[g]);
    per_group.push_back(fmt::format("{} {:.1f}%", g < names.size() ? names[g] : fmt::format("group {}", g + 1),
                                    100 * stats::mean_interval(v).mean));
  }
  c.evidence.push_back(fmt::format("{}: {} runs; mean relative change per group: {}", in.step_size_source,
                                   changes.size(), fmt::join(per_group, ", ")));
  stats::MeanInterval lp = last, fp = first;
  for (auto* m : {&lp, &fp}) m->mean *= 100, m->low *= 100, m->high *= 100;
  c.evidence.push_back(fmt::format("last layer moves most: {} — last − largest other {}", v_last,
                                   interval_text(lp, 1, " points of %")));
  c.evidence.push_back(fmt::format("first layer moves least: {} — smallest other − first {}", v_first,
                                   interval_text(fp, 1, " points of %")));
  return c;
}

ClaimVerdict c6_gradual(const ClaimInput& in) {
  ClaimVerdict c{"C6", "Lowering the precision gradually helps adaptive retraining at 3 and 4 bits: adaptive − "
                       "adaptive+gradual, paired by seed over those bit widths (Table 2), is above 0.",
                 kNoData, {}};
  std::vector<std::string> verdicts;
  for (const auto& t : in.tables) {
    std::vector<RunRecord> runs;
    for (const auto& r : t.runs)
      if (r.bits == 3 || r.bits == 4) runs.push_back(r);
    const std::string v = paired_better(t, runs, "adaptive+gradual", "adaptive", c.evidence, ", 3 and 4 bits");
    if (v != kNoData) verdicts.push_back(v);
  }
  c.verdict = combine(verdicts);
  return c;
}

}  // namespace

std::vector<ClaimVerdict> evaluate_claims(const ClaimInput& in) {
  return {c1_direct(in), c2_recovery(in), c3_adaptive(in), c4_size(in), c5_step_sizes(in), c6_gradual(in)};
}

std::string render_claims(const std::vector<ClaimVerdict>& claims, int heading) {
  const std::string h(static_cast<std::size_t>(std::clamp(heading, 1, 5)), '#');
  std::string out = fmt::format("{} The paper's claims, tested\n\n", h);
  out += "Computed by `qretrain report` from the same stored runs as the tables above (src/report/claims.h defines "
         "each test). A claim holds when the whole 95% interval of its paired quantity lies on the claimed side of "
         "its threshold, fails when the whole interval lies on the other side, and is inconclusive otherwise; one "
         "seed gives no interval, so it never decides a claim.\n\n";
  out += "| claim | verdict |\n|---|---|\n";
  for (const auto& c : claims) out += fmt::format("| {} {} | **{}** |\n", c.id, c.statement, c.verdict);
  out += "\n";
  for (const auto& c : claims) {
    out += fmt::format("{}# {}: {}\n\n{}\n\n", h, c.id, c.verdict, c.statement);
    if (c.evidence.empty()) out += "- no runs of the methods this claim compares\n";
    for (const auto& e : c.evidence) out += "- " + e + "\n";
    out += "\n";
  }
  return out;
}

}  // namespace qretrain::report
