#!/usr/bin/env bash
# Issue 6: a sweep run for real through Slurm job arrays, on a throw-away
# single-node cluster (tests/slurm/slurm_cluster.sh), compared with the same
# sweep run locally.
#
#   sweep_on_slurm.sh QRETRAIN_BINARY [MAKE_FIXTURE]   (exit 77 = skipped: no Slurm)
#
# The grid (7 cells): float baseline; direct and adaptive at 2 and 3 bits
# (after the baseline); gradual 3 -> 2 bits (3-bit after the baseline, 2-bit
# after the 3-bit stage): three dependency levels, so three job arrays chained
# by afterany, then the collect job. Checks: every cell ran as an array task
# and published its result file; the collect job merged all 7 into the store;
# the table equals the one of `qretrain sweep --jobs 2` on the same grid; a
# second --emit finds nothing left to run.
set -euo pipefail
Q=$(realpath "$1")
MAKE_FIXTURE=$(realpath "${2:-$(dirname "$Q")/tests/qretrain_make_fixture}")
here=$(dirname "$(realpath "$0")")
# shellcheck source=tests/slurm/slurm_cluster.sh
source "$here/slurm_cluster.sh"
slurm_available || exit 77
work=$(mktemp -d "${TMPDIR:-/tmp}/qretrain-slurm-XXXXXX")
trap 'slurm_stop; rm -rf "$work"' EXIT
# The data: a Fashion-MNIST-format fixture (tests/fixtures/fashion_fixture.h).
"$MAKE_FIXTURE" fashion-mnist "$work/fm"

write_config() {
  mkdir -p "$1"
  cat > "$1/grid.yaml" <<'YAML'
name: slurmgrid
dataset:
  kind: fashion-mnist
  path: FIXTURE
  train_limit: 3000
  dev_size: 500
  test_limit: 1000
network:
  kind: ffdnn
  hidden: [64, 64]
train:
  lr: 0.01
  batch_size: 50
  max_epochs: 3
retrain:
  lr: 0.002
  max_epochs: 2
quant:
  bits: [2, 3]
  methods: [direct, adaptive, gradual]
  gradual:
    start_bits: 3
output:
  dir: out
YAML
  FIXTURE="$work/fm" perl -pi -e 's/path: FIXTURE/path: $ENV{FIXTURE}/' "$1/grid.yaml"
}

echo "== local: qretrain sweep --jobs 2"
write_config "$work/local"
(cd "$work/local" && "$Q" sweep --config grid.yaml --jobs 2 > /dev/null 2> sweep.log) || {
  cat "$work/local/sweep.log"; exit 1; }

echo "== Slurm: qretrain sweep --emit slurm, submitted to a single-node cluster"
t0=$(date +%s.%N)
slurm_start "$work/cluster" || exit 1
echo "cluster up in ${SLURM_HARNESS_START_SECONDS:-?} s"
write_config "$work/slurm"
cd "$work/slurm"
"$Q" sweep --config grid.yaml --emit slurm -o submit.sh
grep -c "^L[0-9]=" submit.sh | grep -qx 3 || { cat submit.sh; echo "FAIL: expected 3 job arrays"; exit 1; }
submitted=$(bash submit.sh)
echo "$submitted"
# "arrays 11 12 13 then collect 14"
jobs=$(echo "$submitted" | tr -c '0-9\n' ' ')
# shellcheck disable=SC2086
slurm_wait_jobs $jobs --timeout 240 || { slurm_dump_logs; exit 1; }
t1=$(date +%s.%N)
for j in $jobs; do
  states=$(slurm_job_state "$j" | sort -u | tr '\n' ' ')
  echo "job $j: $states"
  [ "$states" = "COMPLETED " ] || { cat out/logs/slurm/* 2>/dev/null | tail -40; echo "FAIL: job $j did not complete"; exit 1; }
done
tasks=$(ls out/logs/slurm/ | grep -vc collect)
files=$(ls out/cells/*.sqlite | wc -l)
echo "array task logs: $tasks, result files: $files"
[ "$tasks" -eq 7 ] && [ "$files" -eq 7 ] || { echo "FAIL: expected 7 array tasks and 7 result files"; exit 1; }
grep -q "7 of 7 cells have results (0 failed)" out/logs/slurm/*collect* || {
  cat out/logs/slurm/*collect*; echo "FAIL: the collect job did not merge every cell"; exit 1; }

(cd "$work/local" && "$Q" table --config grid.yaml --format csv) > local.csv
"$Q" table --config grid.yaml --format csv > slurm.csv
diff local.csv slurm.csv || { echo "FAIL: the Slurm sweep's table differs from the local sweep's"; exit 1; }
"$Q" sweep --config grid.yaml --emit slurm | grep -q "every cell of this sweep already has a result" || {
  echo "FAIL: a second --emit should have nothing left to run"; exit 1; }
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "PASS: 7 cells in 3 job arrays + collect through Slurm in %.1f s (cluster start included); table identical to the local sweep\n", b - a }'
cat slurm.csv
