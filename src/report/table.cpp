#include "report/table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>
#include <type_traits>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "methods/kinds.h"
#include "util/registry.h"

namespace qretrain::report {

const std::vector<std::string>& method_order() {
  static const std::vector<std::string> order = row_names(methods::method_kinds());
  return order;
}

namespace {

// The row's title; a method no row knows (a store from another version) by its name.
std::string method_title(const std::string& m) {
  if (const methods::MethodKind* kind = find_row(methods::method_kinds(), m)) return kind->title;
  return m;
}

void add_unique(std::vector<std::string>& v, const std::string& s) {
  if (std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}

bool is_bpc(const Table& t) { return t.metric == "bits per character"; }

// Error rates to 0.01%, bits per character to 0.001 (methods differ in the
// third decimal at 6 bits).
int decimals(const Table& t) { return is_bpc(t) ? 3 : 2; }

// The seeds a full cell has: the config's seed count where the caller set it,
// else the most any cell of the table has.
int full_seeds(const Table& t) {
  int most = t.seeds;
  for (const auto& row : t.rows)
    for (const auto& c : row.cells) most = std::max(most, c.n);
  return most;
}

// A cell with fewer seeds than a full one says how many it has: a mean over
// one seed must not pass for a mean over three.
std::string format_cell(const TableCell& c, bool markdown, int digits, int full) {
  if (c.n == 0 && c.failed == 0) return "";
  if (c.n == 0) return c.failed > 1 ? fmt::format("failed ({}x)", c.failed) : "failed";
  std::string v = c.n > 1 ? fmt::format("{:.{}f} ± {:.{}f}", c.mean, digits, c.stdev, digits)
                          : fmt::format("{:.{}f}", c.mean, digits);
  if (c.n < full) v += fmt::format(" ({} seed{})", c.n, c.n == 1 ? "" : "s");
  if (c.failed) v += fmt::format(" ({} failed)", c.failed);
  return markdown && c.best ? "**" + v + "**" : v;
}

}  // namespace

int runs_count(const Table& t) {
  int n = 0;
  for (const auto& row : t.rows)
    for (const auto& c : row.cells) n += c.n + c.failed;
  return n;
}

int results_count(const Table& t) {
  int n = 0;
  for (const auto& row : t.rows)
    for (const auto& c : row.cells) n += c.n;
  return n;
}

std::string partial_grid_label(const Table& t) {
  const int results = results_count(t);
  if (t.grid_cells <= 0 || results >= t.grid_cells) return "";
  return fmt::format("partial grid: {} of {} runs", results, t.grid_cells);
}

std::string partial_grid_note(const Table& t) {
  const int results = results_count(t);
  if (t.grid_cells <= 0 || results >= t.grid_cells) return "";
  const int failed = runs_count(t) - results;
  return fmt::format("Partial grid: {} of the configuration's {} runs (network × method × bit width × seed) have a "
                     "result{}; a sweep of the same config continues it{}. A cell with fewer seeds than the config's "
                     "says how many it has, and a method or network without any result is not shown.",
                     results, t.grid_cells, failed > 0 ? fmt::format(", {} failed", failed) : "",
                     failed > 0 ? " (`--retry-failed` runs the failed ones again)" : "");
}

Table build_table(const std::string& experiment, const Selection& selection) {
  Table t = build_table(experiment, selection.runs);
  t.other_settings = selection.other_settings;
  t.older_scheme = selection.older_scheme;
  t.stale = selection.stale;
  return t;
}

std::string stop_kind(const std::string& stop_reason) {
  // The words of train::Trainer::fit's two endings.
  if (stop_reason.find("fell below") != std::string::npos) return "schedule";
  if (stop_reason.find("epoch budget") != std::string::npos) return "cap";
  return "";
}

std::string endings_note(const Table& t) {
  auto part = [](const char* what, const Table::Endings& e) -> std::string {
    if (e.schedule + e.cap + e.unknown == 0) return "";
    std::string s = fmt::format("{} {} ended on the learning-rate schedule, {} on the epoch cap", what, e.schedule,
                                e.cap);
    if (e.unknown) s += fmt::format(", {} not recorded", e.unknown);
    return s;
  };
  std::vector<std::string> parts;
  for (const std::string& p : {part("of the float baselines,", t.float_endings),
                               part("of the retraining runs,", t.retrain_endings)})
    if (!p.empty()) parts.push_back(p);
  // "Training:" leads whichever part comes first (a --compare footer has no float runs).
  return parts.empty() ? "" : fmt::format("Training: {}.", fmt::join(parts, "; "));
}

std::string left_out_note(int other_settings, int older_scheme, int stale) {
  std::vector<std::string> parts;
  if (stale > 0)
    parts.push_back(fmt::format("{} run{} retrained from an earlier float baseline than the one now stored (a sweep "
                                "runs {} again)",
                                stale, stale == 1 ? "" : "s", stale == 1 ? "it" : "them"));
  if (other_settings > 0)
    parts.push_back(fmt::format("{} run{} made with other settings", other_settings, other_settings == 1 ? "" : "s"));
  if (older_scheme > 0)
    parts.push_back(fmt::format("{} run{} stored under an older identity scheme", older_scheme,
                                older_scheme == 1 ? "" : "s"));
  if (parts.empty()) return "";
  return fmt::format("Not shown: {} of this experiment in the store (`qretrain export --all` lists every run).",
                     fmt::join(parts, " and "));
}

void order_columns(Table& t, const std::vector<std::string>& order) {
  std::vector<std::size_t> perm;
  for (const auto& name : order) {
    auto it = std::find(t.columns.begin(), t.columns.end(), name);
    const auto index = static_cast<std::size_t>(it - t.columns.begin());
    if (it != t.columns.end() && std::find(perm.begin(), perm.end(), index) == perm.end()) perm.push_back(index);
  }
  for (std::size_t i = 0; i < t.columns.size(); ++i)
    if (std::find(perm.begin(), perm.end(), i) == perm.end()) perm.push_back(i);
  auto permuted = [&](const auto& v) {
    std::decay_t<decltype(v)> out;
    for (std::size_t i : perm) out.push_back(v[i]);
    return out;
  };
  t.columns = permuted(t.columns);
  for (auto& row : t.rows) row.cells = permuted(row.cells);
}

std::optional<double> parse_utc_time(const std::string& iso) {
  std::tm tm{};
  char zone = 0;
  int consumed = 0;
  if (std::sscanf(iso.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%c%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec, &zone, &consumed) != 7 ||
      zone != 'Z' || static_cast<std::size_t>(consumed) != iso.size())
    return std::nullopt;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<double>(timegm(&tm));
}

double union_length(std::vector<std::pair<double, double>> intervals) {
  std::sort(intervals.begin(), intervals.end());
  double total = 0, start = 0, end = 0;
  bool open = false;
  for (const auto& [a, b] : intervals) {
    if (open && a <= end) {
      end = std::max(end, b);
      continue;
    }
    if (open) total += end - start;
    start = a, end = b, open = true;
  }
  if (open) total += end - start;
  return total;
}

Table build_table(const std::string& experiment, const std::vector<RunRecord>& runs) {
  Table t;
  t.experiment = experiment;
  std::vector<std::pair<double, double>> intervals;
  bool times_parse = true;
  // (bits, method) -> column -> values
  std::map<std::pair<int, int>, std::map<std::string, std::vector<const RunRecord*>>> groups;
  for (const auto& r : runs) {
    auto it = std::find(method_order().begin(), method_order().end(), r.method);
    int method_rank = static_cast<int>(it - method_order().begin());
    groups[{r.bits, method_rank}][r.network].push_back(&r);
    add_unique(t.columns, r.network);
    if (r.status == "ok") add_unique(t.datasets, r.dataset);  // a failure recorded by a sweep names only the kind
    add_unique(t.commits, r.commit);
    add_unique(t.machines, r.machine);
    t.total_wall_s += r.wall_s;
    if (t.first_started.empty() || r.started_at < t.first_started) t.first_started = r.started_at;
    if (r.finished_at > t.last_finished) t.last_finished = r.finished_at;
    // A float baseline reused from the cache carries the wall time of the
    // training that made it, earlier: it adds no wall time to this grid.
    const bool reused = r.note.rfind("reused from the cache", 0) == 0;
    const auto started = parse_utc_time(r.started_at), finished = parse_utc_time(r.finished_at);
    if (!started || !finished || *finished < *started) times_parse = false;
    else if (!reused) intervals.emplace_back(*started, *finished);
    const methods::MethodKind* method = find_row(methods::method_kinds(), r.method);
    if (r.status == "ok" && method && method->trains) {
      Table::Endings& e = method->is_baseline() ? t.float_endings : t.retrain_endings;
      const std::string kind = stop_kind(r.stop_reason);
      ++(kind == "schedule" ? e.schedule : kind == "cap" ? e.cap : e.unknown);
    }
  }
  if (times_parse) t.busy_wall_s = union_length(intervals);
  for (const auto& [key, by_column] : groups) {
    TableRow row;
    row.bits = key.first;
    row.method = key.second < static_cast<int>(method_order().size()) ? method_order()[key.second] : "?";
    for (const auto& col : t.columns) {
      TableCell c;
      auto it = by_column.find(col);
      if (it != by_column.end()) {
        std::vector<double> values;
        for (const auto* r : it->second) {
          if (r->status == "ok" && std::isfinite(r->test_metric)) values.push_back(r->test_metric);
          else ++c.failed;
        }
        c.n = static_cast<int>(values.size());
        if (c.n) {
          double sum = 0;
          for (double v : values) sum += v;
          c.mean = sum / c.n;
          double ss = 0;
          for (double v : values) ss += (v - c.mean) * (v - c.mean);
          c.stdev = c.n > 1 ? std::sqrt(ss / (c.n - 1)) : 0.0;
        }
      }
      row.cells.push_back(c);
    }
    t.rows.push_back(row);
  }
  // Mark the best method per (bit width, column); float competes with nothing.
  for (std::size_t col = 0; col < t.columns.size(); ++col) {
    std::map<int, double> best;
    for (const auto& row : t.rows)
      if (row.bits > 0 && row.cells[col].n)
        best[row.bits] = best.count(row.bits) ? std::min(best[row.bits], row.cells[col].mean) : row.cells[col].mean;
    for (auto& row : t.rows)
      if (row.bits > 0 && row.cells[col].n) row.cells[col].best = row.cells[col].mean <= best[row.bits] + 1e-12;
  }
  return t;
}

namespace {

// "Floating result", "2-bit (3 points)" on a bit width's first row, else "".
std::string section_title(const TableRow& row, int previous_bits) {
  if (row.bits == 0) return methods::is_baseline(row.method) ? "Floating result" : "";
  return row.bits != previous_bits ? fmt::format("{}-bit ({} points)", row.bits, (1 << row.bits) - 1) : "";
}

std::string latex_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': case '%': case '$': case '#': case '_': case '{': case '}': out += '\\'; out += c; break;
      case '~': out += "\\textasciitilde{}"; break;
      case '^': out += "\\textasciicircum{}"; break;
      case '\\': out += "\\textbackslash{}"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

std::string render_latex(const Table& t, const PaperTable* paper) {
  const int digits = decimals(t);
  std::string columns = "ll";
  std::vector<std::string> header;
  for (const auto& c : t.columns) {
    header.push_back(latex_escape(c));
    columns += "r";
    if (paper) header.push_back(latex_escape(c) + " (paper)"), columns += "r";
  }
  std::string out = "% Produced by qretrain from its results store; needs \\usepackage{booktabs}.\n";
  if (const std::string note = left_out_note(t.other_settings, t.older_scheme, t.stale); !note.empty())
    out += "% " + note + "\n";
  if (const std::string note = partial_grid_note(t); !note.empty()) out += "% " + note + "\n";
  out += "\\begin{table}[t]\n\\centering\n";
  const std::string partial = partial_grid_label(t);
  out += fmt::format("\\caption{{{} of experiment {} on {}.{}{}{} Best method per bit width in bold.}}\n",
                     is_bpc(t) ? "Test bits per character" : "Test error (\\%)", latex_escape(t.experiment),
                     latex_escape(fmt::format("{}", fmt::join(t.datasets, ", "))),
                     t.weights.empty() ? "" : " Weights: " + latex_escape(t.weights) + ".",
                     paper ? " Columns marked (paper): " + latex_escape(paper->title) + "." : "",
                     partial.empty() ? "" : " \\textbf{" + latex_escape("P" + partial.substr(1)) + ".}");
  out += fmt::format("\\begin{{tabular}}{{{}}}\n\\toprule\n & & {} \\\\\n\\midrule\n", columns,
                     fmt::join(header, " & "));
  int last_bits = -1;
  for (const auto& row : t.rows) {
    const std::string section = section_title(row, last_bits);
    if (!section.empty() && last_bits >= 0) out += "\\midrule\n";
    last_bits = row.bits;
    std::vector<std::string> cells;
    for (std::size_t col = 0; col < row.cells.size(); ++col) {
      const TableCell& c = row.cells[col];
      std::string v = format_cell(c, false, digits, full_seeds(t));
      const auto pm = v.find(" ± ");
      if (pm != std::string::npos) v.replace(pm, std::string(" ± ").size(), " $\\pm$ ");
      cells.push_back(c.best && c.n ? "\\textbf{" + v + "}" : v);
      if (paper) {
        auto p = paper->find(row.bits, row.method, t.columns[col]);
        cells.push_back(p ? fmt::format("{:.2f}", *p) : "");
      }
    }
    out += fmt::format("{} & {} & {} \\\\\n", section, methods::is_baseline(row.method) ? "" : method_title(row.method),
                       fmt::join(cells, " & "));
  }
  out += "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
  return out;
}

std::string render_markdown(const Table& t, const PaperTable* paper) {
  std::string out;
  out += fmt::format("{} of experiment `{}` on {}.{} Best method per bit width in bold.",
                     is_bpc(t) ? "Test bits per character (BPC)" : "Test error (%)", t.experiment,
                     fmt::join(t.datasets, ", "), t.weights.empty() ? "" : " **Weights: " + t.weights + ".**");
  if (paper)
    out += fmt::format(" Columns marked (paper): {} — the paper's numbers on {}, for comparison.", paper->title,
                       paper->dataset);
  out += "\n\n";
  std::vector<std::string> header;
  for (const auto& c : t.columns) {
    header.push_back(c);
    if (paper) header.push_back(c + " (paper)");
  }
  out += fmt::format("| | | {} |\n", fmt::join(header, " | "));
  out += "|---|---|";
  for (std::size_t i = 0; i < header.size(); ++i) out += "---:|";
  out += "\n";
  int last_bits = -1;
  for (const auto& row : t.rows) {
    const std::string section = section_title(row, last_bits);
    last_bits = row.bits;
    std::vector<std::string> cells;
    for (std::size_t col = 0; col < row.cells.size(); ++col) {
      cells.push_back(format_cell(row.cells[col], true, decimals(t), full_seeds(t)));
      if (paper) {
        auto v = paper->find(row.bits, row.method, t.columns[col]);
        cells.push_back(v ? fmt::format("{:.2f}", *v) : "");
      }
    }
    out += fmt::format("| {} | {} | {} |\n", section, methods::is_baseline(row.method) ? "" : method_title(row.method),
                       fmt::join(cells, " | "));
  }
  return out + "\n" + render_footer(t);
}

std::string render_footer(const Table& t) {
  std::string out;
  out += fmt::format("Produced by {} at commit {} on {}; {} runs, {:.1f} min of run time summed{}, {} to {}.\n",
                     t.command.empty() ? "qretrain" : "`" + t.command + "`", fmt::join(t.commits, ", "),
                     fmt::join(t.machines, "; "), runs_count(t), t.total_wall_s / 60.0,
                     t.busy_wall_s > 0 ? fmt::format(", {:.1f} min of wall time with at least one of them running",
                                                     t.busy_wall_s / 60.0)
                                       : "",
                     t.first_started, t.last_finished);
  if (const std::string note = partial_grid_note(t); !note.empty()) out += "**" + note + "**\n";
  if (const std::string note = endings_note(t); !note.empty()) out += note + "\n";
  if (const std::string note = left_out_note(t.other_settings, t.older_scheme, t.stale); !note.empty())
    out += note + "\n";
  return out;
}

std::string render_csv(const Table& t, const PaperTable* paper) {
  std::string out = is_bpc(t) ? "bits,method,network,test_bpc_mean,test_bpc_std,seeds,failed,best"
                              : "bits,method,network,test_error_mean,test_error_std,seeds,failed,best";
  out += paper ? ",paper\n" : "\n";
  for (const auto& row : t.rows)
    for (std::size_t col = 0; col < t.columns.size(); ++col) {
      const TableCell& c = row.cells[col];
      if (c.n == 0 && c.failed == 0) continue;
      out += fmt::format("{},{},{},{},{},{},{},{}", row.bits, row.method, t.columns[col],
                         c.n ? fmt::format("{:.4f}", c.mean) : "", c.n ? fmt::format("{:.4f}", c.stdev) : "", c.n,
                         c.failed, c.best ? 1 : 0);
      if (paper) {
        auto v = paper->find(row.bits, row.method, t.columns[col]);
        out += v ? fmt::format(",{:.2f}", *v) : ",";
      }
      out += "\n";
    }
  return out;
}

}  // namespace qretrain::report
