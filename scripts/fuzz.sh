#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz preset: clang, ASan + UBSan) and runs each for a bounded time on its
# seed corpus: scripts/fuzz.sh [seconds per target, default 20]. Exits non-zero on any crash or sanitizer
# report; a crashing input is left in build/fuzz/artifacts/ (turn it into a regression test).
# Skips, saying why, when clang or libFuzzer is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}

if ! command -v clang++ >/dev/null; then
  echo "fuzz: SKIPPED: clang++ not found"
  exit 0
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }' >"$probe/p.cpp"
if ! clang++ -fsanitize=fuzzer "$probe/p.cpp" -o "$probe/p" 2>/dev/null; then
  echo "fuzz: SKIPPED: clang++ has no libFuzzer (install libclang-rt-dev for your clang)"
  exit 0
fi

cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$(nproc)"
mkdir -p build/fuzz/artifacts
for target in safetensors results lists; do
  work="build/fuzz/corpus-$target"  # the committed seeds stay untouched; new inputs go here
  log="build/fuzz/fuzz_$target.log"  # libFuzzer's whole output
  mkdir -p "$work"
  rc=0
  ./build/fuzz/fuzz/fuzz_$target -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix=build/fuzz/artifacts/$target- "$work" "fuzz/corpus/$target" >"$log" 2>&1 || rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  corpus=$(find "$work" -type f | wc -l)
  if ((rc != 0)); then
    echo "fuzz: $target FAILED (exit $rc) after ${runs:-?} runs: see $log and build/fuzz/artifacts/"
    tail -n 30 "$log"
    exit 1
  fi
  echo "fuzz: $target: ${runs:-?} runs in ${seconds}s, corpus $corpus inputs, 0 crashes (log: $log)"
done
echo "fuzz: 0 crashes, 0 sanitizer reports"
