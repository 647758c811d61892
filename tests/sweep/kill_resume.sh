#!/usr/bin/env bash
# Issue 6 acceptance: a sweep killed with SIGKILL at random moments and
# resumed each time ends with the same store and table as a sweep that was
# never interrupted, and a cell forced to diverge is recorded as failed while
# the rest completes. A SIGTERM to the sweep alone, sent first while cells
# train, stops it with status 130 and their saved states must be resumed.
#
#   kill_resume.sh QRETRAIN_BINARY [KILLS [MAKE_FIXTURE]]
#   QRETRAIN_KILL_TRIALS=20 kill_resume.sh ...  (the environment overrides KILLS,
#                                                e.g. QRETRAIN_KILL_TRIALS=20 ctest -R Sweep.Killed)
#
# The grid: 2 networks x 2 seeds x (float, direct 2/3-bit, adaptive 2/3-bit,
# gradual 3 -> 2 bits) = 28 cells of a few seconds each on a Fashion-MNIST-
# format fixture (tests/fixtures/fashion_fixture.h),
# run with --jobs 2. The adaptive 2-bit cells are made to diverge
# (QRETRAIN_TEST_DIVERGE). Every kill takes down the whole process group (the
# sweep and its running cells) with SIGKILL, as a power cut would.
#
# Determinism: every cell runs with one OpenMP and one OpenBLAS thread, so
# its arithmetic does not depend on thread scheduling, and an interrupted
# cell resumes from its saved training state (weights, optimizer, shuffle
# order, generators, curve) exactly. What differs between the two stores is
# only timing: wall_s, samples_per_s, elapsed_s, started_at, finished_at,
# which the comparison removes; and a float run's note when a kill fell
# between caching its baseline and storing its run: the resumed cell then
# loads the baseline from the cache and says so ("reused from the cache ..."),
# with the same weights, digest and training record.
set -euo pipefail
Q=$(realpath "$1")
KILLS=${QRETRAIN_KILL_TRIALS:-${2:-5}}
MAKE_FIXTURE=$(realpath "${3:-$(dirname "$Q")/tests/qretrain_make_fixture}")
case "$KILLS" in ''|*[!0-9]*) echo "FAIL: QRETRAIN_KILL_TRIALS / KILLS must be a whole number, got '$KILLS'"; exit 1 ;; esac
t0=$(date +%s.%N)
work=$(mktemp -d "${TMPDIR:-/tmp}/qretrain-kill-XXXXXX")
cleanup() {
  [ -n "${pgid:-}" ] && kill -KILL -- "-$pgid" 2>/dev/null || true
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
# The data: a Fashion-MNIST-format fixture (tests/fixtures/fashion_fixture.h).
"$MAKE_FIXTURE" fashion-mnist "$work/fm"

write_config() {
  mkdir -p "$1"
  cat > "$1/grid.yaml" <<'YAML'
name: killgrid
dataset:
  kind: fashion-mnist
  path: FIXTURE
  train_limit: 6000
  dev_size: 500
  test_limit: 1000
network:
  kind: ffdnn
grid:
  networks: [ffdnn:128x128, ffdnn:256x256]
seeds: [1, 2]
train:
  lr: 0.01
  batch_size: 50
  max_epochs: 4
retrain:
  lr: 0.002
  max_epochs: 3
quant:
  bits: [2, 3]
  methods: [direct, adaptive, gradual]
  gradual:
    start_bits: 3
runtime:
  checkpoint_every_s: 1
output:
  dir: out
YAML
  FIXTURE="$work/fm" perl -pi -e 's/path: FIXTURE/path: $ENV{FIXTURE}/' "$1/grid.yaml"
}
export QRETRAIN_TEST_DIVERGE=adaptive:2

# Stores compared without their timing fields, one run per line, sorted.
stable_export() {
  (cd "$1" && "$Q" export --config grid.yaml --format jsonl) |
    sed -E 's/"(wall_s|samples_per_s|elapsed_s)":[^,}]*//g; s/"(started_at|finished_at)":"[^"]*"//g' |
    sed -E 's/"note":"reused from the cache [^"]*"/"note":""/' | sort
}

# Number of runs in the store of the current folder; fails if it is unreadable.
stored_runs() {
  [ -f out/results.sqlite ] || { echo 0; return 0; }
  local err
  if ! "$Q" export --config grid.yaml --format jsonl > runs.jsonl 2> export.err; then
    grep -q "no runs of this configuration of experiment" export.err && { echo 0; return 0; }
    cat export.err >&2
    return 1
  fi
  wc -l < runs.jsonl
}

echo "== reference: the sweep uninterrupted"
write_config "$work/ref"
start=$(date +%s.%N)
(cd "$work/ref" && exec "$Q" sweep --config grid.yaml --jobs 2 > table.md 2> sweep.log) &
ref_pid=$!
# Also measured: how long a sweep takes to get a cell training (its first
# saved state), the start-up every restart pays before it makes progress.
startup_s=""
while kill -0 "$ref_pid" 2>/dev/null; do
  if [ -z "$startup_s" ] && [ -n "$(find "$work/ref/out/resume" -name '*.pt' 2>/dev/null | head -1)" ]; then
    startup_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  fi
  sleep 0.05
done
wait "$ref_pid" || { cat "$work/ref/sweep.log"; exit 1; }
ref_s=$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
startup_s=${startup_s:-1}
echo "reference sweep: ${ref_s} s (first training state saved after ${startup_s} s)"
grep -c . "$work/ref/table.md" > /dev/null

saved_states() { cat out/logs/cells/*.log 2>/dev/null | grep -c "(training state saved)" || true; }

# SIGTERM to the sweep alone (not its group: the sweep must forward it to its
# cells), sent once a cell of this sweep has saved a training state, i.e. is
# training. It runs first on a fresh folder, so there is always work left
# when it arrives: the sweep must stop with status 130 and say so, and at
# least one cell must be stopped mid-training with its state saved.
term_interrupted=0
sigterm_phase() {
  echo "== SIGTERM: running cells save their state, the sweep stops with status 130"
  touch term.marker
  setsid "$Q" sweep --config grid.yaml --jobs 2 >> kill.out 2> term.log &
  pgid=$!
  for _ in $(seq 1 2400); do
    [ -n "$(find out/resume -name '*.pt' -newer term.marker 2>/dev/null | head -1)" ] && break
    kill -0 "$pgid" 2>/dev/null || break
    sleep 0.05
  done
  kill -TERM "$pgid" 2>/dev/null || true
  local term_at status=0 term_s
  term_at=$(date +%s.%N)
  wait "$pgid" || status=$?
  term_s=$(awk -v a="$term_at" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  pgid=""
  cat term.log >> kill.log
  [ "$status" -eq 130 ] || { tail -20 term.log; echo "FAIL: SIGTERM should stop the sweep with status 130, got $status"; exit 1; }
  grep -q "sweep 'killgrid' stopped: " term.log || { tail -20 term.log; echo "FAIL: no 'stopped' message"; exit 1; }
  # On a fresh folder every "(training state saved)" in the cells' logs is
  # one cell this SIGTERM stopped mid-training.
  term_interrupted=$(saved_states)
  echo "stopped with status 130 ${term_s} s after SIGTERM to the sweep alone; $(grep -c '| interrupted' term.log || true) cells interrupted, $term_interrupted of them with their state saved; $(stored_runs) runs stored"
}

# The SIGTERM phase on a fresh folder until it stops a training cell with
# its state saved: rarely, the cell whose saved state triggered the signal
# finishes before the signal reaches it while the other job is starting up.
fresh_start_with_sigterm() {
  local tries
  for tries in 1 2 3; do
    rm -rf out kill.out kill.log term.log
    sigterm_phase
    [ "$term_interrupted" -gt 0 ] && return 0
    echo "(SIGTERM stopped no training cell with its state saved; again on a fresh folder)"
  done
  tail -20 term.log
  echo "FAIL: SIGTERM stopped no training cell with its state saved (3 tries)"
  exit 1
}

echo "== the same sweep, stopped by SIGTERM, then killed with SIGKILL at random moments"
write_config "$work/kill"
cd "$work/kill"
fresh_start_with_sigterm
kills=0
attempts=0
while [ "$kills" -lt "$KILLS" ]; do
  attempts=$((attempts + 1))
  [ "$attempts" -le $((KILLS * 4)) ] || { echo "FAIL: the sweep kept finishing before it could be killed"; exit 1; }
  setsid "$Q" sweep --config grid.yaml --jobs 2 >> kill.out 2> attempt.log &
  pgid=$!
  # A random moment within the start-up plus 75%/KILLS of an uninterrupted
  # sweep's time (15% for 5 kills). Each restart pays the start-up before it
  # gets anywhere: without it, 20 kills all fell in start-ups; with the
  # whole start-up added to every delay, the sweep finished before 20.
  delay=$(awk -v r="$RANDOM" -v t="$ref_s" -v k="$KILLS" -v s="$startup_s" \
    'BEGIN { printf "%.2f", 0.3 + (r / 32768) * (s + t * 0.75 / k) }')
  sleep "$delay"
  if kill -0 "$pgid" 2>/dev/null; then
    kill -KILL -- "-$pgid"
    wait "$pgid" 2>/dev/null || true
    pgid=""
    cat attempt.log >> kill.log
    kills=$((kills + 1))
    # The store opens and reads after every kill: never half a record.
    done_now=$(stored_runs) || { echo "FAIL: the store is unreadable after kill $kills"; exit 1; }
    echo "kill $kills after ${delay} s: $done_now runs stored"
  else
    status=0
    wait "$pgid" || status=$?
    pgid=""
    # Not killed: it must have ended by finishing the grid, not by a crash.
    if [ "$status" -ne 0 ] || ! grep -q "all 28 cells have results" attempt.log; then
      tail -20 attempt.log
      echo "FAIL: the sweep ended on its own with status $status before it was killed (attempt $attempts)"
      exit 1
    fi
    echo "(attempt $attempts: the sweep had finished within ${delay} s; starting over on a fresh folder)"
    mkdir -p "$work/finished"
    mv attempt.log "$work/finished/attempt-$attempts.log"
    fresh_start_with_sigterm
    kills=0
  fi
done

echo "== resume to the end"
"$Q" sweep --config grid.yaml --jobs 2 > table.md 2>> kill.log || { tail -50 kill.log; exit 1; }
resumed=$(cat out/logs/cells/*.log | grep -c "resuming from" || true)
echo "resumes from a saved training state: $resumed"
# Per cell: a cell stopped with its state saved ("(training state saved)",
# SIGTERM here) resumes from that state at its next start, so its log holds
# at least as many resumes as such stops. Fewer means those cells silently
# started over, which the equality below would miss (a fresh start is just
# as deterministic).
for log in out/logs/cells/*.log; do
  stops=$(grep -c "(training state saved)" "$log" || true)
  resumes=$(grep -c "resuming from" "$log" || true)
  [ "$resumes" -ge "$stops" ] || {
    echo "FAIL: $log: stopped $stops times with its state saved but resumed $resumes times"; exit 1; }
done
[ "$resumed" -gt 0 ] || { echo "FAIL: no cell resumed from a saved training state"; exit 1; }

cells=28
for d in "$work/ref" "$work/kill"; do
  n=$(cd "$d" && "$Q" export --config grid.yaml --format jsonl | wc -l)
  keys=$(cd "$d" && "$Q" export --config grid.yaml --format jsonl | sed -E 's/^\{"cell_key":"([0-9a-f]+)".*/\1/' | sort -u | wc -l)
  failed=$(cd "$d" && "$Q" export --config grid.yaml --format jsonl | grep -c '"status":"failed"' || true)
  echo "$d: $n runs, $keys distinct cells, $failed failed"
  [ "$n" -eq "$cells" ] && [ "$keys" -eq "$cells" ] || { echo "FAIL: expected $cells runs, one per cell"; exit 1; }
  [ "$failed" -eq 4 ] || {
    (cd "$d" && "$Q" export --config grid.yaml --format jsonl | grep '"status":"failed"' | cut -c1-400)
    echo "FAIL: expected the 4 adaptive 2-bit cells to have failed"; exit 1; }
done
grep -q "training loss became nan" <("$Q" export --config grid.yaml --format jsonl) || {
  echo "FAIL: the divergence is not recorded as the reason"; exit 1; }
grep -q "| failed (2x) |" "$work/kill/table.md" || {
  echo "FAIL: the table does not show the failed cells"; cat "$work/kill/table.md"; exit 1; }

(cd "$work/ref" && "$Q" table --config grid.yaml --format csv) > ref.csv
(cd "$work/kill" && "$Q" table --config grid.yaml --format csv) > kill.csv
if ! diff ref.csv kill.csv; then echo "FAIL: tables differ"; exit 1; fi
if ! diff <(stable_export "$work/ref") <(stable_export "$work/kill") > export.diff; then
  head -c 3000 export.diff
  echo "FAIL: stored runs differ (beyond timing)"
  exit 1
fi
wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.0f", b - a }')
echo "PASS: $KILLS kills ($attempts attempts), $cells cells, $resumed resumes from a saved state; tables and stored runs (curves included) identical to the uninterrupted sweep; ${wall} s in all"
cat ref.csv
