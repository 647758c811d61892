#include "sweep/cell_files.h"

#include <filesystem>

#include <fmt/format.h>

#include "util/error.h"
#include "util/fsutil.h"

namespace qretrain::sweep {

namespace fs = std::filesystem;

namespace {

fs::path cells_dir(const std::string& output_dir) { return fs::path(output_dir) / "cells"; }

// Writes the store into place in one step; a reader sees no file or all of it.
void write_whole(const std::string& output_dir, const std::string& key,
                 const std::vector<report::RunRecord>& runs) {
  atomic_write(cell_file(output_dir, key), [&](const fs::path& tmp) {
    report::Store out(tmp.string());
    for (const auto& r : runs) out.put(r);
  });
}

// Reads one result file whole: into `out`, or its reason into `unreadable`.
void read_file(const fs::path& file, CellFiles& out) {
  try {
    report::Store in(file.string());
    out.files.push_back({file.string(), file.stem().string(), in.all_runs_with_curves()});
  } catch (const std::exception& e) {
    // The store's own messages start with the file name already.
    const std::string why = e.what();
    out.unreadable.push_back(why.rfind(file.string(), 0) == 0 ? why : fmt::format("{}: {}", file.string(), why));
  }
}

// Merges one file's runs; counts into `rep`. Returns the status of its key's run.
// With `own_key_only`, other runs the file holds (a float baseline its cell
// trained on the way) are left out.
std::string merge_file(report::Store& store, const CellFile& file, CollectReport& rep, bool own_key_only = false) {
  std::string status;
  for (const auto& r : file.runs) {
    if (r.cell_key == file.key) status = r.status;
    else if (own_key_only) continue;
    auto held = store.status(r.cell_key);
    if (held && held->first == r.status && held->second == r.finished_at) {
      ++rep.unchanged;
      continue;
    }
    store.put(r);
    ++rep.merged;
  }
  ++rep.files;
  return status;
}

}  // namespace

std::string cell_file(const std::string& output_dir, const std::string& key) {
  return (cells_dir(output_dir) / (key + ".sqlite")).string();
}

void publish_cell_file(const std::string& output_dir, const std::string& key, const report::Store& runs) {
  write_whole(output_dir, key, runs.all_runs_with_curves());
}

report::RunRecord failure_record(const config::ExperimentConfig& variant, const methods::Cell& cell,
                                 const std::string& reason) {
  report::RunRecord r;
  r.experiment = variant.name;
  r.dataset = variant.dataset.kind;
  r.network = cell.network;
  r.method = cell.method;
  r.bits = cell.bits;
  r.seed = cell.seed;
  r.step_policy = "-";
  r.failure = reason;
  r.config_yaml = config::dump(variant, false);
  r.commit = build_commit();
  r.machine = machine_description();
  r.started_at = r.finished_at = current_time_iso();
  return r;
}

void publish_failure(const std::string& output_dir, const std::string& key, report::RunRecord failed) {
  failed.cell_key = key;
  failed.status = "failed";
  failed.test_metric = std::nan("");
  failed.dev_metric = std::nan("");
  write_whole(output_dir, key, {failed});
}

std::string cell_file_status(const std::string& output_dir, const std::string& key) {
  const std::string path = cell_file(output_dir, key);
  if (!fs::exists(path)) return "";
  report::Store in(path);
  auto s = in.status(key);
  return s ? s->first : "";
}

std::string collect_one(report::Store& store, const std::string& output_dir, const std::string& key) {
  const fs::path file = cell_file(output_dir, key);
  if (!fs::exists(file)) return "";
  CellFiles read;
  read_file(file, read);
  if (!read.unreadable.empty()) throw UserError(read.unreadable.front());
  CollectReport rep;
  return merge_file(store, read.files.front(), rep);
}

namespace {

CellFiles read_result_files(const fs::path& dir) {
  CellFiles out;
  if (!fs::is_directory(dir)) return out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().extension() == ".sqlite") files.push_back(e.path());
  std::sort(files.begin(), files.end());  // a stable merge order
  for (const auto& f : files) read_file(f, out);
  return out;
}

}  // namespace

CellFiles read_cell_files(const std::string& output_dir) { return read_result_files(cells_dir(output_dir)); }

void archive_cell_file(const std::string& output_dir, const std::string& archive, const std::string& key) {
  const fs::path from = cell_file(output_dir, key);
  if (archive.empty() || !fs::exists(from)) return;
  fs::create_directories(archive);
  // Whole or not at all, like the file it copies: a kill mid-copy leaves only a temporary.
  atomic_write(fs::path(archive) / (key + ".sqlite"),
               [&](const fs::path& tmp) { fs::copy_file(from, tmp, fs::copy_options::overwrite_existing); });
}

CollectReport collect_archive(report::Store& store, const std::string& archive) {
  // Each key's run from its own file only: the float cell's file, not a copy
  // of a baseline another cell retrained, decides the group's baseline.
  const CellFiles files = read_result_files(archive);
  CollectReport rep;
  for (const auto& f : files.files) merge_file(store, f, rep, true);
  rep.unreadable = files.unreadable;
  return rep;
}

CollectReport merge_cell_files(report::Store& store, const CellFiles& files) {
  CollectReport rep;
  for (const auto& f : files.files) merge_file(store, f, rep);
  rep.unreadable = files.unreadable;
  return rep;
}

CollectReport collect(report::Store& store, const std::string& output_dir) {
  return merge_cell_files(store, read_cell_files(output_dir));
}

}  // namespace qretrain::sweep
