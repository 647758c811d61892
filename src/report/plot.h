// Fig. 2 of the paper: the step size Δ of each weight group over the
// evaluations of quantized retraining, one panel per bit width, drawn by
// gnuplot from the results store (PNG and SVG), with the plotted numbers
// beside them as CSV.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "report/store.h"

namespace qretrain::report {

struct DeltaCurve {
  int bits = 0;
  int seed = 0;
  std::vector<std::string> groups;            // weight group names (layers)
  std::vector<int> epochs;                    // epoch of each evaluation (as stored)
  std::vector<std::int64_t> updates;          // updates made before each evaluation
  std::vector<std::vector<double>> deltas;    // [evaluation][group]
};

// The Δ curves of `method` runs on `network` (seed `seed`, 0 = every seed)
// among `runs` (one configuration's, from Store::select), one per bit width
// and seed, by bit width then seed; curves are read from `store`. Throws UserError saying what is missing when nothing
// matches.
std::vector<DeltaCurve> delta_curves(const Store& store, const std::vector<RunRecord>& runs,
                                     const std::string& experiment, const std::string& network,
                                     const std::string& method, int seed);

// Tidy CSV: bits,epoch,group,delta,seed,update.
std::string render_delta_csv(const std::vector<DeltaCurve>& curves);

// Writes <output_base>.png, .svg and .csv (each whole or not at all) with
// gnuplot: one panel per bit width, one colour per weight group, one thin line
// per seed. `title` heads the figure. Throws UserError when gnuplot is missing
// or fails.
void plot_delta_curves(const std::vector<DeltaCurve>& curves, const std::string& title,
                       const std::string& output_base);

// Throws UserError("... gnuplot not found ...") unless gnuplot runs.
void require_gnuplot();

// gnuplot's quoting of a string (single quotes, a quote inside doubled).
std::string gnuplot_quoted(const std::string& s);

// Writes <output_base>.png and .svg (each whole or not at all): `data` goes to
// a temporary file, and `script(data_path, terminal)` returns the gnuplot
// commands after `set terminal` / `set output`; `terminal_options` is appended
// to both terminals (e.g. "noenhanced"). Throws UserError when gnuplot is
// missing or fails.
void render_gnuplot_figure(const std::string& output_base, int width, int height, const std::string& data,
                           const std::function<std::string(const std::string& data_path)>& script,
                           const std::string& terminal_options = "");

}  // namespace qretrain::report
