#!/usr/bin/env bash
# Sets up, builds and runs the main job: scripts/bench.sh [mlpbench run options]
#  1. installs the Debian packages that building and running need (scripts/setup.sh; the test tools are
#     scripts/test.sh's);
#  2. configures and builds the default preset (build/default);
#  3. `mlpbench run`: the default model at batch sizes 1, 10, 100 (or what you pass), every CPU backend at 1 thread,
#     every core and the powers of two between; the three lines, the table, and a results JSON under results/
#     named by host and UTC time. About a minute after the build on a 2-core VM (more on a busy machine: a cell
#     that does not converge samples for up to 5 s; the first run on a machine also measures its roof, ~10 s).
# The bench/ cross-check (Google Benchmark beside the run) is scripts/crosscheck.sh; scripts/test.sh runs it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)"

echo
log=$(mktemp /tmp/mlpbench-bench.XXXXXX)
trap 'rm -f "$log"' EXIT
t0=$SECONDS
./build/default/mlpbench run "$@" | tee "$log"
results=$(sed -n 's/^Results written to //p' "$log" | tail -n1)
echo
echo "bench.sh: mlpbench run took $((SECONDS - t0)) s."
echo "The results file: ${results:-where --out said}"
echo "The program: build/default/mlpbench (cmake --install build/default --prefix ~/.local puts it on PATH as mlpbench)."
