#include "report/paper_report.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "report/claims.h"
#include "report/curves.h"
#include "report/plot.h"
#include "report/table.h"
#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::report {
namespace {

namespace fs = std::filesystem;

std::string run_command(const Source& s) { return "qretrain run --config " + s.config_path; }

template <typename F>
std::vector<std::string> unique_of(const std::vector<RunRecord>& runs, F field) {
  std::vector<std::string> out;
  for (const auto& r : runs)
    if (std::find(out.begin(), out.end(), field(r)) == out.end()) out.push_back(field(r));
  return out;
}

std::string datasets_of(const SourceRuns& s) {
  return fmt::format("{}", fmt::join(unique_of(s.runs, [](const RunRecord& r) { return r.dataset; }), ", "));
}

// Why a source has nothing to show.
std::string missing_reason(const SourceRuns& s) {
  if (!s.store_exists) return fmt::format("no results store {}", s.source.store_path);
  const std::string note = left_out_note(s.other_settings, s.older_scheme, s.stale);
  return fmt::format("no runs of this configuration of experiment '{}' in {}{}", s.source.experiment,
                     s.source.store_path, note.empty() ? "" : "; " + note);
}

// "flite speech stand-in for TIMIT — a stand-in for the paper's TIMIT".
std::string data_label(const SourceRuns& s, const std::string& paper_dataset, bool markdown) {
  const std::string data = datasets_of(s);
  const std::string shown = markdown ? "**" + data + "**" : data;
  return s.source.stand_in ? fmt::format("{}, a stand-in for the paper's {}", shown, paper_dataset)
                           : fmt::format("{} (the paper's dataset)", shown);
}

std::string heading_marks(int level) { return std::string(static_cast<std::size_t>(std::clamp(level, 1, 6)), '#'); }

Table source_table(const SourceRuns& s) {
  Table t = build_table(s.source.experiment, s.runs);
  t.other_settings = s.other_settings;
  t.older_scheme = s.older_scheme;
  t.stale = s.stale;
  t.command = run_command(s.source);
  t.metric = s.source.metric;
  t.grid_cells = static_cast<int>(s.source.cell_keys.size());
  t.seeds = s.source.seeds;
  order_columns(t, s.source.networks);
  return t;
}

// ", partial grid: 92 of 330 runs", or "" for a complete one.
std::string partial_label(const SourceRuns& s) {
  const std::string label = partial_grid_label(source_table(s));
  return label.empty() ? "" : ", " + label;
}

std::string csv_field(const std::string& v) {
  if (v.find_first_of(",\"\n") == std::string::npos) return v;
  std::string out = "\"";
  for (char c : v) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

std::string markdown_paper_tables(const PaperTable& paper, const std::vector<SourceRuns>& sources, int heading) {
  std::string out = fmt::format("{} {}\n\n", heading_marks(heading), paper.title);
  std::vector<const SourceRuns*> missing;
  for (const auto& s : sources) {
    if (s.runs.empty()) {
      missing.push_back(&s);
      continue;
    }
    out += fmt::format("{} Ours: `{}` on {}\n\n", heading_marks(heading + 1), s.source.config_path, datasets_of(s));
    out += fmt::format("Data: {}.", data_label(s, paper.dataset, true));
    if (s.source.stand_in)
      out += fmt::format(" The (paper) columns are the paper's numbers on {}, not on this data: compare trends "
                         "between methods, not values.",
                         paper.dataset);
    out += "\n\n";
    const Table t = source_table(s);
    out += render_markdown(t, &paper) + "\n";
  }
  if (!missing.empty()) {
    out += "Not run yet:\n\n";
    for (const auto* s : missing)
      out += fmt::format("- `{}` ({}{}): `{}`\n", s->source.config_path, missing_reason(*s),
                         s->source.stand_in ? "" : fmt::format("; the paper's {} data", paper.dataset),
                         run_command(s->source));
    out += "\n";
  }
  return out;
}

std::string csv_paper_tables(const PaperTable& paper, const std::vector<SourceRuns>& sources) {
  std::string out;
  for (const auto& s : sources) {
    if (s.runs.empty()) continue;
    const std::string text = render_csv(source_table(s), &paper);
    const std::string prefix = fmt::format("{},{},{},{},", csv_field(s.source.config_path), csv_field(s.source.experiment),
                                           csv_field(datasets_of(s)), s.source.stand_in ? "stand-in" : "paper");
    std::size_t pos = 0;
    bool header = true;
    while (pos < text.size()) {
      std::size_t end = text.find('\n', pos);
      if (end == std::string::npos) end = text.size();
      const std::string line = text.substr(pos, end - pos);
      if (header) {
        // One header for all sources (the metric's name is the same for a table).
        if (out.empty()) out += "config,experiment,dataset,data," + line + "\n";
        header = false;
      } else if (!line.empty()) {
        out += prefix + line + "\n";
      }
      pos = end + 1;
    }
  }
  return out;
}

std::string latex_paper_tables(const PaperTable& paper, const std::vector<SourceRuns>& sources) {
  std::string out;
  for (const auto& s : sources) {
    if (s.runs.empty()) {
      out += fmt::format("% {}: not run yet ({})\n", s.source.config_path, missing_reason(s));
      continue;
    }
    out += fmt::format("% {} from {}: data {}\n", paper.title, s.source.config_path, data_label(s, paper.dataset, false));
    out += render_latex(source_table(s), &paper) + "\n";
  }
  return out;
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// File-name-safe form of a label ("64x64+BN" -> "64x64_BN").
std::string slug(const std::string& s) {
  std::string out;
  for (char c : s) out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ? c : '_';
  return out;
}

std::string join_unique(const std::vector<RunRecord>& runs, std::string RunRecord::*field, const char* sep) {
  return fmt::format("{}", fmt::join(unique_of(runs, [&](const RunRecord& r) { return r.*field; }), sep));
}

// Collects what the report writes into its images folder.
struct Images {
  fs::path dir;
  std::string link_dir;  // as written in the Markdown, relative to the report
  std::set<std::string> written;
  std::string base(const std::string& name) {
    written.insert(name + ".png");
    written.insert(name + ".svg");
    return (dir / name).string();
  }
  std::string link(const std::string& file) const { return link_dir + "/" + file; }
};

std::string figure_section(const ReportInput& in, Images& images, int& drawn) {
  const PaperFigure& fig = in.figure;
  std::string out = fmt::format("## {}\n\n", fig.title);
  std::vector<const SourceRuns*> missing;
  for (const auto& s : in.figure_sources) {
    std::vector<RunRecord> matching;
    for (const auto& r : s.runs)
      if (r.method == fig.method && r.network == fig.network && r.status == "ok") matching.push_back(r);
    if (matching.empty()) {
      missing.push_back(&s);
      continue;
    }
    Store store(s.source.store_path);
    // Every seed, a thin line each: how far Δ moves is read against the spread over seeds.
    const auto curves = delta_curves(store, s.runs, s.source.experiment, fig.network, fig.method, 0);
    std::set<int> bit_widths, seeds;
    for (const auto& c : curves) bit_widths.insert(c.bits), seeds.insert(c.seed);
    const std::string name = "fig2-" + slug(s.source.experiment);
    const std::string dataset = join_unique(matching, &RunRecord::dataset, ", ");
    plot_delta_curves(curves,
                      fmt::format("Step size per layer, {} retraining, FFDNN {} ({})", fig.method, fig.network, dataset),
                      images.base(name));
    images.written.insert(name + ".csv");
    ++drawn;
    out += fmt::format("### Ours: `{}` on {}\n\n", s.source.config_path, dataset);
    out += fmt::format("![Fig. 2 from {} on {}]({})\n\n", s.source.experiment, dataset, images.link(name + ".png"));
    out += fmt::format(
        "Step size Δ of each weight group at every evaluation of {} retraining, network {}, seeds {} (a line each), "
        "bit widths {} "
        "(plotted numbers: [CSV]({}), vector: [SVG]({})). Experiment `{}`; data: {}{}; commit {}; machine {}.\n\n",
        fig.method, fig.network, fmt::join(seeds, ", "), fmt::join(bit_widths, ", "), images.link(name + ".csv"),
        images.link(name + ".svg"), s.source.experiment, dataset,
        s.source.stand_in ? fmt::format(", a stand-in for the paper's {}", fig.dataset) : " (the paper's dataset)",
        join_unique(matching, &RunRecord::commit, ", "), join_unique(matching, &RunRecord::machine, "; "));
  }
  if (!missing.empty()) {
    out += fmt::format("Not drawn (no finished {} runs of network {}):\n\n", fig.method,
                       fig.network);
    for (const auto* s : missing)
      out += fmt::format("- `{}` ({}): `{}`\n", s->source.config_path,
                         s->runs.empty() ? missing_reason(*s)
                                      : fmt::format("{} stored runs, none of them {} on {}", s->runs.size(),
                                                    fig.method, fig.network),
                         run_command(s->source));
    out += "\n";
  }
  return out;
}

std::string curves_section(const std::vector<const SourceRuns*>& experiments, Images& images, int& drawn) {
  std::string out =
      "## Training curves\n\n"
      "One figure per experiment and network. Top row: the dev metric at every evaluation; bottom row: the mean "
      "training loss since the previous evaluation. First column: the float baseline's training; then one column per "
      "bit width with one line per retraining method, and the float baseline's best dev value dashed. Epoch 0 is "
      "the network before any (re)training: untrained, or freshly quantized (the direct-quantization result, whose "
      "test value is in the tables); when it lies far above the rest it is left off the scale, as the panel title "
      "says.\n\n";
  for (const auto* s : experiments) {
    Store store(s->source.store_path);
    const auto figures = curve_figures(store, s->runs, s->source.experiment, s->source.metric);
    out += fmt::format("### `{}` on {}\n\n", s->source.experiment, datasets_of(*s));
    if (figures.empty()) {
      out += "No stored curves.\n\n";
      continue;
    }
    for (const auto& f : figures) {
      const std::string name = "curves-" + slug(f.experiment) + "-" + slug(f.network);
      plot_curve_figure(f, images.base(name));
      ++drawn;
      out += fmt::format("#### {} · network {}\n\n", f.experiment, f.network);
      out += fmt::format("![training curves of {} network {}]({})\n\n", f.experiment, f.network,
                         images.link(name + ".png"));
      out += fmt::format("{} curves ([SVG]({})). Data: {}{}; commit {}; machine {}.\n\n", f.runs,
                         images.link(name + ".svg"), fmt::join(f.datasets, ", "),
                         s->source.stand_in ? " (a stand-in dataset)" : "", fmt::join(f.commits, ", "),
                         fmt::join(f.machines, "; "));
    }
  }
  return out;
}

// What the claims are tested on: every table source with runs, and the
// figure's runs of its method (all seeds) with their curves.
ClaimInput claim_input(const ReportInput& in) {
  ClaimInput out;
  for (const auto& t : in.tables)
    for (const auto& s : t.sources)
      if (!s.runs.empty())
        out.tables.push_back({t.number, fmt::format("Table {}, `{}`{}", t.number, s.source.config_path, partial_label(s)),
                              s.source.metric, s.runs});
  std::vector<std::string> from;
  for (const auto& s : in.figure_sources) {
    if (s.runs.empty()) continue;
    Store store(s.source.store_path);
    const std::size_t before = out.step_size_runs.size();
    for (const auto& r : s.runs)
      if (r.method == in.figure.method && r.network == in.figure.network && r.status == "ok")
        if (auto full = store.run_with_curve(r.cell_key)) out.step_size_runs.push_back(std::move(*full));
    if (out.step_size_runs.size() > before)
      from.push_back(fmt::format("`{}` ({} runs)", s.source.config_path, out.step_size_runs.size() - before));
  }
  out.step_size_source = fmt::format("Fig. 2, network {}, from {}", in.figure.network, fmt::join(from, " and "));
  return out;
}

}  // namespace

SourceRuns read_source(const Source& source) {
  SourceRuns out;
  out.source = source;
  out.store_exists = fs::is_regular_file(source.store_path);
  if (out.store_exists) {
    Store store(source.store_path);
    Selection selected = store.select(source.experiment, source.cell_keys);
    out.runs = std::move(selected.runs);
    out.other_settings = selected.other_settings;
    out.older_scheme = selected.older_scheme;
    out.stale = selected.stale;
  }
  return out;
}

void require_some_runs(const std::string& what, const std::vector<SourceRuns>& sources) {
  std::vector<std::string> reasons, commands;
  for (const auto& s : sources) {
    if (!s.runs.empty()) return;
    reasons.push_back(fmt::format("{} ({})", s.source.config_path, missing_reason(s)));
    commands.push_back("`" + run_command(s.source) + "`");
  }
  if (sources.empty()) throw UserError(fmt::format("{}: no experiment configs listed (reproduced_by)", what));
  throw UserError(fmt::format("{}: nothing stored yet from {}; run {}", what, fmt::join(reasons, ", "),
                              fmt::join(commands, " or ")));
}

std::string render_paper_tables(const PaperTable& paper, const std::vector<SourceRuns>& sources,
                                const std::string& format, int heading) {
  require_some_runs(paper.title, sources);
  if (format == "csv") return csv_paper_tables(paper, sources);
  if (format == "tex") return latex_paper_tables(paper, sources);
  return markdown_paper_tables(paper, sources, heading);
}

std::string report_image_dir(const std::string& output) {
  const fs::path out(output);
  std::string stem = lower(out.stem().string());
  if (stem.empty() || stem == out.filename().string()) stem += "_files";
  return (out.parent_path() / stem).string();
}

int write_report(const ReportInput& in, const std::string& output) {
  // Every failure we can foresee comes before anything is written.
  std::vector<SourceRuns> all;
  for (const auto& t : in.tables) all.insert(all.end(), t.sources.begin(), t.sources.end());
  all.insert(all.end(), in.figure_sources.begin(), in.figure_sources.end());
  require_some_runs("report", all);
  require_gnuplot();

  Images images;
  images.dir = report_image_dir(output);
  images.link_dir = images.dir.filename().string();
  int drawn = 0;

  std::string md = "# Results report\n\n";
  md += "Written by `qretrain report` from the results stores of the experiment configs that the paper's tables and "
        "figure list (`reproduced_by` in ";
  std::vector<std::string> files;
  for (const auto& t : in.tables) files.push_back("`" + t.paper_file + "`");
  if (!in.figure_file.empty()) files.push_back("`" + in.figure_file + "`");
  md += fmt::format("{}). Every number, label, commit, machine and time below comes from a store, so the same stores "
                    "give the same report. Columns marked (paper) hold the numbers published by Shin, Boo and Sung "
                    "(ICASSP 2017) on the paper's datasets; each of our tables and figures names the dataset its runs "
                    "used, and says so when that is a stand-in.\n\n",
                    fmt::join(files, ", "));

  // Overview: what reproduces what, on which data.
  md += "| paper | config | data of our runs | runs | commit | machine |\n|---|---|---|---:|---|---|\n";
  auto overview = [&](const std::string& label, const std::string& paper_dataset, const SourceRuns& s) {
    if (s.runs.empty()) {
      md += fmt::format("| {} | `{}` | not run ({}) | 0 | | |\n", label, s.source.config_path,
                        s.store_exists ? "no runs in its store" : "no store");
      return;
    }
    const std::string partial = partial_grid_label(source_table(s));
    md += fmt::format("| {} | `{}` | {} | {}{} | {} | {} |\n", label, s.source.config_path,
                      s.source.stand_in ? fmt::format("{} (stand-in for {})", datasets_of(s), paper_dataset)
                                        : datasets_of(s),
                      s.runs.size(), partial.empty() ? "" : " (" + partial + ")",
                      join_unique(s.runs, &RunRecord::commit, ", "),
                      join_unique(s.runs, &RunRecord::machine, "; "));
  };
  for (const auto& t : in.tables)
    for (const auto& s : t.sources) overview(fmt::format("Table {}", t.number), t.paper.dataset, s);
  if (!in.figure_file.empty())
    for (const auto& s : in.figure_sources) overview("Fig. 2", in.figure.dataset, s);
  md += "\n";

  for (const auto& t : in.tables) {
    bool any = false;
    for (const auto& s : t.sources) any |= !s.runs.empty();
    if (any) {
      md += render_paper_tables(t.paper, t.sources, "md", 2);
      continue;
    }
    md += fmt::format("## {}\n\nNot reproduced yet: ", t.paper.title);
    std::vector<std::string> how;
    for (const auto& s : t.sources) how.push_back(fmt::format("`{}` ({})", run_command(s.source), missing_reason(s)));
    md += fmt::format("{}.\n\n", fmt::join(how, ", or "));
  }

  if (!in.figure_file.empty()) md += figure_section(in, images, drawn);
  md += render_claims(evaluate_claims(claim_input(in)), 2);

  // Curves of every experiment with runs, once each, in the order listed.
  std::vector<const SourceRuns*> experiments;
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& s : all)
    if (!s.runs.empty() && seen.insert({s.source.store_path, s.source.experiment}).second) experiments.push_back(&s);
  md += curves_section(experiments, images, drawn);

  // Images of an earlier report that this one no longer shows.
  std::error_code ec;
  if (fs::is_directory(images.dir, ec))
    for (const auto& entry : fs::directory_iterator(images.dir)) {
      const std::string name = entry.path().filename().string();
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".png" || ext == ".svg" || ext == ".csv") && !images.written.count(name))
        fs::remove(entry.path());
    }
  atomic_write_text(output, md);
  return drawn;
}

}  // namespace qretrain::report
