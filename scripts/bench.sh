#!/usr/bin/env bash
# Sets up, builds and runs the main job: scripts/bench.sh [mlpbench run options]
# 1. `mlpbench run` on the default model at batch sizes 1, 10, 100 (or what you pass): the three lines,
#    the table, and a results JSON under results/ named by host and UTC time;
# 2. bench/ (Google Benchmark, the same backends and timing core) at 1, 10, 100, as a cross-check: its
#    medians should agree with the run's within noise.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
cmake --preset default
cmake --build --preset default -j "$(nproc)"

./build/default/mlpbench run "$@"
echo
echo "Cross-check with Google Benchmark (median of 5 repetitions):"
./build/default/bench/mlpbench_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true \
  --benchmark_min_time=0.2 | grep -E '^Benchmark|^-|_median'
