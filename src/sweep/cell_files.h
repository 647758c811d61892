// Result files: every cell of a sweep writes its result to a file of its own,
// output.dir/cells/<cell key>.sqlite, whole or not at all (written beside it,
// then renamed into place), and `collect` merges them into the results store.
// Local sweeps and Slurm array tasks take this same path, so concurrent cells
// never write one database: SQLite's locking is unsafe on network file
// systems, a rename within a folder is atomic on them.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "methods/cells.h"
#include "report/store.h"

namespace qretrain::sweep {

std::string cell_file(const std::string& output_dir, const std::string& key);

// Publishes the runs held by `runs` (an in-memory store the cell recorded
// into) as the cell's result file.
void publish_cell_file(const std::string& output_dir, const std::string& key, const report::Store& runs);

// The failure record of a cell that did not get to record one itself.
report::RunRecord failure_record(const config::ExperimentConfig& variant, const methods::Cell& cell,
                                 const std::string& reason);

// Publishes a failure the cell could not record itself (its process died,
// a dependency failed).
void publish_failure(const std::string& output_dir, const std::string& key, report::RunRecord failed);

// "ok", "failed", or "" when the cell has no result file.
std::string cell_file_status(const std::string& output_dir, const std::string& key);

struct CollectReport {
  int files = 0;      // result files read
  int merged = 0;     // runs written into the store (new or changed)
  int unchanged = 0;  // runs the store already held
  std::vector<std::string> unreadable;  // files that could not be read, with the reason
};

// The result files under output_dir/cells, read whole (in file name order),
// and those that could not be read, with the reason.
struct CellFile {
  std::string path;
  std::string key;  // the file's stem
  std::vector<report::RunRecord> runs;
};
struct CellFiles {
  std::vector<CellFile> files;
  std::vector<std::string> unreadable;
};
CellFiles read_cell_files(const std::string& output_dir);

// Merges result files read by read_cell_files into `store`. Idempotent: a
// run the store holds with the same status and finish time is skipped.
CollectReport merge_cell_files(report::Store& store, const CellFiles& files);
// read_cell_files then merge_cell_files: every result file under
// output_dir/cells, unreadable ones listed in the report.
CollectReport collect(report::Store& store, const std::string& output_dir);
// Merges one cell's file, if it exists; returns its status ("" if none).
std::string collect_one(report::Store& store, const std::string& output_dir, const std::string& key);

// The archive (output.archive): a folder, typically committed with the
// results (results/cells/NAME), that keeps a copy of every finished cell's
// result file, so a grid longer than one machine's allocation continues on
// another from what was kept. A copy replaces the key's earlier one whole.
void archive_cell_file(const std::string& output_dir, const std::string& archive, const std::string& key);
// Merges every result file of the archive into `store` (as collect does).
CollectReport collect_archive(report::Store& store, const std::string& archive);

}  // namespace qretrain::sweep
