#include "app/command.h"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "config/config.h"
#include "data/dataset.h"
#include "deploy/memory.h"
#include "report/compare.h"
#include "report/paper_report.h"
#include "report/store.h"
#include "report/table.h"
#include "util/error.h"

namespace qretrain::app {
namespace {

int cmd_table(const CommonOptions& common, const std::string& format, const std::string& output,
              const std::string& compare, bool memory) {
  if (memory && (format != "md" || !compare.empty()))
    throw UserError("--memory: adds a section to the markdown table (not with --format csv/tex or --compare)");
  require_writable_output_file(output);
  config::ExperimentConfig cfg = load_config(common, true);
  require_paper_file(cfg);
  const std::string path = existing_store_path(cfg, common);
  report::Store store(path);
  const auto selected = stored_runs(store, cfg, common);
  const auto& runs = selected.runs;
  std::string text;
  if (compare.empty()) {
    text = render_table(common, cfg, store, format);
    if (memory) text += "\n" + deploy::render_memory_bill(cfg);
  } else {
    const auto comma = compare.find(',');
    const std::string a = compare.substr(0, comma), b = comma == std::string::npos ? "" : compare.substr(comma + 1);
    const auto& known = report::method_order();
    for (const auto& m : {a, b})
      if (std::find(known.begin(), known.end(), m) == known.end() || a == b)
        throw UserError(fmt::format("--compare: expected two different methods A,B (of: {}), got '{}'",
                                    fmt::join(known, ", "), compare));
    text = report::render_comparison(report::compare_methods(runs, a, b), data::metric_of_kind(cfg.dataset.kind));
    const report::Table pair = config_table(common, cfg, store, {a, b});
    text += fmt::format("\nCompared by `qretrain table --config {}{} --compare {}`. The runs of {} and {}:\n",
                        cfg.source, result_overrides(common), compare, a, b);
    text += report::render_footer(pair);
  }
  write_output(text, output);
  return 0;
}

int cmd_paper_table(const CommonOptions& common, int number, const std::string& format, const std::string& output) {
  if (!common.config_path.empty())
    throw UserError("--paper: takes its configs from configs/paper/tableN.yaml; leave out --config");
  require_writable_output_file(output);
  const auto t = paper_table_entry(number, common);
  write_output(report::render_paper_tables(t.paper, t.sources, format), output);
  return 0;
}

}  // namespace

Command table_command() {
  return {"table", "print the paper-shaped table of a config's stored results",
          [](CLI::App& cli, const CommonOptions& common) -> Runner {
            struct Options {
              std::string format = "md", output, compare;
              int paper = 0;
              bool memory = false;
            };
            auto o = std::make_shared<Options>();
            cli.add_option("--format", o->format, "md, csv or tex (LaTeX, booktabs)")
                ->check(CLI::IsMember({"md", "csv", "tex"}));
            cli.add_option("--output,-o", o->output, "write to this file (atomically) instead of standard output")
                ->check(kNonEmptyPath);
            auto* paper = cli.add_option("--paper", o->paper,
                                         "N: paper Table N (1-4) from the configs that configs/paper/tableN.yaml "
                                         "lists, beside the paper's numbers (no --config)");
            cli.add_option("--compare", o->compare,
                           "A,B: method A against B paired by seed per cell, with win counts and a 95% interval "
                           "(e.g. adaptive,conventional)");
            cli.add_flag("--memory", o->memory,
                         "add each network's weight memory at each bit width (packed) beside float32");
            return [&common, o, paper] {
              if (paper->count() == 0) return cmd_table(common, o->format, o->output, o->compare, o->memory);
              if (!o->compare.empty()) throw UserError("--paper and --compare: give one");
              return cmd_paper_table(common, o->paper, o->format, o->output);
            };
          }};
}

}  // namespace qretrain::app
