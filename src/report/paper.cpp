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

namespace {

YAML::Node load_yaml(const std::string& path, const char* what) {
  if (!std::filesystem::is_regular_file(path)) throw UserError(fmt::format("{}: {} file not found", path, what));
  try {
    return YAML::LoadFile(path);
  } catch (const YAML::Exception& e) {
    throw UserError(fmt::format("{}:{}: {}", path, e.mark.line + 1, e.msg));
  }
}

// Optional `reproduced_by`: a list of config paths.
std::vector<std::string> config_list(const YAML::Node& root, const std::string& path) {
  std::vector<std::string> out;
  const YAML::Node list = root["reproduced_by"];
  if (!list) return out;
  if (!list.IsSequence()) throw UserError(fmt::format("{}: 'reproduced_by' must be a list of config files", path));
  for (std::size_t i = 0; i < list.size(); ++i) out.push_back(list[i].as<std::string>());
  return out;
}

}  // namespace

PaperTable load_paper_table(const std::string& path) {
  const YAML::Node root = load_yaml(path, "paper table");
  PaperTable t;
  try {
    t.title = root["title"].as<std::string>();
    t.dataset = root["dataset"].as<std::string>();
    t.configs = config_list(root, path);
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

PaperFigure load_paper_figure(const std::string& path) {
  const YAML::Node root = load_yaml(path, "paper figure");
  PaperFigure f;
  try {
    f.title = root["title"].as<std::string>();
    f.dataset = root["dataset"].as<std::string>();
    f.network = root["network"].as<std::string>();
    if (root["method"]) f.method = root["method"].as<std::string>();
    f.configs = config_list(root, path);
  } catch (const YAML::Exception& e) {
    throw UserError(fmt::format("{}:{}: malformed paper figure ({})", path, e.mark.line + 1, e.msg));
  }
  return f;
}

}  // namespace qretrain::report
