#!/usr/bin/env bash
# Times `qretrain sweep --jobs 1` against `--jobs 2` on the LeNet-5 grid of
# configs/sweep_bench_lenet5.yaml (README "Sweeps"), each into a fresh store,
# and writes both tables to results/. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
Q=${QRETRAIN:-build/qretrain}
for jobs in 1 2; do
  out=runs/sweep_bench_j$jobs
  rm -rf "$out"
  start=$(date +%s.%N)
  "$Q" sweep --config configs/sweep_bench_lenet5.yaml --jobs "$jobs" --set output.dir="$out" > /dev/null
  end=$(date +%s.%N)
  awk -v j="$jobs" -v a="$start" -v b="$end" 'BEGIN { printf "--jobs %d: %.1f s wall\n", j, b - a }'
  "$Q" table --config configs/sweep_bench_lenet5.yaml --set output.dir="$out" -o "results/sweep_bench_lenet5_jobs$jobs.md"
done
