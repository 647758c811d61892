#include "report/store.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>

#include "methods/kinds.h"
#include "util/error.h"

namespace qretrain::report {
namespace {

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS runs (
  id INTEGER PRIMARY KEY,
  cell_key TEXT NOT NULL UNIQUE,
  experiment TEXT NOT NULL,
  dataset TEXT NOT NULL,
  network TEXT NOT NULL,
  method TEXT NOT NULL,
  bits INTEGER NOT NULL,
  seed INTEGER NOT NULL,
  step_policy TEXT NOT NULL,
  status TEXT NOT NULL,
  failure TEXT NOT NULL,
  metric TEXT NOT NULL DEFAULT 'error_pct',
  test_metric REAL,
  dev_metric REAL,
  epochs INTEGER NOT NULL,
  updates INTEGER NOT NULL,
  wall_s REAL NOT NULL,
  samples_per_s REAL NOT NULL,
  group_names TEXT NOT NULL,
  config_yaml TEXT NOT NULL,
  commit_id TEXT NOT NULL,
  machine TEXT NOT NULL,
  started_at TEXT NOT NULL,
  finished_at TEXT NOT NULL,
  identity_scheme INTEGER NOT NULL DEFAULT 1,
  note TEXT NOT NULL DEFAULT '',
  stop_reason TEXT NOT NULL DEFAULT '',
  baseline_digest TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS runs_by_experiment ON runs(experiment);
CREATE TABLE IF NOT EXISTS evals (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  idx INTEGER NOT NULL,
  epoch INTEGER NOT NULL,
  updates INTEGER NOT NULL,
  lr REAL NOT NULL,
  train_loss REAL,
  dev_metric REAL NOT NULL,
  elapsed_s REAL NOT NULL,
  PRIMARY KEY (run_id, idx)
);
CREATE TABLE IF NOT EXISTS step_sizes (
  run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
  eval_idx INTEGER NOT NULL,
  grp INTEGER NOT NULL,
  delta REAL NOT NULL,
  PRIMARY KEY (run_id, eval_idx, grp)
);
)sql";

// A prepared statement with positional binding helpers.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql, const std::string& where) : db_(db), where_(where) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK)
      throw std::runtime_error(fmt::format("{}: {}", where, sqlite3_errmsg(db)));
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, double v) {
    if (std::isnan(v)) sqlite3_bind_null(stmt_, i);
    else sqlite3_bind_double(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  Statement& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  // Binds the arguments to parameters 1, 2, ... in order.
  template <typename... Args>
  Statement& bind_all(const Args&... args) {
    int i = 0;
    (bind(++i, args), ...);
    return *this;
  }
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw std::runtime_error(fmt::format("{}: {}", where_, sqlite3_errmsg(db_)));
  }
  void reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string text(int col) const {
    auto* p = sqlite3_column_text(stmt_, col);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  double real(int col) const {
    return sqlite3_column_type(stmt_, col) == SQLITE_NULL ? std::nan("") : sqlite3_column_double(stmt_, col);
  }
  std::int64_t integer(int col) const { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  std::string where_;
};

std::string join_names(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : "\n") + n;
  return out;
}

std::vector<std::string> split_names(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size() && !s.empty()) {
    std::size_t nl = s.find('\n', start);
    out.push_back(s.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

constexpr const char* kRunColumns =
    "id, cell_key, experiment, dataset, network, method, bits, seed, step_policy, status, failure, test_metric, "
    "dev_metric, epochs, updates, wall_s, samples_per_s, group_names, config_yaml, commit_id, machine, started_at, "
    "finished_at, identity_scheme, note, stop_reason, baseline_digest";

RunRecord read_run(const Statement& s) {
  RunRecord r;
  int c = 1;
  r.cell_key = s.text(c++);
  r.experiment = s.text(c++);
  r.dataset = s.text(c++);
  r.network = s.text(c++);
  r.method = s.text(c++);
  r.bits = static_cast<int>(s.integer(c++));
  r.seed = static_cast<int>(s.integer(c++));
  r.step_policy = s.text(c++);
  r.status = s.text(c++);
  r.failure = s.text(c++);
  r.test_metric = s.real(c++);
  r.dev_metric = s.real(c++);
  r.epochs = static_cast<int>(s.integer(c++));
  r.updates = s.integer(c++);
  r.wall_s = s.real(c++);
  r.samples_per_s = s.real(c++);
  r.group_names = split_names(s.text(c++));
  r.config_yaml = s.text(c++);
  r.commit = s.text(c++);
  r.machine = s.text(c++);
  r.started_at = s.text(c++);
  r.finished_at = s.text(c++);
  r.identity_scheme = static_cast<int>(s.integer(c++));
  r.note = s.text(c++);
  r.stop_reason = s.text(c++);
  r.baseline_digest = s.text(c++);
  return r;
}

}  // namespace

Store::Store(const std::string& path) : path_(path) {
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
    std::string msg = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw UserError(fmt::format("{}: cannot open results store ({})", path, msg));
  }
  sqlite3_busy_timeout(db_, 30000);
  try {
    exec("PRAGMA foreign_keys = ON;");
    rename_legacy_names();  // before the schema, which would create the new tables empty beside the old ones
    exec(kSchema);
    add_missing_columns();
  } catch (const std::exception& e) {
    sqlite3_close(db_);
    throw UserError(fmt::format("{}: not a usable results store ({})", path, e.what()));
  }
}

Store::~Store() { sqlite3_close(db_); }

// Stores made before "steps" meant only step sizes (Δ) carry the older
// names: the table of Δ was `steps`, and update counts were runs.steps and
// evals.step. They are renamed in one transaction (SQLite >= 3.25 renames
// columns in place), so old stores stay readable; a store already renamed,
// or new, is left as it is.
void Store::rename_legacy_names() {
  exec("BEGIN IMMEDIATE;");
  try {
    auto columns_of = [&](const char* table) {
      std::set<std::string> columns;
      Statement cols(db_, fmt::format("PRAGMA table_info({})", table).c_str(), path_);
      while (cols.step()) columns.insert(cols.text(1));
      return columns;
    };
    if (!columns_of("steps").empty()) {
      // An older build that opened a renamed store made an empty `steps`
      // beside it; a `step_sizes` that is empty beside a `steps` was made
      // the other way round. Only one of them may hold step sizes.
      auto rows_in = [&](const char* table) {
        Statement count(db_, fmt::format("SELECT COUNT(*) FROM {}", table).c_str(), path_);
        return count.step() ? count.integer(0) : 0;
      };
      const bool renamed = !columns_of("step_sizes").empty();
      if (renamed && rows_in("steps") > 0 && rows_in("step_sizes") > 0)
        throw std::runtime_error("both the older table `steps` and `step_sizes` hold step sizes");
      if (renamed && rows_in("steps") == 0) {
        exec("DROP TABLE steps;");
      } else {
        if (renamed) exec("DROP TABLE step_sizes;");
        exec("ALTER TABLE steps RENAME TO step_sizes;");
      }
    }
    if (columns_of("runs").count("steps")) exec("ALTER TABLE runs RENAME COLUMN steps TO updates;");
    if (columns_of("evals").count("step")) exec("ALTER TABLE evals RENAME COLUMN step TO updates;");
    exec("COMMIT;");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
    throw;
  }
}

// Stores made before a column existed gain it, with its default, in one
// transaction: processes opening the same old store at once (a sweep and
// its cells) add it once. Runs stored before identity_scheme existed are of
// scheme 1 (its default): readable, never matched by a current cell key.
void Store::add_missing_columns() {
  static const std::pair<const char*, const char*> kAdded[] = {
      {"identity_scheme", "ALTER TABLE runs ADD COLUMN identity_scheme INTEGER NOT NULL DEFAULT 1;"},
      {"note", "ALTER TABLE runs ADD COLUMN note TEXT NOT NULL DEFAULT '';"},
      {"stop_reason", "ALTER TABLE runs ADD COLUMN stop_reason TEXT NOT NULL DEFAULT '';"},
      {"baseline_digest", "ALTER TABLE runs ADD COLUMN baseline_digest TEXT NOT NULL DEFAULT '';"},
  };
  exec("BEGIN IMMEDIATE;");
  try {
    std::set<std::string> columns;
    {
      Statement cols(db_, "PRAGMA table_info(runs)", path_);
      while (cols.step()) columns.insert(cols.text(1));
    }
    for (const auto& [name, sql] : kAdded)
      if (!columns.count(name)) exec(sql);
    exec("COMMIT;");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
    throw;
  }
}

void Store::exec(const char* sql) const {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error(fmt::format("{}: {}", path_, msg));
  }
}

void Store::put(const RunRecord& r) {
  exec("BEGIN IMMEDIATE;");
  try {
    Statement del(db_, "DELETE FROM runs WHERE cell_key = ?", path_);
    del.bind(1, r.cell_key).step();

    Statement ins(db_,
                  "INSERT INTO runs (cell_key, experiment, dataset, network, method, bits, seed, step_policy, status, "
                  "failure, test_metric, dev_metric, epochs, updates, wall_s, samples_per_s, group_names, config_yaml, "
                  "commit_id, machine, started_at, finished_at, identity_scheme, note, stop_reason, baseline_digest) "
                  "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  path_);
    ins.bind_all(r.cell_key, r.experiment, r.dataset, r.network, r.method, r.bits, r.seed, r.step_policy, r.status,
                 r.failure, r.test_metric, r.dev_metric, r.epochs, r.updates, r.wall_s, r.samples_per_s,
                 join_names(r.group_names), r.config_yaml, r.commit, r.machine, r.started_at, r.finished_at,
                 r.identity_scheme, r.note, r.stop_reason, r.baseline_digest);
    ins.step();
    const std::int64_t run_id = sqlite3_last_insert_rowid(db_);

    Statement ev(db_,
                 "INSERT INTO evals (run_id, idx, epoch, updates, lr, train_loss, dev_metric, elapsed_s) "
                 "VALUES (?,?,?,?,?,?,?,?)",
                 path_);
    Statement st(db_, "INSERT INTO step_sizes (run_id, eval_idx, grp, delta) VALUES (?,?,?,?)", path_);
    for (std::size_t i = 0; i < r.curve.size(); ++i) {
      const auto& p = r.curve[i];
      ev.bind_all(run_id, static_cast<int>(i), p.epoch, p.updates, p.lr, p.train_loss, p.dev_metric, p.elapsed_s);
      ev.step();
      ev.reset();
      for (std::size_t g = 0; g < p.deltas.size(); ++g) {
        st.bind_all(run_id, static_cast<int>(i), static_cast<int>(g), p.deltas[g]);
        st.step();
        st.reset();
      }
    }
    exec("COMMIT;");
  } catch (...) {
    sqlite3_exec(db_, "ROLLBACK;", nullptr, nullptr, nullptr);
    throw;
  }
}

bool Store::has_ok(const std::string& cell_key) const {
  Statement s(db_, "SELECT 1 FROM runs WHERE cell_key = ? AND status = 'ok'", path_);
  s.bind(1, cell_key);
  return s.step();
}

std::vector<RunRecord> Store::runs(const std::string& experiment) const {
  Statement s(db_, fmt::format("SELECT {} FROM runs WHERE experiment = ? ORDER BY id", kRunColumns).c_str(), path_);
  s.bind(1, experiment);
  std::vector<RunRecord> out;
  while (s.step()) out.push_back(read_run(s));
  return out;
}

bool stale_against(const RunRecord& run, const RunRecord& float_run) {
  return !run.baseline_digest.empty() && !float_run.baseline_digest.empty() &&
         run.baseline_digest != float_run.baseline_digest;
}

Selection Store::select(const std::string& experiment, const std::vector<std::string>& cell_keys,
                        const std::vector<std::string>& only_methods) const {
  const std::set<std::string> wanted(cell_keys.begin(), cell_keys.end());
  std::vector<RunRecord> chosen;
  Selection out;
  for (auto& r : runs(experiment)) {
    if (wanted.count(r.cell_key)) chosen.push_back(std::move(r));
    else if (r.identity_scheme < config::kIdentityScheme) ++out.older_scheme;
    else ++out.other_settings;
  }
  // The float run of each (network, seed): the baseline its group must share.
  std::map<std::pair<std::string, int>, const RunRecord*> float_of;
  for (const auto& r : chosen)
    if (methods::is_baseline(r.method) && r.status == "ok") float_of[{r.network, r.seed}] = &r;
  const auto shown = [&](const RunRecord& r) {
    return only_methods.empty() || std::find(only_methods.begin(), only_methods.end(), r.method) != only_methods.end();
  };
  std::vector<bool> keep(chosen.size(), true);
  for (std::size_t i = 0; i < chosen.size(); ++i) {
    if (!shown(chosen[i])) {
      keep[i] = false;
      continue;
    }
    auto f = float_of.find({chosen[i].network, chosen[i].seed});
    if (!methods::is_baseline(chosen[i].method) && f != float_of.end() && stale_against(chosen[i], *f->second)) {
      keep[i] = false;
      ++out.stale;
    }
  }
  for (std::size_t i = 0; i < chosen.size(); ++i)
    if (keep[i]) out.runs.push_back(std::move(chosen[i]));
  // Start order, not insertion order: a store filled from archived result files
  // (merged in file-name order) must give the same tables and report, with the
  // same commit, machine and network lists, as the store the runs were made in.
  std::stable_sort(out.runs.begin(), out.runs.end(),
                   [](const RunRecord& a, const RunRecord& b) { return a.started_at < b.started_at; });
  return out;
}

std::optional<RunRecord> Store::run_with_curve(const std::string& cell_key) const {
  Statement s(db_, fmt::format("SELECT {} FROM runs WHERE cell_key = ?", kRunColumns).c_str(), path_);
  s.bind(1, cell_key);
  if (!s.step()) return std::nullopt;
  RunRecord r = read_run(s);
  const std::int64_t id = s.integer(0);
  Statement ev(db_, "SELECT epoch, updates, lr, train_loss, dev_metric, elapsed_s FROM evals WHERE run_id = ? ORDER BY idx",
               path_);
  ev.bind(1, id);
  while (ev.step()) {
    train::EvalPoint p;
    p.epoch = static_cast<int>(ev.integer(0));
    p.updates = ev.integer(1);
    p.lr = ev.real(2);
    p.train_loss = ev.real(3);
    p.dev_metric = ev.real(4);
    p.elapsed_s = ev.real(5);
    r.curve.push_back(p);
  }
  Statement st(db_, "SELECT eval_idx, delta FROM step_sizes WHERE run_id = ? ORDER BY eval_idx, grp", path_);
  st.bind(1, id);
  while (st.step()) {
    // put() writes a step size for an evaluation it also writes; a row that
    // points elsewhere is a damaged (or hand-edited) store, not a bug here.
    const std::int64_t idx = st.integer(0);
    if (idx < 0 || idx >= static_cast<std::int64_t>(r.curve.size()))
      throw UserError(fmt::format("{}: damaged results store: run {} has a step size for evaluation {}, but {} "
                                  "evaluations",
                                  path_, cell_key, idx, r.curve.size()));
    r.curve[static_cast<std::size_t>(idx)].deltas.push_back(st.real(1));
  }
  return r;
}

std::vector<RunRecord> Store::all_runs_with_curves() const {
  std::vector<std::string> keys;
  {
    Statement s(db_, "SELECT cell_key FROM runs ORDER BY id", path_);
    while (s.step()) keys.push_back(s.text(0));
  }
  std::vector<RunRecord> out;
  for (const auto& k : keys) out.push_back(*run_with_curve(k));
  return out;
}

std::optional<std::pair<std::string, std::string>> Store::status(const std::string& cell_key) const {
  Statement s(db_, "SELECT status, finished_at FROM runs WHERE cell_key = ?", path_);
  s.bind(1, cell_key);
  if (!s.step()) return std::nullopt;
  return std::make_pair(s.text(0), s.text(1));
}

std::string Store::baseline_digest(const std::string& cell_key) const {
  Statement s(db_, "SELECT baseline_digest FROM runs WHERE cell_key = ?", path_);
  s.bind(1, cell_key);
  return s.step() ? s.text(0) : "";
}

}  // namespace qretrain::report
