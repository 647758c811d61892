#!/usr/bin/env bash
# The paper's tables on the stand-ins as resumable sweeps (issue 15). Each
# config keeps every finished cell's result file in results/cells/NAME
# (output.archive), so a clone on another machine continues from what was
# committed; once a grid is complete its table, CSV and paired comparisons
# are written into results/. Commit results/cells and results/NAME* as they
# come (the script does not commit).
#
# --tables-only writes the tables and comparisons from the cells stored so
# far without running any: a grid stopped part-way (a session ended) is then
# committed as a partial table, whose footer says how many cells it has.
#
#   scripts/paper-grids.sh [--jobs N] [--tables-only] [CONFIG...]
#   (default: Tables 2, 3, 1, 4 on the stand-ins, cheapest first; the issue-18
#   comparison is configs/beyond_fmnist_L.yaml and configs/beyond_standin_256.yaml)
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=2
tables_only=0
configs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --jobs) jobs=$2; shift 2 ;;
    --tables-only) tables_only=1; shift ;;
    -*) echo "usage: $0 [--jobs N] [--tables-only] [CONFIG...]" >&2; exit 2 ;;
    *) configs+=("$1"); shift ;;
  esac
done
[ ${#configs[@]} -gt 0 ] || configs=(configs/table2_standin.yaml configs/table3_fmnist.yaml
                                     configs/table1_standin.yaml configs/table4_gcide.yaml)
bin=${BUILD_DIR:-build}/qretrain
[ -x "$bin" ] || { echo "$bin not built (scripts/build.sh)" >&2; exit 1; }

for config in "${configs[@]}"; do
  name=$(basename "$config" .yaml)
  echo "== $name: $(date -u +%FT%TZ)"
  # 130: stopped by a signal (run again to continue); anything else non-zero is an error.
  [ $tables_only = 1 ] || "$bin" sweep --config "$config" --jobs "$jobs" --set runtime.progress=off
  if ! "$bin" table --config "$config" -o "results/$name.md"; then
    # Nothing stored yet: with --tables-only go on with the next config.
    [ $tables_only = 1 ] && { echo "== $name: no results yet, no table written"; continue; }
    exit 1
  fi
  pairs="adaptive,conventional"
  case "$name" in
    # Fig. 2 runs adaptive alone: its CSV is the plotted step sizes, nothing to pair.
    fig2_*) "$bin" plot --config "$config" --network 256x256 -o "results/$name"; pairs="" ;;
    table2_*) pairs="$pairs gradual,conventional adaptive+gradual,adaptive" ;;
    # Issue 18: per-tensor against per-channel steps, and LSQ against both L2 policies.
    beyond_*) pairs="$pairs lsq,adaptive lsq,conventional adaptive@channel,adaptive conventional@channel,conventional"
              pairs="$pairs lsq@channel,lsq adaptive@channel,conventional@channel lsq@channel,adaptive@channel" ;;
  esac
  [[ $name == fig2_* ]] || "$bin" table --config "$config" --format csv -o "results/$name.csv"
  for pair in $pairs; do
    "$bin" table --config "$config" --compare "$pair" -o "results/${name}_compare_${pair//,/_vs_}.md"
  done
  echo "== $name tables written: $(date -u +%FT%TZ)"
done
