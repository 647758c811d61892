#include "util/gemm.h"

#include <dlfcn.h>

#include <atomic>
#include <stdexcept>

#include <ATen/Parallel.h>
#include <dnnl.h>
#include <fmt/format.h>

namespace qretrain::gemm {
namespace {

using Sgemm = void (*)(const char*, const char*, const int*, const int*, const int*, const float*, const float*,
                       const int*, const float*, const int*, const float*, float*, const int*);

std::atomic<Backend> g_backend{Backend::OpenBlas};
std::atomic<std::int64_t> g_calls[2];

Sgemm next_sgemm() {
  static const Sgemm next = reinterpret_cast<Sgemm>(dlsym(RTLD_NEXT, "sgemm_"));
  return next;
}

}  // namespace

std::string openblas_core() {
  using GetCore = char* (*)();
  auto get = reinterpret_cast<GetCore>(dlsym(RTLD_DEFAULT, "openblas_get_corename"));
  const char* core = get ? get() : nullptr;
  return core ? core : "";
}

Backend resolve(const std::string& setting) {
  if (setting == "openblas") return Backend::OpenBlas;
  if (setting == "onednn") return Backend::OneDnn;
  if (setting == "auto" || setting.empty()) return cpu_has_avx512() ? Backend::OneDnn : Backend::OpenBlas;
  throw std::invalid_argument("unknown GEMM backend '" + setting + "' (known: auto, openblas, onednn)");
}

void set_backend(Backend backend) { g_backend = backend; }
Backend backend() { return g_backend; }
const char* name(Backend backend) { return backend == Backend::OneDnn ? "oneDNN" : "OpenBLAS"; }
bool cpu_has_avx512() { return __builtin_cpu_supports("avx512f"); }
std::int64_t calls(Backend backend) { return g_calls[backend == Backend::OneDnn]; }

std::string numerics_summary() {
  using GetThreads = int (*)();
  std::string blas = "BLAS threads unknown";
  if (auto get = reinterpret_cast<GetThreads>(dlsym(RTLD_DEFAULT, "openblas_get_num_threads")))
    blas = fmt::format("{} OpenBLAS ({} kernels)", get(), openblas_core());
  return fmt::format("{} intra-op (OpenMP) + {} threads, GEMM in {}", at::get_num_threads(), blas, name(backend()));
}

}  // namespace qretrain::gemm

// BLAS's column-major C = alpha op(A) op(B) + beta C is, read row-major, the
// transposed product C^T = alpha op(B)^T op(A)^T + beta C^T: the row-major
// dnnl_sgemm with the operands (and their flags) swapped.
extern "C" __attribute__((visibility("default"))) void sgemm_(const char* transa, const char* transb, const int* m,
                                                              const int* n, const int* k, const float* alpha,
                                                              const float* a, const int* lda, const float* b,
                                                              const int* ldb, const float* beta, float* c,
                                                              const int* ldc) {
  using namespace qretrain::gemm;
  if (g_backend.load(std::memory_order_relaxed) == Backend::OneDnn &&
      dnnl_sgemm(*transb, *transa, *n, *m, *k, *alpha, b, *ldb, a, *lda, *beta, c, *ldc) == dnnl_success) {
    g_calls[1].fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const Sgemm next = next_sgemm();
  if (!next) throw std::runtime_error("sgemm_: no BLAS library is loaded after qretrain's own sgemm_");
  g_calls[0].fetch_add(1, std::memory_order_relaxed);
  next(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
