#include "methods/cells.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "methods/methods.h"
#include "models/network.h"
#include "util/error.h"

namespace qretrain::methods {

std::string Cell::name() const {
  if (method == baseline_method()) return fmt::format("{} seed {} {}", network, seed, method);
  if (bits == 0) return fmt::format("{} seed {} {}", network, seed, method);
  return fmt::format("{} seed {} {} {}-bit", network, seed, method, bits);
}

const Cell* Grid::find(const std::string& key) const {
  for (const auto& c : cells)
    if (c.key == key) return &c;
  return nullptr;
}

Grid expand_grid(const config::ExperimentConfig& cfg) {
  Grid grid;
  grid.variants = config::expand_networks(cfg);
  for (const auto& m : cfg.quant.methods) method_kind(m);  // unknown names fail here, listing the known ones
  std::map<std::string, std::string> seen;  // key -> name: two cells with one identity would share one result
  auto add = [&](Cell c) {
    c.key = cell_key(grid.variants[c.variant], c.method, c.bits, c.seed);
    if (auto it = seen.find(c.key); it != seen.end())
      throw UserError(fmt::format("grid: cells '{}' and '{}' are the same cell (identical config); remove one",
                                  it->second, c.name()));
    seen[c.key] = c.name();
    grid.cells.push_back(std::move(c));
    return grid.cells.size() - 1;
  };
  for (const auto& one : grid.variants) check_layer_bits(one);
  for (std::size_t v = 0; v < grid.variants.size(); ++v) {
    const auto& one = grid.variants[v];
    const std::string label = models::network_label(one.network);
    for (int seed : one.seeds) {
      const std::size_t baseline = add({v, label, seed, baseline_method(), 0, "", {}});
      for (const auto& name : one.quant.methods) {
        switch (method_kind(name).cells) {
          case CellShape::Baseline:  // not a choice of quant.methods
            break;
          case CellShape::PerBitWidth:
            for (int b : one.quant.bits) add({v, label, seed, name, b, "", {baseline}});
            break;
          case CellShape::Single:
            add({v, label, seed, name, 0, "", {baseline}});
            break;
          case CellShape::Chain: {
            const int lowest = *std::min_element(one.quant.bits.begin(), one.quant.bits.end());
            std::size_t previous = baseline;
            for (int b = one.quant.gradual_start_bits; b >= lowest; --b)
              previous = add({v, label, seed, name, b, "", {previous}});
            break;
          }
        }
      }
    }
  }
  if (grid.cells.empty()) throw UserError("grid: no cells (grid.networks, seeds, quant.bits or quant.methods is empty)");
  return grid;
}

void run_cell(Session& session, const Cell& cell) {
  const MethodKind& kind = method_kind(cell.method);
  if (kind.is_baseline()) {
    const auto started = std::chrono::steady_clock::now();
    try {
      session.train_baseline();
    } catch (const train::Diverged& e) {
      session.record_failure(kind.name, 0, e.what(), started);
    }
    return;
  }
  kind.run_cell(session, cell.bits);
}

}  // namespace qretrain::methods
