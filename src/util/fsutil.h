// Small file-system helpers: atomic writes so a result or cache is written
// whole or not at all.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace qretrain {

// Writes via `write(tmp_path)` to a temporary file beside `path`, then renames
// it into place. If `write` throws, the temporary is removed and `path` is
// untouched.
void atomic_write(const std::filesystem::path& path,
                  const std::function<void(const std::filesystem::path&)>& write);
void atomic_write_text(const std::filesystem::path& path, const std::string& text);

std::string read_text_file(const std::filesystem::path& path);

// Stable 64-bit FNV-1a, as 16 hex digits: identifies configs across runs.
std::string stable_hash(const std::string& text);

// Hostname and CPU model, recorded with every result.
std::string machine_description();
std::string current_time_iso();

const char* build_commit();

}  // namespace qretrain
