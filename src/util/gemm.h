// Which library runs LibTorch's single-precision matrix products.
//
// LibTorch reaches BLAS through the Fortran symbol sgemm_ (ATen's
// cpublas::gemm: every Linear forward and backward, every LSTM gate product).
// qretrain defines sgemm_ itself, so the dynamic linker binds LibTorch's calls
// to it, and forwards each call either to the next sgemm_ in line (OpenBLAS,
// through the libblas.so.3 alternative) or to oneDNN's dnnl_sgemm, whose JIT
// kernels use AVX-512 where the CPU has it. OpenBLAS on these machines is
// pinned to its AVX2 kernels (OPENBLAS_CORETYPE=Haswell). Convolutions run in
// oneDNN either way (LibTorch's mkldnn path).
#pragma once

#include <cstdint>
#include <string>

namespace qretrain::gemm {

enum class Backend { OpenBlas, OneDnn };

// "auto" -> oneDNN where the CPU has AVX-512 (measured faster than OpenBLAS's
// AVX2 kernels by about 2x per core, and than its own AVX-512 "SkylakeX"
// kernels by about 1.2x on FFDNN-1024 training, README "Threads"), else
// OpenBLAS. "openblas", "onednn" force one. Throws std::invalid_argument for anything else.
Backend resolve(const std::string& setting);
// OpenBLAS's kernel set as its CPU detection (or OPENBLAS_CORETYPE) chose it,
// e.g. "Haswell"; "" where the BLAS is not OpenBLAS.
std::string openblas_core();
void set_backend(Backend backend);
Backend backend();
const char* name(Backend backend);
bool cpu_has_avx512();

// Calls that reached each library through sgemm_ since the process started
// (tests check that the switch really routes the products).
std::int64_t calls(Backend backend);

// The thread counts and GEMM library in effect, e.g. "2 intra-op (OpenMP) + 1
// OpenBLAS (Haswell kernels) threads, GEMM in oneDNN": with the CPU, what decides a run's
// rounding (oneDNN and OpenBLAS, and different thread counts, sum products in
// different orders). Stored with every run (RunRecord::machine).
std::string numerics_summary();

}  // namespace qretrain::gemm
