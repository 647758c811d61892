// Training curves of stored runs, grouped so a report stays readable: one
// figure per (experiment, network); the top row shows the dev metric at every
// evaluation, the bottom row the mean training loss since the previous one;
// the first column is the float baseline's training, then one column per bit
// width with one line per retraining method (and seed), the float baseline's
// best dev value dashed for reference. Drawn by gnuplot (PNG and SVG).
#pragma once

#include <string>
#include <vector>

#include "report/store.h"

namespace qretrain::report {

struct CurveLine {
  std::string method;
  int seed = 0;
  std::vector<train::EvalPoint> points;
};

struct CurvePanel {
  int bits = 0;  // 0: the float baseline's training
  std::vector<CurveLine> lines;
};

struct CurveFigure {
  std::string experiment;
  std::string network;
  std::string metric = "error rate";  // data::Dataset::metric
  std::vector<std::string> datasets, commits, machines;
  bool has_float_reference = false;
  double float_reference = 0;         // mean best dev value of the float runs
  std::vector<CurvePanel> panels;     // float (if any) first, then bit widths ascending
  int runs = 0;                       // curves drawn
};

// One figure per network among `runs` (one configuration's runs of
// `experiment`, from Store::select; in the order networks first appear) that
// has at least one successful run with a stored curve, read from `store`.
// Runs without a curve (direct quantization) and failed runs are left out.
std::vector<CurveFigure> curve_figures(const Store& store, const std::vector<RunRecord>& runs,
                                       const std::string& experiment, const std::string& metric);

// The figure's data as gnuplot data blocks (one per line, "?" = missing).
std::string curve_figure_data(const CurveFigure& figure);

// Writes <output_base>.png and .svg. Throws UserError when gnuplot is missing
// or fails.
void plot_curve_figure(const CurveFigure& figure, const std::string& output_base);

}  // namespace qretrain::report
