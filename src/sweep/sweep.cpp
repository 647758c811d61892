#include "sweep/sweep.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <thread>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "methods/kinds.h"
#include "methods/session.h"
#include "models/network.h"
#include "sweep/cell_files.h"
#include "train/stop.h"
#include "util/error.h"
#include "util/fsutil.h"
#include "util/log.h"

namespace qretrain::sweep {

// A cell process's exit status when its program could not be executed (the
// shell's convention for "command not found").
constexpr int kCannotStart = 127;

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

CellState cell_state(const report::Store& store, const std::string& key, const SweepOptions& opt) {
  if (opt.force) return CellState::Todo;
  auto s = store.status(key);
  if (!s) return CellState::Todo;
  if (s->first == "ok") return CellState::Done;
  return opt.retry_failed ? CellState::Todo : CellState::Failed;
}

int cores_per_job(int jobs) {
  const int cores = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  return std::max(1, cores / std::max(1, jobs));
}

std::vector<std::string> thread_overrides(const config::ExperimentConfig& cfg, int cores) {
  // The cell plans its threads within its share (app::plan_threads) on the
  // machine it runs on, whose CPU decides runtime.gemm: auto.
  const int share = std::max(1, cores);
  return {fmt::format("runtime.cores={}", cfg.runtime.cores > 0 ? std::min(cfg.runtime.cores, share) : share)};
}

namespace {

std::string duration_text(double s) {
  if (!(s >= 0) || s > 1e7) return "?";
  const long t = std::lround(s);
  if (t >= 3600) return fmt::format("{}h{:02}m", t / 3600, (t % 3600) / 60);
  if (t >= 60) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}s", t);
}

// The one progress line of a sweep: rewritten in place on a terminal,
// a line per change otherwise (logs, CI).
class SweepProgress {
 public:
  SweepProgress(std::size_t total, int jobs) : total_(total), jobs_(jobs), tty_(::isatty(STDERR_FILENO) == 1) {}
  void show(std::size_t done, std::size_t failed, std::size_t running, const std::string& event) {
    const double elapsed = std::chrono::duration<double>(Clock::now() - start_).count();
    const std::size_t left = total_ - done - failed;
    std::string eta = "?";
    if (finished_here_ > 0) {
      // Cells left times the mean cell time of this sweep, spread over the jobs.
      const double per_cell = cell_seconds_ / static_cast<double>(finished_here_);
      eta = duration_text(per_cell * static_cast<double>(left) / std::max(1, jobs_));
    }
    const std::string line = fmt::format("[sweep] {}/{} done, {} running, {} failed | elapsed {} | ETA {}{}", done,
                                         total_, running, failed, duration_text(elapsed), eta,
                                         event.empty() ? "" : " | " + event);
    if (tty_) std::cerr << "\r\033[K" << line << std::flush;
    else std::cerr << line << "\n";
  }
  void cell_finished(double seconds) {
    cell_seconds_ += seconds;
    ++finished_here_;
  }
  void finish() {
    if (tty_) std::cerr << "\n";
  }

 private:
  std::size_t total_;
  int jobs_;
  bool tty_;
  Clock::time_point start_ = Clock::now();
  double cell_seconds_ = 0;
  std::size_t finished_here_ = 0;
};

struct Running {
  std::size_t cell;
  Clock::time_point started;
};

// Starts `qretrain cell` for one cell; its output goes to the cell's log.
pid_t spawn_cell(const SweepOptions& opt, const std::vector<std::string>& threads, const std::string& output_dir,
                 const std::string& key) {
  std::vector<std::string> args = {opt.program, "cell", "--config", opt.config_path};
  for (const auto& o : opt.overrides) args.insert(args.end(), {"--set", o});
  for (const auto& o : threads) args.insert(args.end(), {"--set", o});
  args.insert(args.end(), {"--set", "runtime.progress=off", "--key", key});
  const fs::path log_path = fs::path(output_dir) / "logs" / "cells" / (key + ".log");
  fs::create_directories(log_path.parent_path());
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  // Stop signals are held across fork(): a SIGTERM forwarded to the new
  // cell before it execs must not run the sweep's handler in it (that would
  // swallow it, and the cell would then train on); the child restores the
  // default action first, so a held one ends it.
  sigset_t stops, before;
  sigemptyset(&stops);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGTERM);
  ::sigprocmask(SIG_BLOCK, &stops, &before);
  const pid_t pid = ::fork();
  if (pid != 0) {
    const int fork_errno = errno;
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    if (pid < 0) throw std::runtime_error(fmt::format("fork: {}", std::strerror(fork_errno)));
  }
  if (pid == 0) {
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    ::signal(SIGCHLD, SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &before, nullptr);
    // The sweep's main thread blocks stop signals (a watcher thread takes
    // them, app/runtime.h); the cell starts with them open, so a held one
    // ends it here, before it runs anything.
    ::sigprocmask(SIG_UNBLOCK, &stops, nullptr);
    // A cell whose sweep dies (even by SIGKILL) saves its state and stops
    // rather than running on unwatched.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(130);
    const int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      ::dup2(fd, STDOUT_FILENO);
      ::dup2(fd, STDERR_FILENO);
      ::close(fd);
    }
    // The sweep's own executable, even if the file was rebuilt or removed
    // since it started: every cell of a sweep runs the same program, and a
    // rebuild mid-sweep cannot make cells fail to start.
    ::execv("/proc/self/exe", argv.data());
    // No allocation between fork and exit: plain writes of the reason.
    const char* reason = std::strerror(errno);
    for (const char* part : {"cannot start ", static_cast<const char*>(argv[0]), ": ", reason, "\n"})
      if (::write(STDERR_FILENO, part, std::strlen(part)) < 0) break;
    ::_exit(kCannotStart);
  }
  return pid;
}

// The last non-empty line of a cell's log: the reason a process died.
std::string last_log_line(const std::string& output_dir, const std::string& key) {
  const fs::path log_path = fs::path(output_dir) / "logs" / "cells" / (key + ".log");
  std::string text;
  try {
    text = read_text_file(log_path);
  } catch (const std::exception&) {
    return "";
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  const auto nl = text.rfind('\n');
  std::string line = nl == std::string::npos ? text : text.substr(nl + 1);
  return line.size() > 300 ? line.substr(0, 300) : line;
}

// The sweep's wake-up: SIGINT/SIGTERM and SIGCHLD write a byte to a pipe,
// and the loop sleeps in poll() on it rather than in a blocking waitpid().
// A stop signal that arrives between the loop's check of the stop flag and
// a blocking waitpid() would otherwise sit unforwarded until some cell ends
// (hours); with the pipe, a signal at any moment wakes the loop at once,
// whichever thread the kernel delivers it to.
int g_wake_fds[2] = {-1, -1};

void wake_loop() {
  if (g_wake_fds[1] < 0) return;
  const char byte = 1;
  // Non-blocking: when the pipe is full a wake-up is pending anyway.
  [[maybe_unused]] const ssize_t n = ::write(g_wake_fds[1], &byte, 1);
}

void on_stop_signal(int) {
  const int saved = errno;
  train::g_stop_requested = true;
  wake_loop();
  errno = saved;
}

void on_child_signal(int) {
  const int saved = errno;
  wake_loop();
  errno = saved;
}

// Installs the handlers and the pipe for one sweep; restores the previous
// handlers when the sweep returns or throws.
class WakeOnSignals {
 public:
  WakeOnSignals() {
    if (::pipe2(g_wake_fds, O_CLOEXEC | O_NONBLOCK) != 0)
      throw std::runtime_error(fmt::format("pipe: {}", std::strerror(errno)));
    struct sigaction sa {};
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // nothing relies on EINTR any more; other calls are spared it
    sa.sa_handler = on_stop_signal;
    ::sigaction(SIGINT, &sa, &old_int_);
    ::sigaction(SIGTERM, &sa, &old_term_);
    sa.sa_handler = on_child_signal;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    ::sigaction(SIGCHLD, &sa, &old_chld_);
  }
  ~WakeOnSignals() {
    ::sigaction(SIGINT, &old_int_, nullptr);
    ::sigaction(SIGTERM, &old_term_, nullptr);
    ::sigaction(SIGCHLD, &old_chld_, nullptr);
    const int r = g_wake_fds[0], w = g_wake_fds[1];
    g_wake_fds[0] = g_wake_fds[1] = -1;
    ::close(r);
    ::close(w);
  }
  WakeOnSignals(const WakeOnSignals&) = delete;
  WakeOnSignals& operator=(const WakeOnSignals&) = delete;

  // Sleeps until a signal or a cell's end (or `timeout_ms`, as a backstop),
  // then empties the pipe; the caller looks at the flag and at waitpid().
  void wait(int timeout_ms) const {
    struct pollfd p {};
    p.fd = g_wake_fds[0];
    p.events = POLLIN;
    ::poll(&p, 1, timeout_ms);  // EINTR is a wake-up like any other
    char buf[64];
    while (::read(g_wake_fds[0], buf, sizeof buf) > 0) {
    }
  }

 private:
  struct sigaction old_int_ {}, old_term_ {}, old_chld_ {};
};

}  // namespace

int run_sweep(const config::ExperimentConfig& cfg, const methods::Grid& grid, report::Store& store,
              const SweepOptions& opt) {
  auto log = log::get("sweep");
  const std::string& out = cfg.output_dir;
  // Results published by cells of an earlier, interrupted sweep (or by Slurm
  // tasks) that were not merged yet.
  const CollectReport merged = collect(store, out);
  for (const auto& u : merged.unreadable) log->warn("unreadable result file {}", u);
  if (merged.merged) log->info("merged {} results of earlier cells into {}", merged.merged, store.path());
  const std::string& archive = cfg.output_archive;
  if (!archive.empty()) {
    const CollectReport kept = collect_archive(store, archive);
    for (const auto& u : kept.unreadable) log->warn("unreadable archived result file {}", u);
    log->info("archive {}: {} result files, {} runs merged into the store", archive, kept.files, kept.merged);
  }

  const std::size_t n = grid.cells.size();
  enum class S { Pending, Running, Done, Failed };
  std::vector<S> state(n, S::Pending);
  std::size_t done = 0, failed = 0;
  for (std::size_t i = 0; i < n; ++i) {
    switch (cell_state(store, grid.cells[i].key, opt)) {
      case CellState::Done: state[i] = S::Done, ++done; break;
      case CellState::Failed: state[i] = S::Failed, ++failed; break;
      case CellState::Todo:
        if (opt.force) fs::remove(methods::resume_file(grid.variants[grid.cells[i].variant], grid.cells[i].method,
                                                       grid.cells[i].bits, grid.cells[i].seed));
        break;
    }
  }
  // A group (network variant, seed) shares one float baseline: each cell's
  // group float cell, and what depends on each cell.
  std::vector<std::ptrdiff_t> float_cell(n, -1);
  std::vector<std::vector<std::size_t>> dependents(n);
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t d : grid.cells[i].after) dependents[d].push_back(i);
    if (!methods::is_baseline(grid.cells[i].method)) continue;
    for (std::size_t j = 0; j < n; ++j)
      if (grid.cells[j].variant == grid.cells[i].variant && grid.cells[j].seed == grid.cells[i].seed)
        float_cell[j] = static_cast<std::ptrdiff_t>(i);
  }
  // A finished cell runs again, with every finished cell computed from it.
  auto run_again = [&](std::size_t first, const std::string& why) {
    std::vector<std::size_t> todo = {first};
    while (!todo.empty()) {
      const std::size_t j = todo.back();
      todo.pop_back();
      if (state[j] != S::Done) continue;
      state[j] = S::Pending;
      --done;
      log->info("{}: running it again ({})", grid.cells[j].name(), why);
      for (std::size_t k : dependents[j]) todo.push_back(k);
    }
  };
  // Finished cells of float cell f's group that started from another
  // baseline than the one f now holds (it was trained again since).
  auto run_stale_again = [&](std::size_t f) {
    const std::string digest = store.baseline_digest(grid.cells[f].key);
    if (digest.empty()) return;
    for (std::size_t j = 0; j < n; ++j) {
      if (j == f || float_cell[j] != static_cast<std::ptrdiff_t>(f) || state[j] != S::Done) continue;
      const std::string d = store.baseline_digest(grid.cells[j].key);
      if (!d.empty() && d != digest) run_again(j, "it started from another float baseline than the one stored");
    }
  };
  for (std::size_t f = 0; f < n; ++f) {
    const methods::Cell& c = grid.cells[f];
    if (!methods::is_baseline(c.method) || state[f] != S::Done) continue;
    bool unfinished = false;
    for (std::size_t j = 0; j < n; ++j)
      unfinished = unfinished || (j != f && float_cell[j] == static_cast<std::ptrdiff_t>(f) && state[j] == S::Pending);
    std::string identity;
    if (unfinished && !fs::exists(methods::baseline_file(grid.variants[c.variant], c.seed, &identity))) {
      // Its result came from elsewhere (the archive, another machine), its
      // weights did not: the cells still to run need them. Trained again
      // first, once; on another CPU or thread count they may come out
      // different, and then the group's finished cells run again too.
      state[f] = S::Pending;
      --done;
      log->info("{}: its float weights are not on this machine; training it again before the rest of its group",
                c.name());
    } else {
      run_stale_again(f);
    }
  }
  const auto threads = thread_overrides(cfg, cores_per_job(opt.jobs));
  log->info("sweep '{}': {} cells, {} done, {} failed before; {} at a time with {} each", cfg.name, n, done, failed,
            opt.jobs, fmt::join(threads, " "));

  SweepProgress progress(n, opt.jobs);
  std::map<pid_t, Running> running;
  bool stopping = false;
  auto finish_cell = [&](std::size_t i, const std::string& status, const std::string& event) {
    state[i] = status == "ok" ? S::Done : S::Failed;
    ++(status == "ok" ? done : failed);
    progress.show(done, failed, running.size(), event);
  };
  auto fail_cell = [&](std::size_t i, const std::string& reason) {
    const methods::Cell& c = grid.cells[i];
    publish_failure(out, c.key, failure_record(grid.variants[c.variant], c, reason));
    collect_one(store, out, c.key);
    archive_cell_file(out, archive, c.key);
    finish_cell(i, "failed", fmt::format("failed: {} ({})", c.name(), reason));
  };

  const WakeOnSignals wake;
  progress.show(done, failed, 0, "");
  while (true) {
    if (train::g_stop_requested && !stopping) {
      stopping = true;
      for (const auto& [pid, r] : running) ::kill(pid, SIGTERM);
      progress.show(done, failed, running.size(), "stopping: running cells save their state");
    }
    // Start what may start: a cell whose dependencies succeeded; a cell whose
    // dependency failed is a failure itself.
    bool changed = true;
    while (!stopping && !train::g_stop_requested && changed) {  // no new cell once a stop is asked for
      changed = false;
      for (std::size_t i = 0; i < n && running.size() < static_cast<std::size_t>(opt.jobs) && !train::g_stop_requested;
           ++i) {
        if (state[i] != S::Pending) continue;
        const methods::Cell& c = grid.cells[i];
        bool ready = true;
        std::string blocked;
        for (std::size_t d : c.after) {
          if (state[d] == S::Failed) blocked = grid.cells[d].name();
          else if (state[d] != S::Done) ready = false;
        }
        if (!blocked.empty()) {
          fail_cell(i, "dependency failed: " + blocked);
          changed = true;
          continue;
        }
        if (!ready) continue;
        fs::remove(cell_file(out, c.key));  // a --force / --retry-failed rerun replaces it
        const pid_t pid = spawn_cell(opt, threads, out, c.key);
        running[pid] = {i, Clock::now()};
        state[i] = S::Running;
        changed = true;
        progress.show(done, failed, running.size(), "started " + c.name());
      }
    }
    if (running.empty()) break;
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(fmt::format("waitpid: {}", std::strerror(errno)));
    }
    if (pid == 0) {
      // Nothing ended yet: sleep until a signal or a cell's end wakes the
      // loop, whose head forwards a stop to the running cells.
      wake.wait(1000);
      continue;
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;
    const Running r = it->second;
    running.erase(it);
    const methods::Cell& c = grid.cells[r.cell];
    const double seconds = std::chrono::duration<double>(Clock::now() - r.started).count();
    std::string published;
    try {
      published = collect_one(store, out, c.key);
    } catch (const std::exception& e) {
      log->warn("{}", e.what());
    }
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (!published.empty()) {
      archive_cell_file(out, archive, c.key);
      progress.cell_finished(seconds);
      finish_cell(r.cell, published, fmt::format("{} {} in {}", c.name(), published, duration_text(seconds)));
      if (methods::is_baseline(c.method) && published == "ok") run_stale_again(r.cell);
    } else if (WIFEXITED(status) && code == kCannotStart) {
      // Not a result of the cell: its process never ran. Nothing is
      // recorded, and no further cell is started (they would fail alike).
      state[r.cell] = S::Pending;
      log->error("{}: {}; nothing recorded for it, no further cell started", c.name(), last_log_line(out, c.key));
      stopping = true;
    } else if (code == 130 || (stopping && WIFSIGNALED(status))) {
      state[r.cell] = S::Pending;  // interrupted: resumes from its saved state next time
      progress.show(done, failed, running.size(), "interrupted " + c.name());
    } else {
      const std::string reason =
          WIFSIGNALED(status) ? fmt::format("process killed by signal {} ({})", WTERMSIG(status),
                                            strsignal(WTERMSIG(status)))
                              : fmt::format("process exited with status {}: {}", code, last_log_line(out, c.key));
      fail_cell(r.cell, reason);
    }
  }
  progress.finish();
  if (stopping) {
    log->info("sweep '{}' stopped: {} of {} cells done, {} failed; run it again to continue", cfg.name, done, n,
              failed);
    return 130;
  }
  log->info("sweep '{}': all {} cells have results ({} failed) in {}", cfg.name, n, failed, store.path());
  return 0;
}

}  // namespace qretrain::sweep
