#!/usr/bin/env bash
# Installs every Debian 12 package qretrain needs to build, test and run.
# Idempotent: does nothing when all packages are already installed.
set -euo pipefail

PACKAGES=(
  build-essential cmake git pkg-config
  libtorch-dev              # LibTorch 1.13 (CPU): tensors, autograd, nn modules, optimizers
  libopenblas0-pthread      # fast BLAS behind LibTorch (Debian's default libblas is the slow reference one)
  libcli11-dev              # command-line parsing
  libyaml-cpp-dev           # YAML experiment configs
  libspdlog-dev libfmt-dev  # logging and formatting
  libsqlite3-dev            # the results store
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

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "[install] installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
