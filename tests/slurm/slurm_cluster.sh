# shellcheck shell=bash
# A throw-away single-node Slurm cluster for tests.  Source this file, then:
#
#   source tests/slurm/slurm_cluster.sh
#   slurm_available || exit 77                 # prints why when Slurm is not installed
#   dir=$(mktemp -d); trap 'slurm_stop; rm -rf "$dir"' EXIT
#   slurm_start "$dir" || exit 1               # munged + slurmctld + slurmd, node idle
#   jid=$(sbatch --parsable --kill-on-invalid-dep=yes --array=0-3 job.sh)
#   slurm_wait_jobs "$jid" --timeout 60        # until every task has left the queue
#   slurm_job_state "$jid"                     # e.g. "COMPLETED", one line per array task
#
# slurm_start DIR
#   Starts munged, slurmctld and slurmd with every file inside DIR (munge key and
#   socket, slurm.conf, pid files, logs, StateSaveLocation, SlurmdSpoolDir), on free
#   TCP ports, as the current user, and exports SLURM_CONF so that sbatch, squeue,
#   scontrol and scancel talk to this cluster and to no other.  One node, "localhost",
#   with CPUs = nproc (override: SLURM_HARNESS_CPUS) and RealMemory = 1024 MB
#   (override: SLURM_HARNESS_MEMORY), in partition "debug" (the default).
#   Returns non-zero, with the daemon logs on stderr, when the node is not idle
#   within SLURM_HARNESS_TIMEOUT seconds (default 30).
#   Also exported: SLURM_HARNESS_DIR (DIR), SLURM_HARNESS_MUNGE_SOCKET; set:
#   SLURM_HARNESS_START_SECONDS, SLURM_HARNESS_{MUNGED,SLURMCTLD,SLURMD}_PID.
#   Several clusters can run at once (e.g. ctest -j): each has its own ports, munge
#   socket and state; only the PIDs this file started are ever signalled.
#   Exception to "everything in DIR": munged refuses a socket unless every directory
#   above it is searchable by all (a+x; mktemp -d makes 700 directories), and Unix
#   socket paths are limited to 107 bytes.  slurm_start does chmod a+x DIR; when a
#   directory above DIR is not a+x, or DIR is long, the munge socket and the slurmd
#   spool (which holds the job step sockets) go into a short mktemp directory under
#   /tmp instead, removed by slurm_stop.
#
# slurm_stop
#   Cancels the jobs, stops slurmd, slurmctld and munged by the PIDs slurm_start
#   recorded (SIGTERM, then SIGKILL after 5 s), kills leftover job processes of this
#   cluster and restores SLURM_CONF.  Safe to call twice or without slurm_start.
#   A watchdog also stops the daemons if the shell that called slurm_start dies
#   without calling slurm_stop (e.g. killed by a ctest timeout).
#
# slurm_wait_jobs JOBID... [--timeout SECONDS | -t SECONDS | SECONDSs]
#   Waits until none of the jobs (array jobs: none of their tasks) is in the queue
#   (pending, running or completing).  Default timeout 60 s; returns 1 on timeout
#   after printing the queue.  (A bare number is a job id; give the timeout as
#   "--timeout 30" or "30s".)
#
# slurm_job_state JOBID  -> the JobState of the job, one line per array task, sorted
#   (COMPLETED, FAILED, CANCELLED, TIMEOUT, PENDING, ...), from scontrol; works for
#   MinJobAge (300 s) after the job ended.  There is no accounting, so no sacct.
#
# Notes for sbatch users (found the hard way, Slurm 22.05 on Debian 12):
#   * Always submit dependent jobs with --kill-on-invalid-dep=yes: without it a job
#     whose afterok dependency failed stays PENDING forever with
#     Reason=DependencyNeverSatisfied (Slurm's default, also on real clusters), and
#     slurm_wait_jobs then times out.  With it the job ends CANCELLED.
#   * A batch job gets the submitter's environment (--export=ALL is the default:
#     PATH, LD_LIBRARY_PATH, SLURM_CONF, ...; --export=NONE drops PATH too) and starts
#     in the submitter's working directory (--chdir to change it).
#   * The batch script runs from a copy in the slurmd spool
#     ($0 = .../spool/jobNNNNN/slurm_script), so "$(dirname "$0")" does not find files
#     next to the script: give absolute paths to programs in the build tree.
#   * A script file must start with "#!" ("sbatch: error: This does not look like a
#     batch script."); --wrap 'CMD' runs CMD under /bin/sh.
#   * Output goes to slurm-%j.out (arrays: slurm-%A_%a.out) in the working directory
#     unless -o/-e say otherwise.  If the -o directory does not exist the job ends
#     FAILED with Reason=JobLaunchFailure and no output at all: create it first.
#   * Each task gets 1 CPU (SLURM_CPUS_ON_NODE=1) but is not pinned (task/none):
#     a multi-threaded program sees every core; set OMP_NUM_THREADS etc. yourself.
#     Array tasks run nproc at a time.  -c N with N > CPUs pends forever
#     (Reason=PartitionConfig): raise SLURM_HARNESS_CPUS before slurm_start.
#     --mem above SLURM_HARNESS_MEMORY (1024 MB) is refused at submission ("Memory
#     specification can not be satisfied").
#   * The scheduler runs about once a second: a job starts 1-2 s after submission,
#     and each afterok level adds about 1 s.  sbatch --wait polls slowly (a job that
#     ends at once returns after ~10 s); use slurm_wait_jobs instead.
#   * No accounting: no sacct.  slurm_job_state (scontrol) tells the final state for
#     MinJobAge = 300 s.
#   * Jobs run as the user who ran slurm_start (root in CI; a non-root user works too).
#   * The functions work in scripts that use set -euo pipefail (they switch it off
#     locally); slurm_start and slurm_wait_jobs return non-zero on failure.

# ---------------------------------------------------------------------------------

# Directories where Debian puts the daemons (not on a normal user's PATH).
_SLURM_HARNESS_SBIN="/usr/sbin:/sbin:/usr/local/sbin"

_slurm_find() { # NAME -> absolute path on PATH or in the sbin dirs
  local p
  p=$(PATH="$PATH:$_SLURM_HARNESS_SBIN" command -v "$1" 2>/dev/null) || return 1
  printf '%s\n' "$p"
}

slurm_available() {
  local -; set +eu +o pipefail  # callers may use set -euo pipefail; not in here
  local b missing=()
  for b in munged slurmctld slurmd sbatch squeue scontrol scancel; do
    _slurm_find "$b" >/dev/null || missing+=("$b")
  done
  if [ ${#missing[@]} -ne 0 ]; then
    echo "slurm_available: Slurm/MUNGE not installed (missing: ${missing[*]}; apt-get install slurm-wlm slurmctld slurmd slurm-client munge)"
    return 1
  fi
  return 0
}

# TCP ports something listens on (IPv4 and IPv6), one per line, decimal.
_slurm_listening_ports() {
  local f h
  for f in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$f" ] || continue
    # local_address is "ADDR:PORT" (hex), st 0A = LISTEN
    awk 'NR > 1 && $4 == "0A" { n = split($2, a, ":"); print a[n] }' "$f" |
      while read -r h; do echo $((16#$h)); done
  done
}

# Two consecutive free ports below the ephemeral range, chosen from the PID and
# $RANDOM so that parallel instances start far apart.  Prints "P1 P2".
_slurm_pick_ports() {
  local used base i
  used=" $(_slurm_listening_ports | tr '\n' ' ') "
  for i in $(seq 1 200); do
    base=$(( 10000 + ( ( ($$ * 131) + RANDOM + i * 7919 ) % 11000 ) * 2 ))
    case "$used" in *" $base "* | *" $((base + 1)) "*) continue ;; esac
    echo "$base $((base + 1))"
    return 0
  done
  return 1
}

# True when DIR and every directory above it have x for user, group and others.
_slurm_searchable_by_all() {
  local d=$1 m
  while [ -n "$d" ] && [ "$d" != / ]; do
    m=$(stat -L -c %A "$d" 2>/dev/null) || return 1
    case "${m:3:1}${m:6:1}${m:9:1}" in [xs][xs][xt]) ;; *) return 1 ;; esac
    d=${d%/*}
  done
  return 0
}

_slurm_pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

slurm_dump_logs() { # [DIR]
  local -; set +eu +o pipefail  # callers may use set -euo pipefail; not in here
  local d=${1:-${SLURM_HARNESS_DIR:-}} f
  [ -n "$d" ] || return 0
  for f in munged slurmctld slurmd; do
    # Errors before a daemon opens its log file (e.g. in slurm.conf) are only on stderr.
    f=$d/log/$f.log
    [ -s "$f" ] || f=${f%.log}.stdout
    [ -s "$f" ] || continue
    echo "----- $f (last 40 lines) -----" >&2
    tail -n 40 "$f" >&2
  done
}

slurm_start() {
  local -; set +eu +o pipefail  # callers may use set -euo pipefail; not in here
  local dir=${1:?usage: slurm_start DIR}
  slurm_available >&2 || return 1
  if _slurm_pid_alive "${SLURM_HARNESS_SLURMCTLD_PID:-}"; then
    echo "slurm_start: a cluster is already running in ${SLURM_HARNESS_DIR:-?} (call slurm_stop first)" >&2
    return 1
  fi
  mkdir -p "$dir" || return 1
  dir=$(cd "$dir" && pwd -P) || return 1
  local attempt rc
  for attempt in 1 2 3; do
    _slurm_start_once "$dir"; rc=$?
    [ $rc -eq 0 ] && return 0
    # Only a port clash with a parallel instance is worth another try.
    if [ $rc -eq 2 ] && [ $attempt -lt 3 ]; then
      echo "slurm_start: port clash, retrying with other ports" >&2
      slurm_stop >/dev/null 2>&1
      continue
    fi
    slurm_dump_logs "$dir"
    slurm_stop >/dev/null 2>&1
    return 1
  done
}

# Returns 0 when the node is idle, 2 on a port clash, 1 on any other failure.
_slurm_start_once() {
  local dir=$1 t0 user cpus mem ports ctld_port slurmd_port short="" rundir
  t0=$(date +%s.%N)
  user=$(id -un)
  cpus=${SLURM_HARNESS_CPUS:-$(nproc)}
  mem=${SLURM_HARNESS_MEMORY:-1024}

  # munged checks that every directory above its socket is searchable by all.
  chmod a+x "$dir" || return 1
  mkdir -p "$dir/etc" "$dir/log" "$dir/run" "$dir/state" || return 1
  rm -rf "$dir/state"/* "$dir/log"/*  # a fresh cluster each time

  # Unix socket paths are limited to 107 bytes: munge.socket, and in the slurmd spool
  # "localhost_<jobid>.<stepid>" (up to ~31 bytes).
  rundir=$dir
  if [ $(( ${#dir} + 40 )) -gt 100 ] || ! _slurm_searchable_by_all "$dir"; then
    short=$(mktemp -d "${TMPDIR:-/tmp}/slurmh.XXXXXX") || return 1
    chmod 711 "$short"
    rundir=$short
  fi
  mkdir -p "$rundir/munge" "$rundir/spool" || return 1
  chmod 711 "$rundir/munge"
  local sock=$rundir/munge/munge.socket key=$dir/etc/munge.key conf=$dir/etc/slurm.conf

  # Remember what we must clean up before anything can fail.
  SLURM_HARNESS_DIR=$dir
  SLURM_HARNESS_SHORTDIR=$short
  SLURM_HARNESS_MUNGE_SOCKET=$sock
  if [ -z "${SLURM_HARNESS_OLD_CONF+x}" ]; then
    SLURM_HARNESS_OLD_CONF=${SLURM_CONF-__unset__}
  fi
  export SLURM_HARNESS_DIR SLURM_HARNESS_MUNGE_SOCKET

  # --- munge ----------------------------------------------------------------------
  rm -f "$key"
  if mk=$(_slurm_find mungekey); then
    "$mk" --create --keyfile="$key" >/dev/null 2>&1 || dd if=/dev/urandom of="$key" bs=1 count=1024 2>/dev/null
  else
    dd if=/dev/urandom of="$key" bs=1 count=1024 2>/dev/null
  fi
  chmod 600 "$key" || return 1
  # Our own socket, key, pid, seed and log files: a system munged (if any) is left alone.
  "$(_slurm_find munged)" --foreground --socket="$sock" --key-file="$key" \
    --pid-file="$dir/run/munged.pid" --log-file="$dir/log/munged.log" \
    --seed-file="$dir/run/munged.seed" </dev/null >>"$dir/log/munged.log" 2>&1 &
  SLURM_HARNESS_MUNGED_PID=$!
  _slurm_write_pids
  local i
  for i in $(seq 1 100); do
    [ -S "$sock" ] && break
    _slurm_pid_alive "$SLURM_HARNESS_MUNGED_PID" || break
    sleep 0.1
  done
  if [ ! -S "$sock" ]; then
    echo "slurm_start: munged did not create $sock" >&2
    return 1
  fi

  # --- slurm.conf -----------------------------------------------------------------
  ports=$(_slurm_pick_ports) || { echo "slurm_start: no free ports" >&2; return 1; }
  read -r ctld_port slurmd_port <<<"$ports"
  : >"$dir/etc/plugstack.conf"
  cat >"$conf" <<EOF
# Written by tests/slurm/slurm_cluster.sh; everything lives in $dir
ClusterName=qrtest
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$rundir/spool
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
PlugStackConfig=$dir/etc/plugstack.conf
# No cgroups (containers), no accounting.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
# One CPU per task, tasks share the node.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
# Schedule at once (defaults leave ~3 s gaps between submission and start).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
# Trust the CPUs/RealMemory below instead of the hardware (no "Low CPUs" drain).
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldTimeout=10
SlurmdTimeout=30
InactiveLimit=0
KillWait=2
MinJobAge=300
MaxArraySize=10001
MaxJobCount=100000
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
  export SLURM_CONF=$conf
  # Variables that would redirect or reshape client commands of the outer world.
  local v
  for v in $(compgen -e); do
    case "$v" in
      SLURM_CONF | SLURM_HARNESS_*) ;;
      SLURM_* | SBATCH_* | SQUEUE_* | SCONTROL_* | SINFO_* | SALLOC_* | SRUN_* | SCANCEL_*) unset "$v" ;;
    esac
  done

  # --- daemons --------------------------------------------------------------------
  "$(_slurm_find slurmctld)" -D -c -f "$conf" </dev/null >>"$dir/log/slurmctld.stdout" 2>&1 &
  SLURM_HARNESS_SLURMCTLD_PID=$!
  "$(_slurm_find slurmd)" -D -N localhost -f "$conf" </dev/null >>"$dir/log/slurmd.stdout" 2>&1 &
  SLURM_HARNESS_SLURMD_PID=$!
  _slurm_write_pids
  _slurm_start_watchdog

  # --- wait for the node ----------------------------------------------------------
  local timeout=${SLURM_HARNESS_TIMEOUT:-30} deadline state=""
  deadline=$(( $(date +%s) + timeout ))
  while :; do
    if ! _slurm_pid_alive "$SLURM_HARNESS_SLURMCTLD_PID" || ! _slurm_pid_alive "$SLURM_HARNESS_SLURMD_PID" \
       || ! _slurm_pid_alive "$SLURM_HARNESS_MUNGED_PID"; then
      if grep -qs "Address already in use" "$dir/log/slurmctld.log" "$dir/log/slurmd.log" \
           "$dir/log/slurmctld.stdout" "$dir/log/slurmd.stdout"; then
        return 2
      fi
      echo "slurm_start: a daemon exited (munged ${SLURM_HARNESS_MUNGED_PID}, slurmctld ${SLURM_HARNESS_SLURMCTLD_PID}, slurmd ${SLURM_HARNESS_SLURMD_PID})" >&2
      return 1
    fi
    state=$(timeout 5 scontrol show node localhost 2>/dev/null | sed -n 's/.*State=\([^ ]*\).*/\1/p' | head -n 1)
    case "$state" in IDLE | IDLE+*) break ;; esac
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "slurm_start: node localhost not idle after ${timeout}s (state: ${state:-unknown})" >&2
      scontrol show node localhost >&2 2>&1
      return 1
    fi
    sleep 0.2
  done
  SLURM_HARNESS_START_SECONDS=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  echo "slurm_start: cluster up in ${SLURM_HARNESS_START_SECONDS}s (SLURM_CONF=$conf, ports $ctld_port/$slurmd_port, $cpus CPUs)" >&2
  return 0
}

_slurm_write_pids() {
  [ -n "${SLURM_HARNESS_DIR:-}" ] || return 0
  printf 'munged=%s\nslurmctld=%s\nslurmd=%s\nwatchdog=%s\n' "${SLURM_HARNESS_MUNGED_PID:-}" \
    "${SLURM_HARNESS_SLURMCTLD_PID:-}" "${SLURM_HARNESS_SLURMD_PID:-}" "${SLURM_HARNESS_WATCHDOG_PID:-}" \
    >"$SLURM_HARNESS_DIR/run/harness.pids"
}

# Kills the daemons when the shell that started them goes away without slurm_stop.
_slurm_start_watchdog() {
  local owner=$$ pids="$SLURM_HARNESS_SLURMD_PID $SLURM_HARNESS_SLURMCTLD_PID $SLURM_HARNESS_MUNGED_PID"
  local conf=$SLURM_CONF short=${SLURM_HARNESS_SHORTDIR:-}
  (
    trap '' HUP INT
    s=""
    trap 'kill $s 2>/dev/null; exit 0' TERM  # slurm_stop ends us
    while kill -0 "$owner" 2>/dev/null; do sleep 1 & s=$!; wait $s; done
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null
    sleep 3
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null
    _slurm_kill_job_leftovers "$conf"
    [ -n "$short" ] && rm -rf "$short"
  ) </dev/null >/dev/null 2>&1 &
  SLURM_HARNESS_WATCHDOG_PID=$!
  _slurm_write_pids
}

# Waits up to SECONDS for the PIDs to exit, then SIGKILLs the survivors.
_slurm_reap() { # SECONDS PID...
  local secs=$1 p alive i
  shift
  for i in $(seq 1 $(( secs * 10 ))); do
    alive=0
    for p in "$@"; do _slurm_pid_alive "$p" && alive=1; done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for p in "$@"; do _slurm_pid_alive "$p" && kill -KILL "$p" 2>/dev/null; done
  for p in "$@"; do wait "$p" 2>/dev/null; done
  return 0
}

# Processes of this cluster's jobs that outlived slurmd: slurmstepd and job
# processes carry our SLURM_CONF in their environment (jobs also SLURM_JOB_ID).
_slurm_kill_job_leftovers() {
  local conf=$1 p env comm
  [ -n "$conf" ] || return 0
  for p in /proc/[0-9]*; do
    p=${p#/proc/}
    [ "$p" = "$$" ] && continue
    [ "$p" = "${BASHPID:-$$}" ] && continue
    env=$( { tr "\\0" "\\n" <"/proc/$p/environ"; } 2>/dev/null) || continue
    printf '%s\n' "$env" | grep -qxF "SLURM_CONF=$conf" || continue
    comm=$(cat "/proc/$p/comm" 2>/dev/null)
    if [ "$comm" = slurmstepd ] || printf '%s\n' "$env" | grep -q '^SLURM_JOB_ID='; then
      kill -KILL "$p" 2>/dev/null
    fi
  done
}

slurm_stop() {
  local -; set +eu +o pipefail  # callers may use set -euo pipefail; not in here
  local dir=${SLURM_HARNESS_DIR:-} conf=""
  [ -n "$dir" ] && conf=$dir/etc/slurm.conf
  if _slurm_pid_alive "${SLURM_HARNESS_SLURMCTLD_PID:-}"; then
    # Cancel jobs so that slurmd stops their steps; give it a moment.
    local jobs
    jobs=$(squeue -h -o '%A' 2>/dev/null | tr '\n' ' ')
    if [ -n "${jobs// /}" ]; then
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null
      local i
      for i in $(seq 1 30); do
        [ -z "$(squeue -h -o '%A' 2>/dev/null)" ] && break
        sleep 0.1
      done
    fi
  fi
  if [ -n "${SLURM_HARNESS_WATCHDOG_PID:-}" ]; then
    kill -TERM "$SLURM_HARNESS_WATCHDOG_PID" 2>/dev/null
    wait "$SLURM_HARNESS_WATCHDOG_PID" 2>/dev/null
  fi
  local p=() q
  for q in "${SLURM_HARNESS_SLURMD_PID:-}" "${SLURM_HARNESS_SLURMCTLD_PID:-}"; do
    [ -n "$q" ] && p+=("$q") && kill -TERM "$q" 2>/dev/null
  done
  [ ${#p[@]} -gt 0 ] && _slurm_reap 5 "${p[@]}"
  _slurm_kill_job_leftovers "$conf"
  if [ -n "${SLURM_HARNESS_MUNGED_PID:-}" ]; then
    kill -TERM "$SLURM_HARNESS_MUNGED_PID" 2>/dev/null
    _slurm_reap 5 "$SLURM_HARNESS_MUNGED_PID"
  fi
  [ -n "${SLURM_HARNESS_SHORTDIR:-}" ] && rm -rf "$SLURM_HARNESS_SHORTDIR"
  if [ -n "${SLURM_HARNESS_OLD_CONF+x}" ]; then
    if [ "$SLURM_HARNESS_OLD_CONF" = __unset__ ]; then unset SLURM_CONF; else export SLURM_CONF=$SLURM_HARNESS_OLD_CONF; fi
  fi
  unset SLURM_HARNESS_MUNGED_PID SLURM_HARNESS_SLURMCTLD_PID SLURM_HARNESS_SLURMD_PID \
    SLURM_HARNESS_WATCHDOG_PID SLURM_HARNESS_SHORTDIR SLURM_HARNESS_OLD_CONF SLURM_HARNESS_MUNGE_SOCKET \
    SLURM_HARNESS_DIR
  return 0
}

slurm_wait_jobs() {
  local -; set +eu +o pipefail  # callers may use set -euo pipefail; not in here
  local timeout=60 ids=()
  while [ $# -gt 0 ]; do
    case "$1" in
      -t | --timeout) timeout=$2; shift 2 ;;
      --timeout=*) timeout=${1#--timeout=}; shift ;;
      *s) timeout=${1%s}; shift ;;
      *) ids+=("${1%%_*}"); shift ;;  # "123_4" -> the array job 123
    esac
  done
  [ ${#ids[@]} -gt 0 ] || { echo "usage: slurm_wait_jobs JOBID... [--timeout SECONDS]" >&2; return 2; }
  local deadline left id line queue
  deadline=$(( $(date +%s) + timeout ))
  while :; do
    # %A: job id (of the task), %F: array job id (= job id for a plain job).
    left=0
    if queue=$(squeue -h -o '%A %F' 2>&1); then
      while read -r line; do
        for id in "${ids[@]}"; do
          case " $line " in *" $id "*) left=1; break 2 ;; esac
        done
      done <<<"$queue"
      [ $left -eq 0 ] && return 0
    else
      left="squeue failed: $queue"  # controller busy or gone: keep trying until the deadline
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "slurm_wait_jobs: jobs ${ids[*]} still queued after ${timeout}s:" >&2
      [ "$left" = 1 ] || echo "$left" >&2
      squeue -o '%.12i %.10T %.8M %R' >&2
      return 1
    fi
    sleep 0.2
  done
}

slurm_job_state() { # JOBID -> JobState per (array) job, one per line
  local -; set +eu +o pipefail  # callers may use set -euo pipefail; not in here
  scontrol show job "${1:?usage: slurm_job_state JOBID}" 2>/dev/null |
    sed -n 's/.*JobState=\([^ ]*\).*/\1/p'
}
