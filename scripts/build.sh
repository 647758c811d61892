#!/usr/bin/env bash
# Configures and builds qretrain (program, tests, benchmarks) in build/.
# Extra arguments go to cmake, e.g. -DCMAKE_PREFIX_PATH=/opt/libtorch for
# another LibTorch (>= 1.13, e.g. a CUDA build).
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$(nproc)"
