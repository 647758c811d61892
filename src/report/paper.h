// The paper's published numbers, typed once into a YAML data file
// (configs/paper/tableN.yaml), shown beside ours in tables.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace qretrain::report {

struct PaperTable {
  std::string title;
  std::string dataset;
  // (bits, method) -> column label -> value; bits 0 = float.
  std::map<std::pair<int, std::string>, std::map<std::string, double>> values;
  // The experiment configs that reproduce it (key `reproduced_by`), the
  // paper's own data first, then stand-ins; `qretrain table --paper N` and
  // `qretrain report` render each one that has runs.
  std::vector<std::string> configs;

  std::optional<double> find(int bits, const std::string& method, const std::string& column) const;
};

// Throws UserError naming the file and the bad entry.
PaperTable load_paper_table(const std::string& path);

// A paper figure drawn from the store (configs/paper/fig2.yaml): the step
// size of each layer of one network during one method's retraining.
struct PaperFigure {
  std::string title;
  std::string dataset;               // the paper's data
  std::string network;               // table column label, e.g. 256x256
  std::string method = "adaptive";
  std::vector<std::string> configs;  // as PaperTable::configs
};

PaperFigure load_paper_figure(const std::string& path);

}  // namespace qretrain::report
