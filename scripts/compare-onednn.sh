#!/usr/bin/env bash
# Side by side with oneDNN, a bench-only peer (the mlpbench program and library never link it): builds the
# default preset, runs mlpbench_bench_onednn (BM_forward/{eigen,eigen-omp-packed,onednn} at batch 1, 10, 100:
# same model, inputs, threads and timing core; 5 repetitions of >= 0.2 s each) and prints, per batch size,
# each one's median time per forward pass, the spread of the 5 repetitions (cv = stddev / mean), and
# ours/onednn = eigen-omp-packed median / onednn median (below 1: ours is faster).
# Usage: scripts/compare-onednn.sh [more mlpbench_bench_onednn flags]
#        (MLPBENCH_THREADS=N and MLPBENCH_LAYERS=784,512,512,10 apply; JOBS=N for the build, default nproc)
# Needs oneDNN at configure time (Debian: libdnnl-dev + ocl-icd-opencl-dev, which scripts/setup.sh --test installs as
# optional packages); without it this says so and exits 1. Exits 3 when a backend fails its output check.
set -euo pipefail
cd "$(dirname "$0")/.."

cmake --preset default
cmake --build --preset default -j "${JOBS:-$(nproc)}"

bin=build/default/bench/mlpbench_bench_onednn
if [[ ! -x $bin ]]; then
  echo "compare-onednn: $bin was not built: oneDNN was not found (see the 'mlpbench:' line of the configure" \
    "output above; Debian: scripts/setup.sh --test installs libdnnl-dev and ocl-icd-opencl-dev)" >&2
  exit 1
fi

csv=$(mktemp)
trap 'rm -f "$csv"' EXIT
echo
set +e
"$bin" --benchmark_repetitions=5 --benchmark_report_aggregates_only=true --benchmark_min_time=0.2 \
  --benchmark_out="$csv" --benchmark_out_format=csv "$@" | grep -E '^Benchmark|^-|_median|ERROR'
rc=${PIPESTATUS[0]}
set -e
if ((rc != 0)); then
  echo "compare-onednn: $bin failed (exit $rc); see above" >&2
  exit "$rc"
fi

# The CSV's first five columns (name, iterations, real_time, cpu_time, time_unit) hold no commas. Its cv row
# is not a plain ratio in every libbenchmark version, so cv is computed here from stddev and mean.
echo
echo "Median time per forward pass (cv over the repetitions); ours/onednn = eigen-omp-packed / onednn:"
awk -F, '
  $1 ~ /^"BM_forward\// {
    name = $1; gsub(/"/, "", name)
    n = split(name, part, "/")  # BM_forward, backend, batch, manual_time_<statistic>
    if (n != 4) next
    stat = part[4]; sub(/^manual_time_/, "", stat)
    key = part[2] SUBSEP part[3]
    value[key, stat] = $3; unit = $5
    if (!(part[3] in seen)) { seen[part[3]] = 1; batches[++nb] = part[3] }
  }
  function cell(b, backend,   k, m) {
    k = backend SUBSEP b
    if (!((k, "median") in value)) return "-"
    m = value[k, "mean"]
    return sprintf("%.2f %s (%.1f%%)", value[k, "median"], unit, m > 0 ? 100 * value[k, "stddev"] / m : 0)
  }
  END {
    for (i = 2; i <= nb; ++i)  # batch sizes in numeric order, whatever order they ran in
      for (j = i; j > 1 && batches[j - 1] + 0 > batches[j] + 0; --j) { t = batches[j]; batches[j] = batches[j - 1]; batches[j - 1] = t }
    printf "%-6s  %-20s  %-20s  %-20s  %s\n", "batch", "eigen", "eigen-omp-packed", "onednn", "ours/onednn"
    for (i = 1; i <= nb; ++i) {
      b = batches[i]; ours = "eigen-omp-packed" SUBSEP b; peer = "onednn" SUBSEP b
      ratio = "-"
      if ((ours, "median") in value && (peer, "median") in value && value[peer, "median"] > 0)
        ratio = sprintf("%.3f", value[ours, "median"] / value[peer, "median"])
      printf "%-6s  %-20s  %-20s  %-20s  %s\n", b, cell(b, "eigen"), cell(b, "eigen-omp-packed"), cell(b, "onednn"), ratio
    }
  }' "$csv"
