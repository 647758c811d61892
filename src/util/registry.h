// Rows keyed by name (methods, networks, datasets): one lookup and one
// "unknown ... (known: ...)" message for every table of kinds.
#pragma once

#include <string>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "util/error.h"

namespace qretrain {

// The row named `name`, or null. Rows have a `name` member.
template <typename Row>
const Row* find_row(const std::vector<Row>& rows, const std::string& name) {
  for (const Row& r : rows)
    if (r.name == name) return &r;
  return nullptr;
}

template <typename Row>
std::vector<std::string> row_names(const std::vector<Row>& rows) {
  std::vector<std::string> names;
  for (const Row& r : rows) names.push_back(r.name);
  return names;
}

// The row named `name`; a UserError naming `what` (e.g. "network.kind: unknown
// network") and listing the known names otherwise.
template <typename Row>
const Row& require_row(const std::vector<Row>& rows, const std::string& name, const std::string& what) {
  if (const Row* r = find_row(rows, name)) return *r;
  throw UserError(fmt::format("{} '{}' (known: {})", what, name, fmt::join(row_names(rows), ", ")));
}

}  // namespace qretrain
