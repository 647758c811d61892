// Process-wide runtime setup: threads and device.
#pragma once

#include <string>

#include <torch/torch.h>

#include "config/config.h"

namespace qretrain::app {

// Intra-op (OpenMP) threads default to 1 and OpenBLAS keeps its own threads:
// measured fastest on 2 cores (see README, "Threads").
void configure_threads(const config::RuntimeConfig& rt);
// auto -> cuda when available; cuda without a CUDA build is a config error.
torch::Device resolve_device(const std::string& setting);
// "1 OpenMP + 2 OpenBLAS threads" for logs and benchmarks.
std::string thread_summary();

// SIGINT / SIGTERM ask running training to stop at the next update.
void install_stop_handlers();

}  // namespace qretrain::app
