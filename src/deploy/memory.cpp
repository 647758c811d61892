#include "deploy/memory.h"

#include <map>
#include <set>

#include <fmt/format.h>

#include "data/kinds.h"
#include "deploy/packed.h"
#include "methods/kinds.h"
#include "models/network.h"
#include "quant/hook.h"

namespace qretrain::deploy {

std::string render_memory_bill(const config::ExperimentConfig& cfg) {
  const data::DatasetKind& dataset = data::dataset_kind(cfg.dataset.kind);
  std::set<int, std::greater<>> widths(cfg.quant.bits.begin(), cfg.quant.bits.end());
  for (const auto& m : cfg.quant.methods)
    if (m.find("gradual") != std::string::npos)
      for (int b = cfg.quant.gradual_start_bits; b > *widths.rbegin(); --b) widths.insert(b);
  std::string md = "| network | weights | biases, batch norm | float32 |";
  for (int b : widths) md += fmt::format(" {}-bit |", b);
  md += "\n|---|---:|---:|---:|";
  for (std::size_t i = 0; i < widths.size(); ++i) md += "---:|";
  md += "\n";
  for (const auto& one : config::expand_networks(cfg)) {
    models::Network network = models::make_network(one.network, {dataset.input_shape(one.dataset), dataset.classes});
    const auto groups = quant::weight_group_names(*network);
    auto params = network->named_parameters(true);
    const std::map<std::string, int> own_bits = quant::resolve_layer_bits(one.quant.layer_bits, groups);
    std::vector<std::int64_t> sizes;
    std::vector<const int*> fixed_bits;  // a group's own bit width, or null: the column's
    std::int64_t other = 0;
    for (const auto& item : params) {
      if (std::find(groups.begin(), groups.end(), item.key()) != groups.end()) {
        sizes.push_back(item.value().numel());
        const auto own = own_bits.find(item.key());
        fixed_bits.push_back(own == own_bits.end() ? nullptr : &own->second);
      } else {
        other += item.value().numel();
      }
    }
    const MemoryBill float_bill = memory_bill(sizes, other, 32);
    std::string label = models::network_label(one.network);
    for (const auto& [name, bits] : own_bits) label += fmt::format(", {} at {}-bit", name, bits);
    md += fmt::format("| {} | {} | {} | {} |", label, float_bill.weights, other, float_bill.float_bytes);
    for (int b : widths) {
      std::vector<int> group_bits;
      for (const int* own : fixed_bits) group_bits.push_back(own ? *own : b);
      const MemoryBill bill = memory_bill(sizes, other, group_bits);
      md += fmt::format(" {} ({:.1f}x) |", bill.packed_bytes,
                        static_cast<double>(bill.float_bytes) / static_cast<double>(bill.packed_bytes));
    }
    md += "\n";
  }
  return "Weight memory in bytes (`qretrain table --memory`): every weight group packed at the bit width (the packed "
         "file of `qretrain export-model`), biases and batch norm (folded to a scale and shift per channel) as "
         "float32; in brackets, how many times smaller than float32.\n\n" +
         md;
}

}  // namespace qretrain::deploy
