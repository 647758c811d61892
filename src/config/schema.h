// The declared keys of the experiment config: one row per key.
#pragma once

#include <string>
#include <vector>

namespace qretrain::config {

// IntMap: a map of plain names to integers (quant.layer_bits).
enum class Kind { Int, Float, Bool, String, IntList, StringList, IntMap };

// Whether a key's value is part of a result's identity (cell keys, the
// baseline cache). Paths, caches, runtime, output and report settings are
// not: moving a data folder or changing the thread count keeps every result.
enum class Identity { Part, NotPart };

struct Field {
  std::string path;                  // e.g. "train.lr"
  Kind kind;
  std::string default_yaml;          // default value as YAML text
  std::string help;
  std::vector<std::string> choices = {};  // allowed values (String / StringList)
  Identity identity = Identity::Part;
  // For a key added after identity scheme kIdentityScheme was fixed: the
  // value that keeps the behaviour from before the key existed. That value
  // (not today's default) is left out of the identity, so the results made
  // before the key existed keep their identity, and a value that changes a
  // result, default or not, changes it. Empty for the scheme's own keys:
  // their every value is part of the identity.
  std::string legacy_yaml = "";
};

// Version of the identity scheme; stored with every run. Scheme 1 (before
// 2026-12) hashed YAML text of the non-default values; scheme 2 hashes typed
// values of the keys marked Identity::Part.
constexpr int kIdentityScheme = 2;

// Section order is the order keys appear in dumps.
const std::vector<Field>& schema();
const Field* find_field(const std::string& path);
bool is_section(const std::string& path);
const char* kind_name(Kind kind);

}  // namespace qretrain::config
