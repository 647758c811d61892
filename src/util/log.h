// spdlog loggers tagged by subsystem ("[train]", "[data]", ...), all sharing
// one stderr sink and, once set, one log file.
#pragma once

#include <memory>
#include <string>

#include <spdlog/spdlog.h>

namespace qretrain::log {

std::shared_ptr<spdlog::logger> get(const std::string& subsystem);
// Also write every subsystem's messages to `path` (appending).
void add_file(const std::string& path);
void set_level(spdlog::level::level_enum level);

}  // namespace qretrain::log
