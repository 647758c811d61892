// The declared keys of the experiment config: one row per key.
#pragma once

#include <string>
#include <vector>

namespace qretrain::config {

enum class Kind { Int, Float, Bool, String, IntList, StringList };

struct Field {
  std::string path;                  // e.g. "train.lr"
  Kind kind;
  std::string default_yaml;          // default value as YAML text
  std::string help;
  std::vector<std::string> choices;  // allowed values (String / StringList)
};

// Section order is the order keys appear in dumps.
const std::vector<Field>& schema();
const Field* find_field(const std::string& path);
bool is_section(const std::string& path);
const char* kind_name(Kind kind);

}  // namespace qretrain::config
