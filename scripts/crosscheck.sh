#!/usr/bin/env bash
# The bench/ cross-check, like with like: scripts/crosscheck.sh [mlpbench run options, e.g. --quick]
#  1. `mlpbench run` (the default model at batch 1, 10, 100, every CPU backend at 1 thread, every core and the
#     powers of two between; the options given) into build/default/crosscheck/run.json;
#  2. bench/ (mlpbench_bench) as that run was made (scripts/bench_crosscheck.py --plan): the run's backends,
#     model and thread counts, hot, as many repetitions as the run's rounds (6; --quick: 3) in Google Benchmark's
#     random interleaving, each repetition as long as a round's slice (~0.08 s), into .../bench.json;
#  3. scripts/bench_crosscheck.py: per backend, batch size and thread count, both medians in us with the same
#     distribution-free 95% interval (from the run's round medians and bench's per-repetition medians), and
#     MISMATCH where the two intervals don't meet: reported with why, never a failure (timings are not tested).
# Exit 0 with or without mismatches; not 0 on a real error: a program failing (bench/ exits 3 when a backend fails
# its output check), a file that isn't what it should be, no row in common. Builds mlpbench and mlpbench_bench in
# MLPBENCH_BUILD_DIR (default build/default; the default preset is configured first where it isn't). Needs
# python3 (scripts/setup.sh --test installs it). scripts/test.sh runs it after the default preset's ctest.
set -euo pipefail
cd "$(dirname "$0")/.."

build=${MLPBENCH_BUILD_DIR:-build/default}
if [[ ! -f $build/CMakeCache.txt ]]; then
  [[ $build == build/default ]] || { echo "crosscheck: $build is not a configured build folder" >&2; exit 2; }
  cmake --preset default
fi
command -v python3 >/dev/null || { echo "crosscheck: needs python3 (scripts/setup.sh --test installs it)" >&2; exit 2; }
cmake --build "$build" -j "$(nproc)" --target mlpbench mlpbench_bench

out=$build/crosscheck
rm -rf "$out"
mkdir -p "$out"
t0=$SECONDS
echo "crosscheck: mlpbench run $* (log: $out/run.log)"
if ! "$build/mlpbench" run "$@" --out "$out/run.json" >"$out/run.log" 2>&1; then
  tail -n 20 "$out/run.log" >&2
  echo "crosscheck: mlpbench run failed (log: $out/run.log)" >&2
  exit 1
fi
t1=$SECONDS

declare -A plan=()
while IFS='=' read -r key value; do plan[$key]=$value; done < <(python3 scripts/bench_crosscheck.py --plan "$out/run.json")
for key in repetitions min_time_s threads layers filter; do
  [[ -n ${plan[$key]+x} ]] || { echo "crosscheck: bench_crosscheck.py --plan gave no $key" >&2; exit 2; }
done
echo "crosscheck: bench/ at threads ${plan[threads]:-(GPU only)}, ${plan[repetitions]} repetitions of ${plan[min_time_s]} s," \
  "random interleaving (log: $out/bench.log)"
rc=0
MLPBENCH_THREADS=${plan[threads]:-1} MLPBENCH_LAYERS=${plan[layers]} "$build/bench/mlpbench_bench" \
  --benchmark_filter="${plan[filter]}" --benchmark_repetitions="${plan[repetitions]}" \
  --benchmark_min_time="${plan[min_time_s]}" --benchmark_enable_random_interleaving=true \
  --benchmark_out="$out/bench.json" --benchmark_out_format=json >"$out/bench.log" 2>&1 || rc=$?
if ((rc != 0)); then
  grep -E 'ERROR|error' "$out/bench.log" >&2 || tail -n 20 "$out/bench.log" >&2
  echo "crosscheck: mlpbench_bench failed (exit $rc; 3: a backend failed its output check; log: $out/bench.log)" >&2
  exit 1
fi
t2=$SECONDS

echo
python3 scripts/bench_crosscheck.py "$out/run.json" "$out/bench.json"
echo "crosscheck: the run took $((t1 - t0)) s, bench/ $((t2 - t1)) s; files in $out"
