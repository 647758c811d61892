// Every fact about each kind of cell, one row per method (the float baseline
// included), in the order tables list them: what the config, the cell
// identity, tables and plots need to know about a method reads its row, so
// adding a method is one row here plus its run function (methods.cpp).
#pragma once

#include <string>
#include <vector>

namespace qretrain::methods {

class Session;

enum class CellShape {
  Baseline,     // the float network, once per network and seed
  PerBitWidth,  // one independent cell per bit width, after the float baseline
  Chain,        // gradual: start_bits, start_bits-1, ..., min(bits), each after the previous
  Single,       // one cell without a bit width (the control)
};

struct MethodKind {
  std::string name;   // YAML name (quant.methods) and the store's method column
  std::string help;
  CellShape cells;
  // Config sections beyond dataset, network and train that change the
  // cell's result (its identity), in this order.
  std::vector<std::string> identity_sections;
  std::string title;   // row title in tables
  std::string colour;  // its curves' colour in every plot
  bool trains;         // trains at all (all but direct): its stop reason counts in table footers
  // Runs one cell of the method (bits = 0 for Single) and records it; null
  // for the baseline, which the Session trains.
  void (*run_cell)(Session& session, int bits);
  // Beyond the paper: one Δ per output channel whatever quant.granularity
  // says (the NAME@channel rows), and Δ learned by gradient (LSQ).
  bool per_channel = false;
  bool learned_step = false;

  bool is_baseline() const { return cells == CellShape::Baseline; }
  bool is_chain() const { return cells == CellShape::Chain; }
};

// Table order: float, control, direct, conventional, adaptive, lsq, each
// followed by its @channel variant, gradual, adaptive+gradual.
const std::vector<MethodKind>& method_kinds();
// The row of `name`; a UserError listing the known methods otherwise.
const MethodKind& method_kind(const std::string& name);
// quant.methods' choices: every row but the baseline's, the methods that
// quantize first, the control last.
std::vector<std::string> quantization_method_names();
// The baseline's name in the store ("float"), and whether a stored method
// name is it.
const std::string& baseline_method();
bool is_baseline(const std::string& method);

}  // namespace qretrain::methods
