// The paper's published numbers, typed once into a YAML data file
// (configs/paper/tableN.yaml), shown beside ours in tables.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>

namespace qretrain::report {

struct PaperTable {
  std::string title;
  std::string dataset;
  // (bits, method) -> column label -> value; bits 0 = float.
  std::map<std::pair<int, std::string>, std::map<std::string, double>> values;

  std::optional<double> find(int bits, const std::string& method, const std::string& column) const;
};

// Throws UserError naming the file and the bad entry.
PaperTable load_paper_table(const std::string& path);

}  // namespace qretrain::report
