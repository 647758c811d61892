#!/usr/bin/env bash
# README command 1: install dependencies, build, and run the default
# experiment (LeNet-5 on Fashion-MNIST, bits 2/3/4, direct/conventional/
# adaptive), then print its table.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
./build/qretrain run --config configs/fmnist_L.yaml
