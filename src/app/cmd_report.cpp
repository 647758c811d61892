#include "app/command.h"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "report/paper_report.h"
#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::app {
namespace {

int cmd_report(const CommonOptions& common, const std::string& output) {
  if (!common.config_path.empty())
    throw UserError("report: takes its configs from configs/paper/*.yaml; leave out --config");
  require_writable_file(output, "-o");
  require_writable_dir(report::report_image_dir(output), "-o");
  const auto known = known_paper_tables();
  if (known.empty()) throw UserError(fmt::format("{}: no paper tables found (run from the repository root)", kPaperDir));
  report::ReportInput in;
  for (int n : known) in.tables.push_back(paper_table_entry(n, common));
  const std::string figure = fmt::format("{}/fig2.yaml", kPaperDir);
  if (std::filesystem::exists(figure)) {
    in.figure_file = figure;
    in.figure = report::load_paper_figure(figure);
    in.figure_sources = read_sources(in.figure.configs, common);
  }
  const int figures = report::write_report(in, output);
  std::cout << fmt::format("wrote {}; figures (PNG + SVG) in {}: {}\n", output, report::report_image_dir(output),
                           figures);
  return 0;
}

}  // namespace

Command report_command() {
  return {"report", "Markdown report: every paper table, Fig. 2 and training curves (gnuplot)",
          [](CLI::App& cli, const CommonOptions& common) -> Runner {
            auto output = std::make_shared<std::string>("results/REPORT.md");
            cli.add_option("--output,-o", *output,
                           "report file; images go to the folder named after it (lower case)")
                ->capture_default_str()
                ->check(kNonEmptyPath);
            return [&common, output] { return cmd_report(common, *output); };
          }};
}

}  // namespace qretrain::app
