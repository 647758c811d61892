// Small file-system helpers: atomic writes so a result or cache is written
// whole or not at all, and up-front checks of the paths a command will write.
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
// The temporary atomic_write writes beside `path` before the rename.
std::filesystem::path atomic_temp_path(const std::filesystem::path& path);

// Checks, before a command writes anything, that it will be able to: a path
// the user gave (`what` names its config key or flag, e.g. "output.dir" or
// "-o") that cannot be written fails here as a UserError naming `what` and
// the path, not later as a file-system error after partial output. The
// checks themselves leave nothing behind.
//
// `dir` is a folder that exists and accepts new files, or can be created:
// every existing part of it is a folder, the nearest existing one accepts new
// entries, and the names of the missing parts fit the file system.
void require_writable_dir(const std::filesystem::path& dir, const std::string& what);
// `file` can be created or replaced by atomic_write: its folder passes
// require_writable_dir, it is not a folder or a device, and its name (with
// the temporary's suffix) fits the file system.
void require_writable_file(const std::filesystem::path& file, const std::string& what);

std::string read_text_file(const std::filesystem::path& path);

// Stable 64-bit FNV-1a, as 16 hex digits: identifies configs across runs.
std::string stable_hash(const std::string& text);

// Hostname and CPU model, recorded with every result.
std::string machine_description();
std::string current_time_iso();

const char* build_commit();

}  // namespace qretrain
