#!/usr/bin/env bash
# Self-test of tests/slurm/slurm_cluster.sh: starts a private single-node Slurm
# cluster, runs a 4-task job array, an afterok job that checks the array's files,
# and an afterok job on a failing job that --kill-on-invalid-dep=yes must cancel.
# Exit 0: pass, 77: skipped (Slurm not installed), anything else: fail.
# shellcheck disable=SC2016  # the --wrap commands are expanded in the job, not here
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/slurm/slurm_cluster.sh
source "$here/slurm_cluster.sh" || exit 1

if ! reason=$(slurm_available); then
  echo "SKIP: $reason"
  exit 77
fi

t_start=$(date +%s.%N)
elapsed() { awk -v a="$t_start" -v b="$(date +%s.%N)" 'BEGIN { printf "%5.1fs", b - a }'; }
say() { echo "[$(elapsed)] $*"; }
fail() { say "FAIL: $*"; slurm_dump_logs; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/slurm-harness-test.XXXXXX") || exit 1
# shellcheck disable=SC2317  # called by the trap
cleanup() { slurm_stop; rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

slurm_start "$work/cluster" || fail "slurm_start"
say "cluster up (slurm_start took ${SLURM_HARNESS_START_SECONDS}s)"

out=$work/out
mkdir -p "$out"
cd "$out" || exit 1

# Every job: explicit output file, working directory and --kill-on-invalid-dep=yes.
submit() { sbatch --parsable --kill-on-invalid-dep=yes --chdir="$out" -o "$out/%x-%A_%a.log" "$@"; }

# 1. A 4-task array; each task writes a file named after its index.
array=$(submit -J array --array=0-3 --wrap 'echo "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID" > "'"$out"'/task-$SLURM_ARRAY_TASK_ID.txt"') \
  || fail "sbatch array"
# 2. Runs after every task succeeded; fails unless all 4 files exist.
check=$(submit -J check --dependency="afterok:$array" \
  --wrap 'for i in 0 1 2 3; do test -s "'"$out"'/task-$i.txt" || exit 1; done; echo ok > "'"$out"'/check.txt"') \
  || fail "sbatch check"
# 3. A failing job and a job that depends on its success: must be cancelled, not pend forever.
failing=$(submit -J failing --wrap 'exit 1') || fail "sbatch failing"
orphan=$(submit -J orphan --dependency="afterok:$failing" --wrap 'touch "'"$out"'/orphan-ran.txt"') \
  || fail "sbatch orphan"
say "submitted array=$array check=$check failing=$failing orphan=$orphan"

slurm_wait_jobs "$array" --timeout 30 || fail "array did not finish"
say "array done"
slurm_wait_jobs "$check" "$failing" "$orphan" --timeout 30 || fail "dependent jobs did not leave the queue"
say "dependent jobs done"

states=$(slurm_job_state "$array" | sort | uniq -c | tr -s ' ')
[ "$states" = " 4 COMPLETED" ] || fail "array states: $states"
for i in 0 1 2 3; do
  grep -qx "task $i of $array" "$out/task-$i.txt" || fail "task-$i.txt missing or wrong"
done
[ "$(slurm_job_state "$check")" = COMPLETED ] || fail "check job: $(slurm_job_state "$check")"
[ "$(cat "$out/check.txt" 2>/dev/null)" = ok ] || fail "check.txt missing"
[ "$(slurm_job_state "$failing")" = FAILED ] || fail "failing job: $(slurm_job_state "$failing")"
[ "$(slurm_job_state "$orphan")" = CANCELLED ] || fail "orphan job: $(slurm_job_state "$orphan")"
[ ! -e "$out/orphan-ran.txt" ] || fail "orphan job ran"
[ -e "$out/array-${array}_3.log" ] || fail "no per-task log array-${array}_3.log"
say "states ok: array 4x COMPLETED, check COMPLETED, failing FAILED, orphan CANCELLED"

# 4. Without --kill-on-invalid-dep the same job would pend forever (Slurm's default).
stuck=$(sbatch --parsable -o /dev/null --dependency="afterok:$failing" --wrap true) || fail "sbatch stuck"
reason=""
for _ in $(seq 1 50); do
  reason=$(squeue -h -j "$stuck" -o '%T %r' 2>/dev/null)
  [ "$reason" = "PENDING DependencyNeverSatisfied" ] && break
  sleep 0.1
done
[ "$reason" = "PENDING DependencyNeverSatisfied" ] || fail "job without --kill-on-invalid-dep: '$reason'"
scancel "$stuck"
say "without --kill-on-invalid-dep: $reason (cancelled by hand)"

t_stop=$(date +%s.%N)
slurm_stop
say "slurm_stop took $(awk -v a="$t_stop" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1fs", b - a }')"
say "PASS"
exit 0
