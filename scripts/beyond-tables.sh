#!/usr/bin/env bash
# Issue 18's comparison outputs from the results store, for each finished
# config (default: the three beyond_* configs): the table (md, csv), the
# paired comparisons of per-tensor against per-channel steps and of LSQ
# against both L2 policies, and how far each layer's step moved
# (scripts/step-moves.py), and LSQ's Δ per layer over retraining (qretrain plot).
# Run after `qretrain sweep --config CONFIG`
# (scripts/paper-grids.sh runs the sweep and the same comparisons).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BUILD_DIR:-build}/qretrain
[ $# -gt 0 ] || set -- configs/beyond_fmnist_L.yaml configs/beyond_standin_256.yaml configs/beyond_fmnist_L_first_last8.yaml
for config in "$@"; do
  name=$(basename "$config" .yaml)
  memory=""  # per-layer bit widths: the table carries the memory bill they buy
  grep -q '^  layer_bits:' "$config" && memory=--memory
  "$bin" table --config "$config" $memory -o "results/$name.md"
  "$bin" table --config "$config" --format csv -o "results/$name.csv"
  methods=$("$bin" --config "$config" config --dump | sed -n 's/^  methods: \[\([^]]*\)\].*/\1/p')
  pairs="adaptive,conventional lsq,adaptive lsq,conventional"
  if [[ $methods == *@channel* ]]; then
    pairs="$pairs adaptive@channel,adaptive conventional@channel,conventional lsq@channel,lsq"
    pairs="$pairs adaptive@channel,conventional@channel lsq@channel,adaptive@channel"
  fi
  for pair in $pairs; do
    "$bin" table --config "$config" --compare "$pair" -o "results/${name}_compare_${pair//,/_vs_}.md"
  done
  scripts/step-moves.py runs/results.sqlite "$name" > "results/${name}_step_moves.md"
  # LSQ's Δ per layer over retraining (per channel: the layer's mean Δ), as Fig. 2 draws adaptive's.
  for method in lsq lsq@channel; do
    [[ " ${methods//,/ } " == *" $method "* ]] || continue
    "$bin" plot --config "$config" --method "$method" -o "results/${name}_delta_${method}"
  done
done
