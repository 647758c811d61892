#include <filesystem>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "app/runtime.h"
#include "methods/cells.h"
#include "methods/methods.h"
#include "util/log.h"

namespace qretrain::methods {

void run_experiment(const config::ExperimentConfig& cfg, const data::Dataset& data, torch::Device device,
                    report::Store& store, bool force) {
  auto log = log::get("run");
  const Grid grid = expand_grid(cfg);  // fails before any work
  log->info("experiment '{}' from {}; device {}, {}; {} cells", cfg.name, cfg.source.empty() ? "defaults" : cfg.source,
            device.str(), app::thread_summary(), grid.cells.size());
  log->info("dataset {}: {} train / {} dev / {} test examples of shape [{}]", data.name, data.train.size(),
            data.dev.size(), data.test.size(), fmt::join(data.input_shape, "x"));
  // One session per (network, seed) keeps the baseline in memory across its cells.
  std::map<std::pair<std::size_t, int>, std::unique_ptr<Session>> sessions;
  for (const Cell& cell : grid.cells) {
    auto& session = sessions[{cell.variant, cell.seed}];
    if (!session)
      session = std::make_unique<Session>(grid.variants[cell.variant], data, device, store, cell.seed, force);
    if (session->done(cell.method, cell.bits)) continue;
    std::string blocked;
    for (std::size_t d : cell.after)
      if (!store.has_ok(grid.cells[d].key)) blocked = grid.cells[d].name();
    const auto started = std::chrono::steady_clock::now();
    // --force redoes the cell from the start, as `sweep --force` does: a state left by an earlier process is dropped.
    if (force) std::filesystem::remove(resume_file(grid.variants[cell.variant], cell.method, cell.bits, cell.seed));
    if (!blocked.empty()) session->record_failure(cell.method, cell.bits, "dependency failed: " + blocked, started);
    else run_cell(*session, cell);
    std::filesystem::remove(resume_file(grid.variants[cell.variant], cell.method, cell.bits, cell.seed));
  }
  log->info("all cells of '{}' are in {}", cfg.name, store.path());
}

}  // namespace qretrain::methods
