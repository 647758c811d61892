#!/usr/bin/env bash
# Side-by-side training speed: qretrain against a plain PyTorch eager loop of
# the same work (bench/speed/), alternating the two in one run, several
# rounds. Prints the table of bench/speed/summarize.py and keeps the raw JSON
# lines in runs/bench-vs-pytorch/. Run it on an otherwise idle machine.
#
#   scripts/bench-vs-pytorch.sh                 # every model, 3 rounds
#   scripts/bench-vs-pytorch.sh --rounds 5 --models "lenet5 lstm"
#   BUILD_DIR=build-other scripts/bench-vs-pytorch.sh
#   scripts/bench-vs-pytorch.sh --before OLD/qretrain_speed   # an older build in the same rounds
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
models="ffdnn512 ffdnn1024 lstm lenet5 cnn_c cnn_v"
# 'epoch' (2 epochs of --steps/2 updates, Δ refit between them) is left out by
# default: at these lengths one refit lands every few updates, which says
# nothing about a real epoch; --refit-cost measures the refit itself instead.
modes="float quant update"
before=""
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=$2; shift 2 ;;
    --models) models=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --before) before=$2; shift 2 ;;
    *) echo "usage: $0 [--rounds N] [--models \"ffdnn512 ffdnn1024 lstm lenet5 cnn_c cnn_v\"] [--modes \"float quant epoch update\"]" >&2; exit 2 ;;
  esac
done
BUILD=${BUILD_DIR:-build}
PY=/usr/bin/python3  # Debian's python3-torch; not a pyenv or venv python
if ! "$PY" -c "import torch" 2> /dev/null; then
  echo "$0: $PY cannot import torch: install Debian's python3-torch (scripts/install-deps.sh does)" >&2
  exit 1
fi
[ -f "$BUILD/CMakeCache.txt" ] || cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release > /dev/null
cmake --build "$BUILD" -j"$(nproc)" --target qretrain_speed > /dev/null
Q="$BUILD/bench/qretrain_speed"
cores=$(nproc)
# Updates per timed fit: about 1 s of work each on a 2-core Zen 5.
declare -A steps=([ffdnn512]=120 [ffdnn1024]=60 [lstm]=2 [lenet5]=200 [cnn_c]=20 [cnn_v]=6)
# qretrain runs with its own thread plan over all cores (src/app/runtime.cpp);
# PyTorch with the best plan for its OpenBLAS products: the same cores, split
# as qretrain splits them with runtime.gemm=openblas.
threads_of() {
  case "$1" in
    lenet5|cnn_c|cnn_v) echo "--omp $cores --blas 1" ;;
    *) echo "--omp 1 --blas $cores" ;;
  esac
}
mkdir -p runs/bench-vs-pytorch
out="runs/bench-vs-pytorch/$(date -u +%Y%m%dT%H%M%SZ).jsonl"
cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
isa=$(grep -q avx512f /proc/cpuinfo && echo "AVX-512" || (grep -q avx2 /proc/cpuinfo && echo "AVX2" || echo "no AVX2"))
printf '{"cpu": "%s", "isa": "%s", "cores": %d, "coretype": "%s", "commit": "%s", "date": "%s"}\n' \
  "$cpu" "$isa" "$cores" "${OPENBLAS_CORETYPE:-unset}" "$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src bench || echo +dirty)" \
  "$(date -u +%FT%TZ)" > "$out"
tag() { sed "s/^{/{\"round\": $1, /" >> "$out"; }
# The older build's lines are told apart by their impl.
tag_before() { sed "s/^{\"impl\": \"qretrain\"/{\"round\": $1, \"impl\": \"before\"/" >> "$out"; }
for r in $(seq 1 "$rounds"); do
  echo "round $r of $rounds" >&2
  # All cores to whichever library runs qretrain's products (oneDNN threads are OpenMP's).
  "$Q" --peak --omp "$cores" --blas "$cores" | tag "$r"
  "$PY" bench/speed/pytorch_reference.py --peak --omp 1 --blas "$cores" | tag "$r"
  for m in $models; do
    t=$(threads_of "$m")
    "$Q" --model "$m" --refit-cost | tag "$r"
    for mode in $modes; do
      run_q() { "$Q" --model "$m" --mode "$mode" --steps "${steps[$m]}" --reps 3 | tag "$r"
                if [ -n "$before" ]; then "$before" --model "$m" --mode "$mode" --steps "${steps[$m]}" --reps 3 | tag_before "$r"; fi; }
      run_p() { if [ "$mode" = float ] || [ "$mode" = quant ]; then
                  "$PY" bench/speed/pytorch_reference.py --model "$m" --mode "$mode" --steps "${steps[$m]}" --reps 3 $t | tag "$r"; fi; }
      if [ $((r % 2)) -eq 1 ]; then run_q; run_p; else run_p; run_q; fi
    done
  done
done
"$PY" bench/speed/summarize.py "$out"
echo "(raw: $out)"
