// Process-wide runtime setup: threads and device.
#pragma once

#include <string>

#include <torch/torch.h>

#include "config/config.h"

namespace qretrain::app {

// Thread setup per workload, chosen by measurement (bench/bench_train.cpp,
// README "Threads"): convolutions run in oneDNN on OpenMP, so convolutional
// networks get all cores as OpenMP threads and 1 OpenBLAS thread; dense and
// recurrent networks are GEMM-bound, so they get 1 OpenMP thread and all
// cores in OpenBLAS. Both pools at full width oversubscribe the cores.
// runtime.threads / runtime.blas_threads override either.
void configure_threads(const config::RuntimeConfig& rt, bool convolutional);
// auto -> cuda when available; cuda without a CUDA build is a config error.
torch::Device resolve_device(const std::string& setting);
// "1 OpenMP + 2 OpenBLAS threads" for logs and benchmarks.
std::string thread_summary();

// SIGINT / SIGTERM ask running training to stop at the next update.
void install_stop_handlers();

}  // namespace qretrain::app
