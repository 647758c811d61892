// A disk cache of decoded image datasets (Fashion-MNIST, SVHN), so that the
// cells of a sweep, each a process of its own, do not each decode the same
// compressed files (about a second per cell for Fashion-MNIST).
//
// What is cached: the splits as decoded, before normalisation (x float32
// [N, C, H, W], y int64 [N]), plus the dataset's name, input shape and class
// count. Normalisation is computed again on every load by the same code as
// without the cache: its reductions depend on the thread count, so caching its
// output would make a cell's data depend on the settings of the process that
// happened to fill the cache. The tensors a load returns are therefore the
// bytes a decode would give, and the normalised ones follow bit for bit.
//
// The file, in dataset.cache_dir, is named after the dataset kind, its folder
// and the settings that change the decoded tensors (limits, dev split,
// format version); the full key, which adds each source file's path, size,
// modification time and a hash of its first 64 KiB, is stored inside and must
// match. It is memory-mapped (pages shared by every process of a sweep) and
// checked whole before use: size, header, key and an XXH64 checksum of the
// payload. A stale or damaged file is reported as a warning and replaced by
// a fresh decode, never used; a cache folder that cannot be written only
// costs the decode (a warning, and the run goes on).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "data/dataset.h"

namespace qretrain::data::image_cache {

// Bumped whenever a loader's decoding changes what it produces.
constexpr int kFormatVersion = 1;

struct Key {
  std::string kind;                                          // dataset.kind
  std::string folder;                                        // dataset.path
  std::vector<std::pair<std::string, std::string>> settings;  // name, value: all that changes the tensors
  std::vector<std::string> sources;                          // files the data is decoded from
};

// The cache file of `key` under `cache_dir` (depends on kind, folder, settings).
std::filesystem::path file_of(const std::string& cache_dir, const Key& key);
// The full key stored in the file: also each source's identity.
std::string key_text(const Key& key);

// The cached splits of `key_text` in `file`, or nullopt with the reason (a
// missing file gives nullopt and an empty reason).
std::optional<Dataset> read(const std::filesystem::path& file, const std::string& key_text, std::string* why);
// Writes `d` (x float32, y int64 per split, no context) whole or not at all.
void write(const std::filesystem::path& file, const std::string& key_text, const Dataset& d);

// Cached splits when there are valid ones; otherwise decode() (which throws
// UserError on bad data), with d.pending_cache_write set to store the result. An empty
// cache_dir disables the cache.
Dataset load_or_decode(const std::string& cache_dir, const Key& key, const std::function<Dataset()>& decode);

}  // namespace qretrain::data::image_cache
