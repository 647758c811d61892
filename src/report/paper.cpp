#include "report/paper.h"

#include <filesystem>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "util/error.h"

namespace qretrain::report {

std::optional<double> PaperTable::find(int bits, const std::string& method, const std::string& column) const {
  auto row = values.find({bits, method});
  if (row == values.end()) return std::nullopt;
  auto cell = row->second.find(column);
  if (cell == row->second.end()) return std::nullopt;
  return cell->second;
}

PaperTable load_paper_table(const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) throw UserError(fmt::format("{}: paper table file not found", path));
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw UserError(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
  }
  PaperTable t;
  try {
    t.title = root["title"].as<std::string>();
    t.dataset = root["dataset"].as<std::string>();
    const YAML::Node rows = root["rows"];
    if (!rows.IsSequence()) throw UserError(fmt::format("{}: 'rows' must be a list", path));
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const YAML::Node row = rows[i];
      const int bits = row["bits"].as<int>();
      const std::string method = row["method"].as<std::string>();
      for (const auto& kv : row) {
        const std::string key = kv.first.as<std::string>();
        if (key == "bits" || key == "method") continue;
        t.values[{bits, method}][key] = kv.second.as<double>();
      }
    }
  } catch (const YAML::Exception& e) {
    throw UserError(fmt::format("{}:{}: malformed paper table ({})", path, e.mark.line + 1, e.msg));
  }
  return t;
}

}  // namespace qretrain::report
