// Paper-shaped tables from stored runs: a "Floating result" row, then per bit
// width one row per method, one column per network; the best method of each
// (bit width, network) marked. Formats stored values only.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "report/paper.h"
#include "report/store.h"

namespace qretrain::report {

struct TableCell {
  int n = 0;          // successful runs (seeds)
  int failed = 0;     // failed runs
  double mean = 0;
  double stdev = 0;   // sample standard deviation over seeds (0 for one seed)
  bool best = false;  // lowest mean among the methods of its bit width
};

struct TableRow {
  int bits = 0;            // 0 = float
  std::string method;      // "float" for the first row
  std::vector<TableCell> cells; // one per column
};

struct Table {
  std::string experiment;
  std::vector<std::string> datasets;
  std::vector<std::string> columns;  // network labels
  std::vector<TableRow> rows;
  std::vector<std::string> commits, machines;
  std::string first_started, last_finished;  // ISO times over all runs
  double total_wall_s = 0;                   // summed wall time of the runs
  // Wall time during which at least one of the runs was going (the union of
  // their start-to-finish intervals): a grid's wall time even when it ran in
  // several sweeps on several days. 0 when the stored times do not parse.
  double busy_wall_s = 0;
  std::string command;                       // how the runs were produced (set by the caller)
  std::string metric = "error rate";         // data::Dataset::metric (set by the caller)
  // How the weights are quantized beyond each row's method and bit width
  // (quant.granularity, quant.layer_bits), "" for the paper's setting: in
  // the caption, so a mixed setting is never read as the plain one.
  std::string weights;
  // Runs of the same experiment left out (another configuration, or an older
  // identity scheme): set by the caller from the store's Selection.
  int other_settings = 0, older_scheme = 0, stale = 0;
  // How many cells the configuration has (set by the caller; 0 = not known):
  // a table with fewer stored runs says it is a partial grid, so a grid that
  // is still running is never read as a finished one.
  int grid_cells = 0;
  // Seeds of the configuration (set by the caller; 0 = not known): a cell with
  // fewer says how many it has.
  int seeds = 0;
  // How the training of the table's successful runs ended: the learning-rate
  // schedule ran out (or a plateau rule fired) or the epoch budget cut it
  // off; `unknown` for runs stored before the reason was kept.
  struct Endings {
    int schedule = 0, cap = 0, unknown = 0;
  } float_endings, retrain_endings;
};

// "schedule", "cap", or "" for a stored stop reason (train::FitResult).
std::string stop_kind(const std::string& stop_reason);
// The footer line about how the runs' training ended ("" when no runs).
std::string endings_note(const Table& t);

// Canonical method order in tables (also the registry's order).
const std::vector<std::string>& method_order();

Table build_table(const std::string& experiment, const std::vector<RunRecord>& runs);
// Puts the columns in `order` (the config's networks, e.g. L, C, V as the
// paper has them) instead of the order their runs were stored in; columns
// not named keep their order after those named.
void order_columns(Table& t, const std::vector<std::string>& order);
// Seconds since the epoch of a stored UTC time ("2026-12-07T02:41:02Z"), or
// nothing when it is not one.
std::optional<double> parse_utc_time(const std::string& iso);
// The total length of the union of [start, end] intervals, in seconds.
double union_length(std::vector<std::pair<double, double>> intervals);
// The table of one configuration's runs, with the left-out counts set.
Table build_table(const std::string& experiment, const Selection& selection);
// The footer line of a partial grid: fewer successful runs than the
// configuration has cells ("" when complete or grid_cells is not set).
std::string partial_grid_note(const Table& t);
// The same in short ("partial grid: 92 of 330 runs"), "" when complete.
std::string partial_grid_label(const Table& t);
// The number of stored runs (successful or failed) the table shows.
int runs_count(const Table& t);
// The number of its successful runs.
int results_count(const Table& t);
// The footer line about the experiment's runs a table leaves out ("" when none).
std::string left_out_note(int other_settings, int older_scheme, int stale = 0);
// With `paper`, each column is followed by the paper's value for that cell.
std::string render_markdown(const Table& t, const PaperTable* paper = nullptr);
// Where the table's runs come from (command, commits, machines, run and wall
// time), whether its grid is partial, how their training ended and what was
// left out: the lines under a Markdown table, also under a --compare.
std::string render_footer(const Table& t);
// The same as a LaTeX table (booktabs rules), for papers.
std::string render_latex(const Table& t, const PaperTable* paper = nullptr);
// Tidy CSV: one line per (bits, method, network) with mean, std, seeds, best
// (and the paper's value when given).
std::string render_csv(const Table& t, const PaperTable* paper = nullptr);

}  // namespace qretrain::report
