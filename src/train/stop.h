// The stop flag: set by the SIGINT/SIGTERM watcher (app/runtime.cpp); the
// trainer stops at the next update, the sweep starts no new cell and the
// speech stand-in build removes its partial folder.
#pragma once

#include <atomic>

namespace qretrain::train {

extern std::atomic<bool> g_stop_requested;

}  // namespace qretrain::train
