#!/usr/bin/env bash
# Sets up, builds and runs every test: scripts/test.sh [extra ctest arguments]
# Installs missing Debian packages (scripts/setup.sh), configures the `default` preset (Release; the CUDA
# code compiles and links when nvcc is found; GPU tests skip with the reason when no GPU is usable), builds
# everything and runs ctest, including the bench/ smoke run.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
jobs=$(nproc)
cmake --preset default
cmake --build --preset default -j "$jobs"
ctest --preset default -j "$jobs" "$@"
