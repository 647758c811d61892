#include "util/log.h"

#include <filesystem>
#include <mutex>
#include <vector>

#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>

namespace qretrain::log {
namespace {

struct Registry {
  std::mutex mutex;
  std::vector<spdlog::sink_ptr> sinks;
  std::vector<std::shared_ptr<spdlog::logger>> loggers;
  spdlog::level::level_enum level = spdlog::level::info;
  Registry() {
    auto err = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
    err->set_pattern("%^[%H:%M:%S] [%n]%$ %v");
    sinks.push_back(err);
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

std::shared_ptr<spdlog::logger> get(const std::string& subsystem) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  for (auto& l : r.loggers)
    if (l->name() == subsystem) return l;
  auto l = std::make_shared<spdlog::logger>(subsystem, r.sinks.begin(), r.sinks.end());
  l->set_level(r.level);
  r.loggers.push_back(l);
  return l;
}

void add_file(const std::string& path) {
  auto& r = registry();
  std::filesystem::path p(path);
  if (p.has_parent_path()) std::filesystem::create_directories(p.parent_path());
  auto file = std::make_shared<spdlog::sinks::basic_file_sink_mt>(path);
  file->set_pattern("[%Y-%m-%d %H:%M:%S] [%n] %v");
  std::lock_guard<std::mutex> lock(r.mutex);
  r.sinks.push_back(file);
  for (auto& l : r.loggers) l->sinks().push_back(file);
}

void set_level(spdlog::level::level_enum level) {
  auto& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.level = level;
  for (auto& l : r.loggers) l->set_level(level);
}

}  // namespace qretrain::log
