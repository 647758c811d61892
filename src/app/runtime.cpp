#include "app/runtime.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>
#include <thread>

#include <fmt/format.h>

#include "train/stop.h"
#include "util/error.h"
#include "util/gemm.h"

namespace qretrain::app {
namespace {

// OpenBLAS is reached through the libblas.so.3 alternative; look its thread
// controls up at run time so builds against other BLAS libraries still link.
using SetThreads = void (*)(int);

void on_stop_signal(int) { train::g_stop_requested = true; }

}  // namespace

ThreadPlan plan_threads(const config::RuntimeConfig& rt, bool convolutional) {
  const int machine = std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const int cores = rt.cores > 0 ? std::min(rt.cores, machine) : machine;
  ThreadPlan plan;
  plan.gemm = gemm::resolve(rt.gemm);
  // oneDNN runs products and convolutions alike on OpenMP: one pool, all cores.
  const bool openmp_only = convolutional || plan.gemm == gemm::Backend::OneDnn;
  plan.threads = rt.threads > 0 ? rt.threads : (openmp_only ? cores : 1);
  plan.blas_threads = rt.blas_threads > 0 ? rt.blas_threads : (openmp_only ? 1 : cores);
  return plan;
}

void keep_freed_memory() {
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  mallopt(M_TRIM_THRESHOLD, kTrimThreshold);
}

void configure_threads(const config::RuntimeConfig& rt, bool convolutional) {
  keep_freed_memory();
  const ThreadPlan plan = plan_threads(rt, convolutional);
  gemm::set_backend(plan.gemm);
  torch::set_num_threads(plan.threads);
  if (auto set = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) set(plan.blas_threads);
}

std::string thread_summary() { return gemm::numerics_summary(); }

torch::Device resolve_device(const std::string& setting) {
  if (setting == "cpu") return torch::kCPU;
  const bool cuda = torch::cuda::is_available();
  if (setting == "cuda" && !cuda)
    throw UserError("runtime.device: cuda requested, but this LibTorch build sees no CUDA device (use cpu or auto)");
  return cuda ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
}

void install_stop_handlers() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

void route_stop_signals_to_a_watcher() {
  sigset_t stops;
  sigemptyset(&stops);
  sigaddset(&stops, SIGINT);
  sigaddset(&stops, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stops, nullptr);
  // Until a command installs its handler the default action applies here
  // too: the process ends, as it would have.
  std::thread([stops] {
    pthread_sigmask(SIG_UNBLOCK, &stops, nullptr);
    for (;;) ::pause();
  }).detach();
}

}  // namespace qretrain::app
