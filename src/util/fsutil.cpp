#include "util/fsutil.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "util/error.h"

namespace qretrain {

namespace fs = std::filesystem;

fs::path atomic_temp_path(const fs::path& path) {
  fs::path tmp = path;
  tmp += fmt::format(".tmp{}", ::getpid());
  return tmp;
}

void atomic_write(const fs::path& path, const std::function<void(const fs::path&)>& write) {
  if (path.has_parent_path()) fs::create_directories(path.parent_path());
  const fs::path tmp = atomic_temp_path(path);
  try {
    write(tmp);
    fs::rename(tmp, path);
  } catch (...) {
    std::error_code ignored;
    fs::remove(tmp, ignored);
    throw;
  }
}

void atomic_write_text(const fs::path& path, const std::string& text) {
  atomic_write(path, [&](const fs::path& tmp) {
    std::ofstream out(tmp, std::ios::binary);
    out << text;
    out.flush();
    if (!out) throw UserError(fmt::format("{}: cannot write", tmp.string()));
  });
}

namespace {

// "KEY: PATH: why"; `part`, when it is not PATH itself, is the part of PATH
// at fault and leads the reason.
[[noreturn]] void unwritable(const std::string& what, const fs::path& path, const fs::path& part,
                             const std::string& why) {
  const std::string lead = part.empty() || part == path ? "" : part.string() + " ";
  throw UserError(fmt::format("{}: {}: {}{}", what, path.string(), lead, why));
}

// The longest file name the file system holding the folder `dir` accepts.
std::size_t name_max(const fs::path& dir) {
  const long n = ::pathconf(dir.empty() ? "." : dir.c_str(), _PC_NAME_MAX);
  return n > 0 ? static_cast<std::size_t>(n) : 255;
}

void require_name_fits(const std::string& what, const fs::path& shown, const std::string& name, std::size_t max) {
  if (name.size() > max)
    unwritable(what, shown, {}, fmt::format("file name too long ({} characters; at most {} here)", name.size(), max));
}

// The nearest folder of `dir` that exists (`dir` itself, or "" for the
// working folder when no part of a relative path exists); the names below
// it that do not exist yet go to `missing`. A part that exists but is not a
// folder, or that cannot be looked at (a symlink loop, no permission), fails.
fs::path existing_base(const fs::path& dir, const fs::path& shown, const std::string& what,
                       std::vector<std::string>& missing) {
  fs::path base, cur;
  for (const auto& part : dir) {
    if (part.empty()) continue;  // a trailing slash
    cur /= part;
    if (!missing.empty()) {
      missing.push_back(part.string());
      continue;
    }
    struct stat st {};
    if (::stat(cur.c_str(), &st) == 0) {
      if (!S_ISDIR(st.st_mode)) unwritable(what, shown, cur, "exists and is not a folder");
      base = cur;
      continue;
    }
    const int err = errno;
    // A name too long to exist is reported with its length, below.
    if (err != ENOENT && err != ENAMETOOLONG)
      unwritable(what, shown, cur, fmt::format("cannot be looked up ({})", std::strerror(err)));
    struct stat link {};
    if (::lstat(cur.c_str(), &link) == 0) unwritable(what, shown, cur, "is a symbolic link to nothing");
    missing.push_back(part.string());
  }
  return base;
}

// Creates and removes a uniquely named folder in `base`: the one reliable
// test that new entries can be made there (root passes permission checks,
// yet cannot create files under /proc or /sys). The name is unique so that
// processes checking one folder at once never see each other's probe, and
// the folder's modification time is put back: a command that fails after
// this check must leave no trace.
void probe_new_entry(const fs::path& base, const fs::path& shown, const std::string& what) {
  const fs::path at = base.empty() ? fs::path(".") : base;
  struct stat before {};
  const bool have_times = ::stat(at.c_str(), &before) == 0;
  std::string probe = (at / ".qretrain-probe-XXXXXX").string();
  if (::mkdtemp(probe.data()) == nullptr) {
    const int err = errno;
    unwritable(what, shown, {},
               fmt::format("cannot create files in {} ({})", base.empty() ? "the working folder" : base.string(),
                           std::strerror(err)));
  }
  ::rmdir(probe.c_str());
  if (have_times) {
    const struct timespec times[2] = {{0, UTIME_OMIT}, before.st_mtim};
    ::utimensat(AT_FDCWD, at.c_str(), times, 0);
  }
}

void check_dir(const fs::path& dir, const fs::path& shown, const std::string& what) {
  std::vector<std::string> missing;
  const fs::path base = existing_base(dir, shown, what, missing);
  const std::size_t max = name_max(base);
  for (const auto& name : missing) require_name_fits(what, shown, name, max);
  if (shown.string().size() >= PATH_MAX)
    unwritable(what, shown, {},
               fmt::format("path too long ({} characters; at most {})", shown.string().size(), PATH_MAX - 1));
  probe_new_entry(base, shown, what);
}

}  // namespace

void require_writable_dir(const fs::path& dir, const std::string& what) { check_dir(dir, dir, what); }

void require_writable_file(const fs::path& file, const std::string& what) {
  if (!file.has_filename()) unwritable(what, file, {}, "names a folder; expected a file name");
  const fs::path parent = file.parent_path();
  check_dir(parent, file, what);
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) unwritable(what, file, {}, "is a folder; expected a file name");
    // atomic_write replaces the file by a rename: that would put a plain
    // file in place of a device or pipe (as root, even /dev/null).
    if (!S_ISREG(st.st_mode)) unwritable(what, file, {}, "is not a regular file");
  }
  // Room for the suffix of the temporary written beside it.
  const std::string name = file.filename().string();
  const std::size_t suffix = atomic_temp_path(name).string().size() - name.size();
  std::vector<std::string> missing;
  const std::size_t max = name_max(existing_base(parent, file, what, missing));
  require_name_fits(what, file, name, max > suffix ? max - suffix : 0);
}

std::string read_text_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UserError(fmt::format("{}: cannot open for reading", path.string()));
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string stable_hash(const std::string& text) {
  std::uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return fmt::format("{:016x}", h);
}

std::string machine_description() {
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  std::string cpu = "unknown CPU";
  std::ifstream info("/proc/cpuinfo");
  for (std::string line; std::getline(info, line);) {
    if (line.rfind("model name", 0) == 0) {
      auto colon = line.find(':');
      if (colon != std::string::npos) cpu = line.substr(colon + 2);
      break;
    }
  }
  return fmt::format("{} ({}, {} cores)", host, cpu, std::thread::hardware_concurrency());
}

std::string current_time_iso() {
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  return buf;
}

}  // namespace qretrain
