#!/usr/bin/env bash
# The hardware issue's checks on real networks (README "Packed models and
# integer inference"): runs one cell of each committed stand-in table into
# runs/deploy (their kept networks are not in the repository), exports each
# as a packed file and ONNX, reads it back with scripts/read_packed.py, runs
# `qretrain infer` on it (float signals and 8-bit fixed-point signals), and
# writes the weight-bits x signal-bits tables of LeNet-5 and FFDNN-512.
#
#   scripts/deploy-checks.sh [OUT_DIR]     (default results/deploy)
#
# Writes OUT_DIR/roundtrip.md (every command's output), OUT_DIR/signals_*.md.
# About an hour on 2 cores, most of it training the float baselines. Cells
# already in runs/deploy are not run again, so a second call only exports,
# infers and tables.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-results/deploy}
bin=${BUILD_DIR:-build}/qretrain
[ -x "$bin" ] || { echo "$bin not built (scripts/build.sh)" >&2; exit 1; }
mkdir -p "$out" runs/deploy/models
models=runs/deploy/models
common=(--set output.dir=runs/deploy --set 'output.archive=""' --set runtime.progress=off)
log="$out/roundtrip.md"
started=$(date -u +%FT%TZ)

{
  echo "# Packed models on real cells: export, Python reader, integer inference"
  echo
  echo "Written by \`scripts/deploy-checks.sh\` at commit $(git rev-parse --short HEAD) on $(uname -n), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores; started $started."
  echo "Each cell was run into runs/deploy with the committed config (one network, seed 1), then:"
  echo "\`qretrain export-model\` → \`scripts/read_packed.py\` (its weights compared bit for bit with the ONNX file's initializers, which the C++ side wrote) → \`qretrain infer\` with float and 8-bit signals."
  echo "Budgets are the committed configs' except where a cell's \`--set\` overrides say otherwise (shorter retraining, or a short V, to fit one session)."
  echo
} > "$log"

# check CONFIG NETWORK METHOD BITS [--set ...]: run the cell into runs/deploy,
# export and infer it. With CONFIG's own output.dir (no run) when RUN=0.
check() {
  local config=$1 network=$2 method=$3 bits=$4; shift 4
  local name; name=$(basename "$config" .yaml)-${network}-${method}-${bits}bit
  local file=$models/$name.qpk
  local -a where=("${common[@]}")
  if [ "${RUN:-1}" = 1 ]; then
    "$bin" run --config "$config" "${common[@]}" "$@" >/dev/null
  else
    where=()
  fi
  {
    echo "## $name"
    echo
    echo '```'
    echo "\$ qretrain export-model --config $config $* --network $network --method $method --bits $bits -o $file --onnx ${file%.qpk}.onnx"
    "$bin" export-model --config "$config" "${where[@]}" "$@" --network "$network" --method "$method" --bits "$bits" \
      -o "$file" --onnx "${file%.qpk}.onnx" 2>/dev/null
    echo "\$ scripts/read_packed.py $file --raw-out ${file%.qpk}.raw | tail -4"
    /usr/bin/python3 scripts/read_packed.py "$file" --raw-out "${file%.qpk}.raw" | tail -4
    echo "\$ python3: scripts/read_packed.py's weights against the ONNX file's initializers (written by the C++ side)"
    /usr/bin/python3 - "$file" "${file%.qpk}.onnx" <<'PY'
import sys, numpy as np, onnx
from onnx import numpy_helper
sys.path.insert(0, "scripts")
import read_packed
header, tensors, levels = read_packed.load(sys.argv[1])
onnx_values = {t.name: numpy_helper.to_array(t) for t in onnx.load(sys.argv[2]).graph.initializer}
same = [n for n in tensors if n in onnx_values and (tensors[n] + np.float32(0)).tobytes() == (onnx_values[n] + np.float32(0)).tobytes()]
shared = [n for n in tensors if n in onnx_values]
print(f"{len(same)} of {len(shared)} tensors named in both are equal bit for bit ({len(levels)} weight groups in the file)")
PY
    echo "\$ qretrain infer --model $file"
    "$bin" infer --model "$file" 2>/dev/null
    echo "\$ qretrain infer --model $file --signal-bits 8"
    "$bin" infer --model "$file" --signal-bits 8 2>/dev/null
    echo '```'
    echo
  } >> "$log"
}

one_seed=(--set 'seeds=[1]')
check configs/fmnist_L.yaml L adaptive 2
check configs/fmnist_L.yaml L adaptive 4
# Table 3's C and V: the kept networks of its grid (scripts/paper-grids.sh) in runs/, when this machine ran them.
for network in C V; do
  if "$bin" export-model --config configs/table3_fmnist.yaml --network $network --method adaptive --bits 2 \
       -o "$models/probe.qpk" >/dev/null 2>&1; then
    RUN=0 check configs/table3_fmnist.yaml $network adaptive 2
  else
    echo "Table 3 $network: no kept network of the grid on this machine (skipped)." >> "$log"
  fi
done
# V's grid cells are hours away on 2 cores: a short V (2 float epochs, 1 of retraining) shows its round trip.
check configs/table3_fmnist.yaml V adaptive 2 "${one_seed[@]}" --set 'grid.networks=[cnn_v]' --set 'quant.bits=[2]' \
  --set 'quant.methods=[adaptive]' --set train.max_epochs=2 --set retrain.max_epochs=1
# Table 2's float recipe (its baseline ends on its schedule); retraining capped at 2 epochs per cell.
short_retrain=(--set retrain.max_epochs=2)
for bits in 2 3 4; do
  check configs/table2_standin.yaml 512x512 adaptive $bits "${one_seed[@]}" "${short_retrain[@]}" --set "quant.bits=[$bits]" \
    --set 'quant.methods=[adaptive]'
done
check configs/table1_standin.yaml 64x64+BN adaptive 2 "${one_seed[@]}" "${short_retrain[@]}" --set 'grid.networks=[ffdnn:64x64+bn]' \
  --set 'quant.bits=[2]' --set 'quant.methods=[adaptive]'
check configs/table4_gcide.yaml 64 adaptive 3 "${one_seed[@]}" "${short_retrain[@]}" --set 'grid.networks=[lstm_lm:64x64x64]' \
  --set 'quant.bits=[3]' --set 'quant.methods=[adaptive]'

# Weight bits x signal bits, with the memory bill.
"$bin" signal-table --config configs/fmnist_L.yaml "${common[@]}" --method adaptive --signal-bits 8,6,4 \
  -o "$out/signals_fmnist_L.md"
"$bin" signal-table --config configs/table2_standin.yaml "${common[@]}" "${one_seed[@]}" "${short_retrain[@]}" --set 'quant.bits=[2,3,4]' \
  --set 'quant.methods=[adaptive]' --method adaptive --signal-bits 8,6,4 -o "$out/signals_table2_standin_512.md"
echo "Finished $(date -u +%FT%TZ)." >> "$log"
echo "wrote $log and $out/signals_*.md"
