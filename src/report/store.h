// The results store: an SQLite database. Each run is written in one
// transaction (run row + evaluation curve + Δ per group per evaluation), so a
// killed process never leaves a half-written record.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/schema.h"
#include "train/eval_point.h"

struct sqlite3;

namespace qretrain::report {

struct RunRecord {
  std::string cell_key;      // hash of everything that defines the cell
  int identity_scheme = config::kIdentityScheme;  // how cell_key was computed (schema.h); 1 = older stores
  std::string experiment;    // config `name`
  std::string dataset;       // dataset that produced it (shown in tables)
  std::string network;       // table column label
  std::string method;        // float | direct | conventional | adaptive | gradual | adaptive+gradual
  int bits = 0;              // 0 for float
  int seed = 0;
  std::string step_policy;   // fixed | epoch | first_epochs:k | - (float)
  std::string status = "ok"; // ok | failed
  std::string failure;       // reason when failed
  double test_metric = 0;    // the dataset's metric on the test set: error % or bits per character
  double dev_metric = 0;     // best dev value of that metric
  int epochs = 0;
  std::int64_t updates = 0;
  double wall_s = 0;
  double samples_per_s = 0;
  std::string config_yaml;
  std::string commit;
  std::string machine;
  std::string started_at;
  std::string finished_at;
  std::string note;          // how the run came about when not plain, e.g. a baseline reused from the cache
  std::string stop_reason;   // why training ended: its schedule ran out, or the epoch budget ('' = older stores)
  // XXH64 of the float baseline's weights: those a float run kept, those a
  // quantized or control run started from ('' = older stores). A group's
  // runs belong together only if these agree (Selection::stale).
  std::string baseline_digest;
  std::vector<std::string> group_names;
  std::vector<train::EvalPoint> curve;
};

// The runs of one configuration: those of an experiment whose cell keys the
// config's grid expands to, and counts of the experiment's other runs (same
// name, other settings; or made under an older identity scheme), which are
// never mixed in.
struct Selection {
  std::vector<RunRecord> runs;  // without curves, in the order they started (started_at)
  int other_settings = 0;
  int older_scheme = 0;
  // Runs left out because they started from another float baseline than
  // the float run of their network and seed now stored (it was trained
  // again, e.g. on another machine, after they ran); a sweep runs them again.
  int stale = 0;
};

// Whether `run` started from another baseline than `float_run` (same network
// and seed) kept: both digests known and different.
bool stale_against(const RunRecord& run, const RunRecord& float_run);

class Store {
 public:
  explicit Store(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Inserts (or replaces a record with the same cell_key) atomically.
  void put(const RunRecord& run);
  bool has_ok(const std::string& cell_key) const;
  // Runs of an experiment (without curves), in insertion order.
  std::vector<RunRecord> runs(const std::string& experiment) const;
  // The runs of `experiment` with one of `cell_keys` (a configuration's
  // cells). With `only_methods`, just those methods' runs are returned; the
  // configuration's other runs still anchor the stale check (a group's float
  // run) and are not counted as made with other settings.
  Selection select(const std::string& experiment, const std::vector<std::string>& cell_keys,
                   const std::vector<std::string>& only_methods = {}) const;
  // One run with its curve.
  std::optional<RunRecord> run_with_curve(const std::string& cell_key) const;
  // Every run of every experiment, with curves (result files being merged).
  std::vector<RunRecord> all_runs_with_curves() const;
  // Status ("ok" / "failed") and finish time of a cell's run, if stored.
  std::optional<std::pair<std::string, std::string>> status(const std::string& cell_key) const;
  // The baseline digest of a cell's run ('' when not stored or unknown).
  std::string baseline_digest(const std::string& cell_key) const;
  const std::string& path() const { return path_; }

 private:
  void exec(const char* sql) const;
  void rename_legacy_names();
  void add_missing_columns();
  std::string path_;
  sqlite3* db_ = nullptr;
};

}  // namespace qretrain::report
