// qretrain collect: sweep cells' result files merged into the results store.
#include "app/command.h"

#include <filesystem>
#include <iostream>

#include <fmt/format.h>

#include "app/runtime.h"
#include "config/config.h"
#include "data/dataset.h"
#include "methods/cells.h"
#include "sweep/cell_files.h"
#include "report/store.h"
#include "sweep/cell_files.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

namespace qretrain::app {
namespace {

namespace fs = std::filesystem;

int cmd_collect(const CommonOptions& common) {
  config::ExperimentConfig cfg = config::load(common.config_path, common.overrides);
  const methods::Grid grid = methods::expand_grid(cfg);
  require_paper_file(cfg);  // the table printed at the end reads it
  require_writable_store(cfg);
  // Every result file is read before the store is opened: an unreadable one
  // (damaged, not SQLite) is the user's to remove or re-run, and fails here
  // with nothing merged, created or printed.
  const sweep::CellFiles files = sweep::read_cell_files(cfg.output_dir);
  if (!files.unreadable.empty())
    throw UserError(fmt::format("unreadable result file {}{}", files.unreadable.front(),
                                files.unreadable.size() > 1
                                    ? fmt::format(" (and {} more)", files.unreadable.size() - 1)
                                    : std::string()));
  report::Store store(results_store_file(cfg.output_dir));
  const sweep::CollectReport rep = sweep::merge_cell_files(store, files);
  std::size_t have = 0, failed = 0;
  for (const auto& c : grid.cells) {
    auto s = store.status(c.key);
    if (s) ++have, failed += s->first != "ok";
  }
  std::cerr << fmt::format("collect: {} result files, {} runs merged, {} already in {}; grid of '{}': {} of {} "
                           "cells have results ({} failed)\n",
                           rep.files, rep.merged, rep.unchanged, store.path(), cfg.name, have, grid.cells.size(),
                           failed);
  if (have > 0) std::cout << render_table(common, cfg, store, "md");
  return 0;
}

}  // namespace

Command collect_command() {
  return {"collect",
          "merge the result files of sweep cells (output.dir/cells) into the results store, and print the table",
          [](CLI::App&, const CommonOptions& common) -> Runner { return [&common] { return cmd_collect(common); }; }};
}

}  // namespace qretrain::app
