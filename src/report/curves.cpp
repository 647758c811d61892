#include "report/curves.h"

#include <algorithm>
#include <cmath>
#include <map>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "methods/kinds.h"
#include "report/plot.h"
#include "report/table.h"
#include "util/registry.h"

namespace qretrain::report {
namespace {

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

int method_rank(const std::string& m) {
  const auto& order = method_order();
  return static_cast<int>(std::find(order.begin(), order.end(), m) - order.begin());
}

// One colour per method (its row's), the same in every panel and figure.
const char* method_colour(const std::string& m) {
  if (const methods::MethodKind* kind = find_row(methods::method_kinds(), m)) return kind->colour.c_str();
  return "#9467bd";
}

bool is_bpc(const CurveFigure& f) { return f.metric == "bits per character"; }

// gnuplot double-quoted string: backslash escapes, so a newline can break a title.
std::string dquoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '\n') out += "\\n";
    else if (c == '"' || c == '\\') out += std::string("\\") + c;
    else out += c;
  }
  return out + "\"";
}

std::string value_or_missing(double v) { return std::isfinite(v) ? fmt::format("{:.9g}", v) : "?"; }

std::string panel_title(const CurvePanel& p) {
  return p.bits == 0 ? "float training" : fmt::format("{}-bit ({} points) retraining", p.bits, (1 << p.bits) - 1);
}

std::string line_title(const CurveLine& l, bool several_seeds) {
  return several_seeds ? fmt::format("{} (seed {})", l.method, l.seed) : l.method;
}

// A panel's dev-metric range ignores the evaluation before any (re)training
// (an untrained or freshly quantized network) when it lies far off the rest,
// so the differences between methods stay visible; the title says so.
struct Range {
  double lo = 0, hi = 0;
  double off_scale = NAN;  // largest value left above the range
};

Range dev_range(const CurvePanel& p, const CurveFigure& f) {
  double lo = INFINITY, hi = -INFINITY, first_max = -INFINITY;
  for (const auto& l : p.lines)
    for (const auto& pt : l.points) {
      if (!std::isfinite(pt.dev_metric)) continue;
      lo = std::min(lo, pt.dev_metric);
      if (pt.epoch == 0) first_max = std::max(first_max, pt.dev_metric);
      else hi = std::max(hi, pt.dev_metric);
    }
  if (f.has_float_reference && p.bits > 0) {
    lo = std::min(lo, f.float_reference);
    hi = std::max(hi, f.float_reference);
  }
  Range r;
  if (!std::isfinite(lo)) return r;
  if (!std::isfinite(hi)) hi = first_max;
  const double span = std::max(hi - lo, 1e-9);
  if (first_max > hi + span) r.off_scale = first_max;  // would squash the rest
  else hi = std::max(hi, first_max);
  const double margin = 0.08 * std::max(hi - lo, 1e-6);
  r.lo = lo - margin;
  r.hi = hi + margin;
  return r;
}

}  // namespace

std::vector<CurveFigure> curve_figures(const Store& store, const std::vector<RunRecord>& runs,
                                       const std::string& experiment, const std::string& metric) {
  std::vector<std::string> networks;
  std::map<std::string, CurveFigure> by_network;
  std::map<std::string, std::vector<double>> float_best;
  for (const auto& run : runs) {
    if (run.status != "ok") continue;
    // A float baseline reused from the cache has no curve of its own here but
    // still gives the reference line.
    if (methods::is_baseline(run.method)) float_best[run.network].push_back(run.dev_metric);
    auto full = store.run_with_curve(run.cell_key);
    if (!full || full->curve.empty()) continue;
    add_unique(networks, run.network);
    CurveFigure& f = by_network[run.network];
    f.experiment = experiment;
    f.network = run.network;
    f.metric = metric;
    add_unique(f.datasets, run.dataset);
    add_unique(f.commits, run.commit);
    add_unique(f.machines, run.machine);
    auto panel = std::find_if(f.panels.begin(), f.panels.end(), [&](const CurvePanel& p) { return p.bits == run.bits; });
    if (panel == f.panels.end()) {
      f.panels.push_back(CurvePanel{run.bits, {}});
      panel = f.panels.end() - 1;
    }
    panel->lines.push_back(CurveLine{run.method, run.seed, full->curve});
    ++f.runs;
  }
  std::vector<CurveFigure> out;
  for (const auto& network : networks) {
    CurveFigure f = std::move(by_network[network]);
    std::sort(f.panels.begin(), f.panels.end(), [](const CurvePanel& a, const CurvePanel& b) { return a.bits < b.bits; });
    for (auto& p : f.panels)
      std::stable_sort(p.lines.begin(), p.lines.end(), [](const CurveLine& a, const CurveLine& b) {
        return std::make_pair(method_rank(a.method), a.seed) < std::make_pair(method_rank(b.method), b.seed);
      });
    const auto& best = float_best[network];
    if (!best.empty()) {
      f.has_float_reference = true;
      double sum = 0;
      for (double v : best) sum += v;
      f.float_reference = sum / static_cast<double>(best.size());
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::string curve_figure_data(const CurveFigure& figure) {
  std::string out;
  for (const auto& p : figure.panels)
    for (const auto& l : p.lines) {
      out += fmt::format("# {}-bit {} seed {}: epoch dev_metric train_loss\n", p.bits, l.method, l.seed);
      for (const auto& pt : l.points)
        out += fmt::format("{} {} {}\n", pt.epoch, value_or_missing(pt.dev_metric), value_or_missing(pt.train_loss));
      out += "\n\n";  // gnuplot: two blank lines end a data set (index)
    }
  return out;
}

void plot_curve_figure(const CurveFigure& figure, const std::string& output_base) {
  const int columns = static_cast<int>(std::max<std::size_t>(1, figure.panels.size()));
  std::vector<int> seeds;
  for (const auto& p : figure.panels)
    for (const auto& l : p.lines)
      if (std::find(seeds.begin(), seeds.end(), l.seed) == seeds.end()) seeds.push_back(l.seed);
  const bool several_seeds = seeds.size() > 1;
  const std::string title = fmt::format(
      "{} · network {} · data: {}\ncommit {} · machine {}", figure.experiment, figure.network,
      fmt::join(figure.datasets, ", "), fmt::join(figure.commits, ", "), fmt::join(figure.machines, "; "));
  const std::string dev_label = is_bpc(figure) ? "dev bits per character" : "dev error (%)";

  auto script = [&](const std::string& data) {
    std::string s = "set encoding utf8\nset datafile missing '?'\nset grid\n";
    s += fmt::format("set multiplot layout 2,{} title {} font ',11'\n", columns, dquoted(title));
    // Row 1: dev metric; row 2: training loss (multiplot fills rows first).
    for (int row = 0; row < 2; ++row) {
      int block = 0;
      for (const auto& p : figure.panels) {
        const bool first_column = &p == &figure.panels.front();
        std::string panel = panel_title(p);
        s += "set autoscale y\n";
        if (row == 0) {
          const Range r = dev_range(p, figure);
          if (r.hi > r.lo) s += fmt::format("set yrange [{:.9g}:{:.9g}]\n", r.lo, r.hi);
          if (std::isfinite(r.off_scale)) panel += fmt::format("\n(epoch 0 off scale, up to {:.2f})", r.off_scale);
        }
        int max_epoch = 0;
        for (const auto& l : p.lines)
          for (const auto& pt : l.points) max_epoch = std::max(max_epoch, pt.epoch);
        s += max_epoch <= 12 ? "set xtics 1\n" : "set xtics autofreq\n";
        s += fmt::format("set xrange [0:{}]\n", std::max(max_epoch, 1));
        // The legend once per column, in the training-loss panel: its curves
        // fall from the top left to the bottom right, so the bottom left is free.
        s += row == 1 ? "set key bottom left Left reverse font ',8' samplen 2\n" : "unset key\n";
        s += fmt::format("set title {} font ',10'\n", dquoted(panel));
        s += fmt::format("set xlabel '{}'\n", p.bits == 0 ? "training epoch" : "retraining epoch");
        s += fmt::format("set ylabel {}\n", first_column ? gnuplot_quoted(row == 0 ? dev_label : "training loss") : "''");
        std::vector<std::string> plots;
        for (const auto& l : p.lines) {
          plots.push_back(fmt::format("{} index {} using 1:{} with linespoints pt 7 ps 0.5 lw 1.5 lc rgb '{}' title {}",
                                      gnuplot_quoted(data), block, row == 0 ? 2 : 3, method_colour(l.method),
                                      gnuplot_quoted(line_title(l, several_seeds))));
          ++block;
        }
        if (row == 0 && p.bits > 0 && figure.has_float_reference)
          plots.push_back(fmt::format("{:.9g} with lines dt 2 lw 1 lc rgb '#000000' notitle", figure.float_reference));
        if (row == 1 && p.bits > 0 && figure.has_float_reference)
          plots.push_back("NaN with lines dt 2 lw 1 lc rgb '#000000' title 'float best dev (top)'");
        s += fmt::format("plot {}\n", fmt::join(plots, ", "));
      }
    }
    return s + "unset multiplot\n";
  };
  render_gnuplot_figure(output_base, 40 + 250 * columns, 500, curve_figure_data(figure), script, "noenhanced");
}

}  // namespace qretrain::report
