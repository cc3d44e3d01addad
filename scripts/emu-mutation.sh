#!/usr/bin/env bash
# Mutation check of the emulated GPU tests (issue 20): delete each barrier in kernels/ (every __syncthreads() and
# grid.sync()), one at a time, in a scratch copy of the working tree, rebuild the emulated GPU suite (the gpu-emu
# preset) and run the gate tests (default model, odd shapes, the shapes that break vector paths) on the plain-stream
# backend of every kernel (forward order, race check on; MLPBENCH_EMU_RACECHECK=0: off, so that only a wrong
# output catches a mutant). A mutation
# is caught when at least one test fails or the emulator aborts. Prints one line per mutation and the count;
# exits 1 if any mutation was missed. Takes ~2 minutes per mutation on 2 cores.
#   scripts/emu-mutation.sh [SCRATCH_DIR]   (default: a new folder under /tmp, removed at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=${1:-$(mktemp -d /tmp/mlpbench-mutation.XXXXXX)}
mkdir -p "$scratch"
racecheck=${MLPBENCH_EMU_RACECHECK:-1}  # 0: only wrong outputs (in forward order) catch a mutant
keep=${1:+1}
cleanup() { [[ -n $keep ]] || rm -rf "$scratch"; }
trap cleanup EXIT

# The working tree as it is (tracked and new files, not ignored ones), without the build folders.
git ls-files -co --exclude-standard -z | tar --null -T - -cf - | tar -xf - -C "$scratch"
cd "$scratch"
cmake --preset gpu-emu >/dev/null
filter=''
for k in naive tiled gemv fused; do
  for t in DefaultModelAtBatch1_10_100 OddShapes BreaksVectorPaths; do filter+="All/GpuBackend.$t/cuda_$k:"; done
done

mapfile -t sites < <(grep -nE '__syncthreads\(\)|grid\.sync\(\)' kernels/*.cu kernels/*.cuh | cut -d: -f1,2)
caught=0
for site in "${sites[@]}"; do
  file=${site%%:*} line=${site##*:}
  cp "$file" "$file.orig"
  sed -i -E "${line}s/__syncthreads\(\);|grid\.sync\(\);/;/" "$file"
  if ! cmake --build --preset gpu-emu --target gpu_backends_test >"build-$line.log" 2>&1; then
    echo "  $site: the mutant does not build (see $scratch/build-$line.log)"
    mv "$file.orig" "$file"
    continue
  fi
  log=mutant-${file//\//_}-$line.log
  if (MLPBENCH_EMU_RACECHECK=$racecheck build/gpu-emu/tests/gpu_backends_test --gtest_filter="$filter" >"$log" 2>&1); then
    echo "  $site: MISSED (every test passed without this barrier)"
  else
    # The race check's report (kernel and line), or the emulator's abort, or the first test that failed.
    why=$(grep -m1 -oE 'racecheck: .*' "$log" || grep -m1 -E 'mlpbench CUDA emulator:' "$log" || grep -m1 -E '\[  FAILED  \]' "$log")
    echo "  $site: caught: ${why:0:240}"
    caught=$((caught + 1))
  fi
  mv "$file.orig" "$file"
done
echo "mutation check: $caught of ${#sites[@]} barriers deleted were caught"
((caught == ${#sites[@]}))
