#!/usr/bin/env bash
# Installs every Debian 12 package qretrain needs to build, test and run.
# Idempotent: does nothing when all packages are already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake git pkg-config
  libtorch-dev              # LibTorch 1.13 (CPU): tensors, autograd, nn modules, optimizers
  libdnnl-dev               # oneDNN's headers: its AVX-512 sgemm behind runtime.gemm (LibTorch loads the library already)
  python3-torch             # the plain PyTorch eager loop that scripts/bench-vs-pytorch.sh measures qretrain against
  libopenblas0-pthread      # fast BLAS behind LibTorch (Debian's default libblas is the slow reference one)
  libcli11-dev              # command-line parsing
  libyaml-cpp-dev           # YAML experiment configs
  libspdlog-dev libfmt-dev  # logging and formatting
  libsqlite3-dev            # the results store
  libxxhash-dev             # xxHash checksums of the decoded-image cache
  nlohmann-json3-dev        # the JSON header of packed model files (export-model, infer)
  python3-onnx              # tests: Python's ONNX checker on the exported models (the test skips without it)
  libonnx-dev               # ONNX protobufs and checker: `export-model --onnx` (src/deploy/onnx.h)
  zlib1g-dev                # gzip-compressed idx files (Fashion-MNIST)
  libmatio-dev              # MATLAB .mat files (SVHN)
  libsndfile1-dev           # NIST SPHERE audio (TIMIT .WAV files)
  flite1-dev                # speech synthesis for the TIMIT stand-in corpus (voices kal16, awb, rms, slt)
  dict-gcide                # English sentences for the speech stand-in (and the text stand-in)
  gnuplot-nox               # `qretrain plot` renders Fig. 2 to PNG and SVG
  libgtest-dev libgmock-dev # the test suite
  libbenchmark-dev          # bench/
  dataset-fashion-mnist     # the embedded stand-in dataset
)

# Best effort: only the Slurm test needs these, and it skips (exit 77) without them,
# so a failure to install them is a warning, not an error.  tests/slurm/slurm_cluster.sh
# runs its own munged/slurmctld/slurmd (own key, socket, ports and slurm.conf), so
# system services these packages may start (munge; slurmd/slurmctld stay down without
# /etc/slurm/slurm.conf) do not get in its way.
SLURM_PACKAGES=(
  slurmctld                 # Slurm controller daemon, for the private test cluster
  slurmd                    # Slurm compute-node daemon, for the private test cluster
  slurm-client              # sbatch, squeue, scontrol, scancel
  slurm-wlm                 # the Slurm metapackage (the three above)
  munge                     # authentication between the Slurm daemons and clients
)

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in "${PACKAGES[@]}"; do installed "$p" || missing+=("$p"); done
missing_slurm=()
for p in "${SLURM_PACKAGES[@]}"; do installed "$p" || missing_slurm+=("$p"); done
if [ ${#missing[@]} -eq 0 ] && [ ${#missing_slurm[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -ne 0 ]; then
  echo "[install] installing: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
  updated=1
fi
if [ ${#missing_slurm[@]} -ne 0 ]; then
  echo "[install] installing (optional, for the Slurm test): ${missing_slurm[*]}"
  if ! { [ -n "${updated:-}" ] || $SUDO apt-get update -qq; } ||
     ! $SUDO apt-get install -y -qq --no-install-recommends "${missing_slurm[@]}"; then
    echo "[install] WARNING: could not install ${missing_slurm[*]}; the Slurm test will be skipped" >&2
  fi
fi
