#!/usr/bin/env bash
# Runs the same tiny fixed-seed experiments with two qretrain binaries and
# compares their tables: a speed change must leave the numbers alone (or the
# difference is reported, to be documented). Each run gets a fresh folder.
#
#   scripts/compare-results.sh OLD_QRETRAIN NEW_QRETRAIN [--set runtime.gemm=openblas ...]
# Extra arguments are passed to the NEW binary only (e.g. a backend switch).
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: $0 OLD_QRETRAIN NEW_QRETRAIN [extra args for NEW]" >&2; exit 2; }
old=$1 new=$2
shift 2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# name | config | overrides
experiments=(
  "lenet5|configs/fmnist_L.yaml|dataset.train_limit=3000 dataset.dev_size=1000 dataset.test_limit=2000 train.max_epochs=2 retrain.max_epochs=1 quant.bits=[2,4]"
  "cnn_c|configs/fmnist_C.yaml|dataset.train_limit=1500 dataset.dev_size=500 dataset.test_limit=1000 train.max_epochs=1 retrain.max_epochs=1 quant.bits=[2] quant.methods=[direct,adaptive]"
  "lstm64|configs/gcide_64.yaml|train.epoch_chars=65536 dataset.dev_limit=16384 dataset.test_limit=32768 train.max_epochs=2 retrain.max_epochs=1 quant.bits=[2] quant.methods=[direct,conventional]"
)
status=0
for e in "${experiments[@]}"; do
  IFS='|' read -r name config overrides <<< "$e"
  sets=()
  for o in $overrides; do sets+=(--set "$o"); done
  for side in old new; do
    bin=$old
    extra=()
    if [ "$side" = new ]; then bin=$new; extra=("$@"); fi
    "$bin" run --config "$config" "${sets[@]}" --set output.dir="$work/$name-$side" --set runtime.progress=off \
      "${extra[@]}" > "$work/$name-$side.log" 2>&1 || { echo "$name: $side run failed, see below"; tail -5 "$work/$name-$side.log"; exit 1; }
    "$bin" table --config "$config" "${sets[@]}" --set output.dir="$work/$name-$side" --format csv > "$work/$name-$side.csv"
    # Every run's test and dev metric at full precision, beside the table's 4 decimals.
    "$bin" export --config "$config" "${sets[@]}" --set output.dir="$work/$name-$side" --format jsonl |
      /usr/bin/python3 -c 'import json,sys
for l in sys.stdin:
    r = json.loads(l)
    if "test_metric" in r: print(r["network"], r["method"], r["bits"], r["seed"], repr(r["test_metric"]), repr(r["dev_metric"]))' |
      sort >> "$work/$name-$side.csv"
  done
  if cmp -s "$work/$name-old.csv" "$work/$name-new.csv"; then
    echo "$name: same table ($(wc -l < "$work/$name-new.csv") lines)"
  else
    echo "$name: tables differ:"
    diff "$work/$name-old.csv" "$work/$name-new.csv" || true
    status=1
  fi
done
exit $status
