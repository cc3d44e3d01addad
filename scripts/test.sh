#!/usr/bin/env bash
# Sets up, builds and runs every test: scripts/test.sh [extra ctest arguments]
#  1. installs missing Debian packages, the test tools included (scripts/setup.sh --test);
#  2. the `default` preset (Release; the CUDA code compiles and links when nvcc is found; GPU tests skip with
#     the reason when no GPU is usable) with MLPBENCH_TOOL_TESTS=ON (a missing test tool fails the configure):
#     build, ctest (unit, end-to-end, tool and bench smoke tests);
#  2b. scripts/crosscheck.sh: `mlpbench run` and bench/ side by side, like with like (20-70 s); a MISMATCH row is
#     shown, not a failure (timings are never asserted); a real error (a program failing, bad JSON, no row
#     matched) fails the step;
#  3. scripts/gpu-check.sh in its dry run (MLPBENCH_GPU_CHECK_DRY_RUN=1, TEST ONLY) on build/default: every step's
#     code path without a GPU, twice (20-60 s each), with a fake compute-sanitizer that times out, then one that
#     reports an error; checks the exit codes and SUMMARY.txt;
#  4. the `gpu-emu` preset: our GPU kernels and backends on the CUDA emulator (emu/), the GPU tests that need no
#     real timing, in three thread orders with the race check on;
#  5. the `asan` preset: the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer, the GPU
#     backends on the emulator too;
#  6. scripts/fuzz.sh: each libFuzzer target for 20 s (skipped, saying why, without clang's libFuzzer).
# Set MLPBENCH_TEST_QUICK=1 to run step 2 only. Every build here treats a compiler warning as an error.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh --test
jobs=$(nproc)
export MLPBENCH_WERROR=ON  # the presets pass it on: a new warning fails the build
# step TITLE: the title, after how long the previous step took (CI's log shows where the minutes go).
step_start=$SECONDS
step() {
  ((SECONDS > step_start)) && printf '(that step: %d min %02d s)\n' $(((SECONDS - step_start) / 60)) $(((SECONDS - step_start) % 60))
  step_start=$SECONDS
  printf '\n== %s\n' "$*"
}

# ctest_preset PRESET [args]: ctest without a line per skipped test (ctest lists them once at the end), then
# each reason for skipping with how many tests gave it.
ctest_preset() {
  local preset=$1
  shift
  set -o pipefail
  ctest --preset "$preset" -j "$jobs" "$@" | awk '!/\*\*\*Skipped/'
  local log=build/$preset/Testing/Temporary/LastTest.log
  [[ -f $log ]] && awk '/: Skipped$/ { getline reason; n[reason]++ } END { for (r in n) printf "Skipped %d test(s), saying: %s\n", n[r], r }' "$log"
}

step "build and test (default preset)"
cmake --preset default -DMLPBENCH_TOOL_TESTS=ON
cmake --build --preset default -j "$jobs"
ctest_preset default "$@"

if [[ "${MLPBENCH_TEST_QUICK:-0}" == 1 ]]; then exit 0; fi

step "bench/ cross-check (scripts/crosscheck.sh; MISMATCH rows are reported, not failures)"
# Its roof goes to a cache of its own, as the dry run's below: measured while CI loads the machine, it must not be the user's.
MLPBENCH_CACHE_DIR="$PWD/build/default/crosscheck-roof-cache" scripts/crosscheck.sh

step "GPU check, dry run (scripts/gpu-check.sh, TEST ONLY mode, on build/default)"
# gpu_check_dry_run NAME FAKE WANT_RC VERDICT SANITIZER: the dry run into build/default/NAME with the fake
# compute-sanitizer (TEST ONLY) in mode FAKE; checks the exit code, the verdict (SUMMARY.txt's first line) and the
# sanitizer's line (regexes), that every other step passed or skipped (run passed: the steps after the sanitizer
# went on), that the sanitizer was given the kernel filter, the three lines, serve's answer, the peer's reason, the
# file count.
gpu_check_dry_run() {
  local out=build/default/$1 fake=$2 want_rc=$3 verdict=$4 sanitizer=$5 rc=0 s l bad=()
  rm -rf "$out"
  # The dry run's roof goes to a cache of its own: measured while CI loads the machine, it must not be the user's.
  MLPBENCH_CACHE_DIR="$PWD/build/default/gpu-check-roof-cache" MLPBENCH_GPU_CHECK_DRY_RUN=1 \
    MLPBENCH_GPU_CHECK_FAKE_SANITIZER=$fake scripts/gpu-check.sh "$out" >/dev/null || rc=$?
  local sum=$out/SUMMARY.txt
  ((rc == want_rc)) || bad+=("exit $rc, expected $want_rc")
  [[ -f $sum ]] || { bad+=("no SUMMARY.txt"); sum=/dev/null; }
  [[ $(head -n1 "$sum") =~ $verdict ]] || bad+=("the first line of SUMMARY.txt does not match '$verdict'")
  for s in preflight deps configure build ctest run serve peer summary; do
    grep -qE "^  $s +(PASS|SKIP) " "$sum" || bad+=("no PASS or SKIP line for step $s")
  done
  grep -qE '^  run +PASS ' "$sum" || bad+=("run did not pass: the steps after the sanitizer must go on")
  grep -qE "^  sanitizer +$sanitizer" "$sum" || bad+=("the sanitizer's line does not match '$sanitizer'")
  grep -q -- '--kernel-name kns=mlpbench ' "$out/gpu-check.log" 2>/dev/null || bad+=("compute-sanitizer was not given the kernel filter")
  for l in "CPU time: " "GPU time: " "Faster hardware: " "Served at p99 <= "; do grep -q "^$l" "$sum" || bad+=("no '$l' line"); done
  if ! python3 -c 'import torch; assert torch.cuda.is_available()' >/dev/null 2>&1; then
    grep -qE '^  peer +SKIP .*torch' "$sum" || bad+=("the peer step does not say that it skipped for want of torch")
  fi
  (($(find "$out" -type f | wc -l) <= 8)) || bad+=("more than 8 files in $out")
  cat "$sum"
  if ((${#bad[@]} > 0)); then
    tail -n 40 "$out/gpu-check.log" 2>/dev/null
    echo "gpu-check dry run (fake sanitizer: $fake) FAILED: $(printf '%s; ' "${bad[@]}")" >&2
    return 1
  fi
}
# A sanitizer that reaches its time limit: TIMEOUT with the tests it finished, the later steps go on, exit 0.
gpu_check_dry_run gpu-check-dry-run timeout 0 '^mlpbench gpu-check: PASSED with 1 step\(s\) timed out \(sanitizer\)' \
  'TIMEOUT .* checked 2 of [0-9]+ test\(s\), 0 errors in them; gpu_backends_test: its [0-9]+s limit reached in All/'
# A memcheck error fails the step and the check (exit 1), and the later steps still run.
gpu_check_dry_run gpu-check-dry-run-errors errors 1 '^mlpbench gpu-check: FAILED$' 'FAIL .* memcheck errors \(1 report'

step "our GPU kernels on the CUDA emulator (gpu-emu preset; nothing timed)"
# Every own GPU backend gated against the CPU at the shapes that break vector paths, graph vs stream, zero-copy
# vs copy, cold vs hot; the plain-stream backends again with each block's threads reversed and shuffled; the race
# check on; the emulator's own tests; and the CLI's GPU branch end to end (tests/CMakeLists.txt, README Tests).
cmake --preset gpu-emu
cmake --build --preset gpu-emu -j "$jobs" --target mlpbench gpu_backends_test gpu_emu_test cli_test
ctest_preset gpu-emu -R '^(All/Gpu|Gpu(Factory|Roof|FusedGrid)[.]|Emulator[.]|Cli[.](GpuRequestsExitThree|TheReasonForNoGpu))' "$@"

step "unit tests under ASan + UBSan (asan preset; the GPU backends on the CUDA emulator)"
cmake --preset asan
cmake --build --preset asan -j "$jobs"
ctest_preset asan "$@"

step "fuzzing (fuzz preset)"
scripts/fuzz.sh "${MLPBENCH_FUZZ_SECONDS:-20}"

step "done: every test passed"
echo "mlpbench is at build/default/mlpbench (try: build/default/mlpbench run --batch-size 1);"
echo "cmake --install build/default --prefix ~/.local puts it on PATH as mlpbench."
