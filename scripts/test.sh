#!/usr/bin/env bash
# Sets up, builds and runs every test: scripts/test.sh [extra ctest arguments]
#  1. installs missing Debian packages (scripts/setup.sh);
#  2. the `default` preset (Release; the CUDA code compiles and links when nvcc is found; GPU tests skip with
#     the reason when no GPU is usable): build, ctest (unit, end-to-end and bench smoke tests);
#  3. the `asan` preset: the unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer;
#  4. scripts/fuzz.sh: each libFuzzer target for 20 s (skipped, saying why, without clang's libFuzzer).
# Set MLPBENCH_TEST_QUICK=1 to run step 2 only.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
jobs=$(nproc)
step() { printf '\n== %s\n' "$*"; }

step "build and test (default preset)"
cmake --preset default
cmake --build --preset default -j "$jobs"
ctest --preset default -j "$jobs" "$@"

if [[ "${MLPBENCH_TEST_QUICK:-0}" == 1 ]]; then exit 0; fi

step "unit tests under ASan + UBSan (asan preset)"
cmake --preset asan
cmake --build --preset asan -j "$jobs"
ctest --preset asan -j "$jobs" "$@"

step "fuzzing (fuzz preset)"
scripts/fuzz.sh "${MLPBENCH_FUZZ_SECONDS:-20}"
