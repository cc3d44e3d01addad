#!/usr/bin/env bash
# Sets up, builds and runs the main job: scripts/bench.sh [mlpbench run options]
# 1. `mlpbench run` on the default model at batch sizes 1, 10, 100 (or what you pass): the three lines,
#    the table, and a results JSON under results/ named by host and UTC time;
# 2. bench/ (Google Benchmark, the same backends and timing core) at 1, 10, 100, as a cross-check: both
#    medians side by side in microseconds with their 95% intervals, and MISMATCH where the intervals don't
#    meet (the machine changed speed between the two, or one of them is wrong).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)"

tmp=$(mktemp -d /tmp/mlpbench-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
./build/default/mlpbench run "$@" | tee "$tmp/run.txt"
run_json=$(sed -n 's/^Results written to //p' "$tmp/run.txt" | tail -n1)
echo
echo "Cross-check with Google Benchmark (5 repetitions; this takes a minute):"
./build/default/bench/mlpbench_bench --benchmark_repetitions=5 --benchmark_min_time=0.2 \
  --benchmark_out="$tmp/bench.json" --benchmark_out_format=json >/dev/null
python3 scripts/bench_crosscheck.py "$run_json" "$tmp/bench.json" ||
  echo "bench.sh: the run and bench/ disagree where marked MISMATCH: the machine changed speed between them (rerun on a quieter machine)"
echo
echo "mlpbench is at build/default/mlpbench; cmake --install build/default --prefix ~/.local puts it on PATH as mlpbench."
