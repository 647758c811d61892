// Process-wide runtime setup: threads and device.
#pragma once

#include <string>

#include <torch/torch.h>

#include "config/config.h"
#include "util/gemm.h"

namespace qretrain::app {

// Thread setup per workload, chosen by measurement (scripts/bench-vs-pytorch.sh,
// README "Threads"), over runtime.cores cores (0 = all): convolutions run in
// oneDNN on OpenMP, and so do matrix products with runtime.gemm = onednn, so
// those get all cores as OpenMP threads and 1 OpenBLAS thread; dense and
// recurrent networks with OpenBLAS products get 1 OpenMP thread and all cores
// in OpenBLAS. Both pools at full width oversubscribe the cores.
// runtime.threads / runtime.blas_threads override either.
struct ThreadPlan {
  gemm::Backend gemm = gemm::Backend::OpenBlas;
  int threads = 1;       // OpenMP (intra-op)
  int blas_threads = 1;  // OpenBLAS
};
ThreadPlan plan_threads(const config::RuntimeConfig& rt, bool convolutional);
// Applies plan_threads (GEMM backend, OpenMP and OpenBLAS threads), after
// keep_freed_memory: the setup of every process that trains.
void configure_threads(const config::RuntimeConfig& rt, bool convolutional);

// glibc's malloc by default serves blocks above a threshold (128 KiB at first,
// raised as such blocks are freed) by mmap and gives memory at the heap's top
// back to the system once 128 KiB are free there. A training update allocates
// and frees the same activation and gradient buffers every time, so the
// memory went back and came again with fresh page faults at every update:
// LeNet-5 float training ran at 8.4k-13k images/s in most processes and
// 18k-23k in some (bench/speed, README "Speed"). Blocks up to 32 MiB (glibc's
// largest threshold) come from the heap, and up to 1 GiB of freed memory stays
// with the process.
constexpr int kMmapThreshold = 32 << 20;
constexpr int kTrimThreshold = 1 << 30;
void keep_freed_memory();
// auto -> cuda when available; cuda without a CUDA build is a config error.
torch::Device resolve_device(const std::string& setting);
// "1 OpenMP + 2 OpenBLAS threads" for logs and benchmarks.
std::string thread_summary();

// SIGINT / SIGTERM ask running training to stop at the next update.
void install_stop_handlers();

// Stop signals reach a thread that only waits for them, never one that
// computes: blocked in the calling thread (and so in every thread it starts
// later: OpenMP's, oneDNN's), unblocked in a watcher thread started here.
// oneDNN's sgemm corrupts the heap when a signal is handled on the thread
// running it (README, Sweeps: "Resume and signals"; tests/app/test_stop_signals.cpp).
// Called first thing in main, before any other thread starts.
void route_stop_signals_to_a_watcher();

}  // namespace qretrain::app
