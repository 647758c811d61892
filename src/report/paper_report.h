// The paper's tables regenerated from the results stores (`qretrain table
// --paper N`) and the whole report (`qretrain report`): each paper table or
// figure lists the experiment configs that reproduce it (configs/paper/*.yaml,
// `reproduced_by`); every one that has runs is shown, labelled with the
// dataset its runs came from, their commit and machine. Numbers from a
// stand-in dataset are never presented as the paper's dataset.
#pragma once

#include <string>
#include <vector>

#include "report/paper.h"
#include "report/store.h"

namespace qretrain::report {

// One experiment config, resolved by the caller from its YAML.
struct Source {
  std::string config_path;   // as listed, e.g. configs/table1_standin.yaml
  std::string experiment;    // the config's `name`
  std::string store_path;    // output.dir/results.sqlite
  std::string metric = "error rate";  // data::Dataset::metric
  bool stand_in = false;     // its dataset is not the paper's (e.g. Fashion-MNIST for SVHN)
  int first_seed = 1;        // the config's first seed (figures)
  std::vector<std::string> cell_keys;  // the config's cells: only their runs are read
  std::vector<std::string> networks;   // the config's network labels, the tables' column order
  int seeds = 0;                       // the config's seed count
};

// A source with what its store holds.
struct SourceRuns {
  Source source;
  bool store_exists = false;
  std::vector<RunRecord> runs;  // without curves; empty = not run
  int other_settings = 0, older_scheme = 0, stale = 0;  // runs of the experiment left out (Store::Selection)
};

// Reads a source's runs; a missing store means no runs (and is not created).
SourceRuns read_source(const Source& source);

// Throws UserError naming every source, its store and the command to run when
// none of `sources` has runs. `what` names the table, e.g. "paper Table 1".
void require_some_runs(const std::string& what, const std::vector<SourceRuns>& sources);

// The paper table beside ours for every source with runs, in `format` (md,
// csv or tex). md: one section per source (heading level `heading`), plus a
// line per source not run yet; csv: one header, each row prefixed by the
// config, experiment and dataset; tex: one booktabs table per source.
// Throws like require_some_runs when no source has runs.
std::string render_paper_tables(const PaperTable& paper, const std::vector<SourceRuns>& sources,
                                const std::string& format, int heading = 2);

struct ReportInput {
  struct TableEntry {
    int number = 0;
    std::string paper_file;  // configs/paper/tableN.yaml
    PaperTable paper;
    std::vector<SourceRuns> sources;
  };
  std::vector<TableEntry> tables;
  std::string figure_file;  // configs/paper/fig2.yaml ("" = no figure)
  PaperFigure figure;
  std::vector<SourceRuns> figure_sources;
};

// Writes the Markdown report to `output` (atomically, last) and its images
// (PNG + SVG) to the folder named after it (results/REPORT.md ->
// results/report/), removing images there that the report no longer uses.
// Deterministic given the stores: no clock is read. Throws UserError when
// gnuplot is missing (before writing anything) or when no source has runs.
// Returns the number of figures drawn.
int write_report(const ReportInput& input, const std::string& output);

// The images folder of a report file: its stem in lower case beside it.
std::string report_image_dir(const std::string& output);

}  // namespace qretrain::report
