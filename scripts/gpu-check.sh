#!/usr/bin/env bash
# The whole GPU check in one command, on an air-gapped CUDA machine, from the repository root, with the
# dependency bundle .deps/ (made by scripts/bundle-deps.sh on a connected machine) carried along:
#
#   scripts/gpu-check.sh OUTDIR
#
# Steps (each timed; a failed step fails the script, later steps still run where their inputs exist):
#   preflight  tools (cmake, ninja, nvcc, compute-sanitizer, C++ compiler), .deps/, a visible GPU (nvidia-smi)
#   deps       builds GoogleTest and Google Benchmark from .deps/src with this machine's compiler (static,
#              Release) into build/gpu/_deps/prefix; skipped when already built from the same sources
#   configure  build/gpu: Release, Ninja, MLPBENCH_CUDA=ON, find_package resolved into .deps and _deps/prefix
#   build      every target, all cores
#   ctest      every test, --output-on-failure
#   sanitizer  compute-sanitizer --tool memcheck over each build/gpu/tests/gpu_*_test (any error fails it)
#   run        build/gpu/mlpbench run --batch-sizes 1,10,100 --out OUTDIR/<gpu-name>-<UTC time>.json, and
#              checks that the GPU column was measured, not taken from the reference table
# Everything printed also goes to OUTDIR/gpu-check.log. Exit status: 0 all passed, 1 a step failed, 2 usage.
# The steps share a time budget (default 450 s) so the whole check ends within 8 minutes.
#
# Environment (for testing elsewhere; none is needed on the GPU machine):
#   MLPBENCH_GPU_CHECK_ALLOW_NO_GPU=1   go on without nvidia-smi / a GPU (TEST ONLY: skips the sanitizer, and a
#                                       GPU column from the reference table is then only a warning)
#   MLPBENCH_GPU_CHECK_BUILD_DIR=DIR    build folder (default build/gpu)
#   MLPBENCH_GPU_CHECK_JOBS=N           parallel jobs (default: every core)
#   MLPBENCH_GPU_CHECK_CMAKE_ARGS="..." extra arguments for the project's configure step (word-split)
#   MLPBENCH_GPU_CHECK_BUDGET_S=N       total time budget in seconds (default 450)
set -uo pipefail

usage() {
  cat >&2 <<'EOF'
usage: scripts/gpu-check.sh OUTDIR
  Builds mlpbench with CUDA (build/gpu, dependencies from .deps/), runs every test, compute-sanitizer memcheck
  over the GPU tests and `mlpbench run --batch-sizes 1,10,100`; writes OUTDIR/<gpu-name>-<UTC time>.json and
  OUTDIR/gpu-check.log. OUTDIR must be a writable folder (created if missing).
EOF
  exit 2
}

if [[ $# -ne 1 || -z $1 || $1 == -h || $1 == --help ]]; then usage; fi
outdir=$1
if ! mkdir -p -- "$outdir" 2>/dev/null || [[ ! -d $outdir || ! -w $outdir ]]; then
  echo "gpu-check: OUTDIR '$outdir' is not a writable folder" >&2
  usage
fi
outdir=$(cd -- "$outdir" && pwd)
probe=$(mktemp "$outdir/.gpu-check-probe.XXXXXX" 2>/dev/null) || { echo "gpu-check: cannot write in '$outdir'" >&2; usage; }
rm -f -- "$probe"

cd "$(dirname "$0")/.." || exit 2
repo=$PWD
log=$outdir/gpu-check.log

allow_no_gpu=${MLPBENCH_GPU_CHECK_ALLOW_NO_GPU:-0}
build=${MLPBENCH_GPU_CHECK_BUILD_DIR:-build/gpu}
[[ $build == /* ]] || build=$repo/$build
jobs=${MLPBENCH_GPU_CHECK_JOBS:-$(nproc 2>/dev/null || echo 4)}
read -r -a extra_cmake_args <<<"${MLPBENCH_GPU_CHECK_CMAKE_ARGS:-}"
budget=${MLPBENCH_GPU_CHECK_BUDGET_S:-450}
deps=$repo/.deps
deps_prefix=$build/_deps/prefix

start_all=$SECONDS
deadline=$((start_all + budget))
declare -a summary=()
failed=0
gpu_ok=0
configure_ok=0
gpu_name=""
generator=""
gen_args=()

# Seconds each later step is guaranteed (an earlier step's time limit leaves this much for the ones after it).
declare -A reserve=([deps]=0 [configure]=0 [build]=0 [ctest]=30 [sanitizer]=30 [run]=100)
declare -A cap=([deps]=150 [configure]=90 [build]=300 [ctest]=180 [sanitizer]=150 [run]=200)
steps_order=(deps configure build ctest sanitizer run)

# Time limit for step $1: its cap, or what the budget leaves after the later steps' reserves.
step_limit() {
  local s=$1 after=0 seen=0 t
  for t in "${steps_order[@]}"; do
    if ((seen)); then after=$((after + ${reserve[$t]})); fi
    [[ $t == "$s" ]] && seen=1
  done
  local left=$((deadline - SECONDS - after))
  ((left > ${cap[$s]})) && left=${cap[$s]}
  ((left < 1)) && left=1
  echo "$left"
}
# no_time STEP LIMIT: true (and the step is failed) when the budget leaves it too little time to start.
no_time() {
  if (($2 >= 5)); then return 1; fi
  begin "$1" "$2"; end "$1" FAIL "time budget spent"; return 0
}

hr() { printf '%s\n' "------------------------------------------------------------------------------------------"; }
begin() {
  hr
  if [[ $2 == - ]]; then printf '== %s\n' "$1"
  else printf '== %s (time limit %ss; %ss since start)\n' "$1" "$2" "$((SECONDS - start_all))"; fi
  step_start=$SECONDS
}
# end STEP STATUS [NOTE]: STATUS is PASS, FAIL or SKIP.
end() {
  local s=$1 st=$2 note=${3:-} el=$((SECONDS - step_start))
  [[ $st == SKIP ]] && el=0
  [[ $st == FAIL ]] && failed=1
  printf -- '-- %s: %s in %ss%s\n' "$s" "$st" "$el" "${note:+ ($note)}"
  summary+=("$(printf '%-10s %-4s %5ss  %s' "$s" "$st" "$el" "$note")")
}
skip() { step_start=$SECONDS; hr; end "$1" SKIP "$2"; }
# end_rc STEP RC: ends a step by a command's exit code (0 PASS, 124/137 the time limit, else the code).
end_rc() {
  if (($2 == 0)); then end "$1" PASS
  elif timed_out "$2"; then end "$1" FAIL "time limit"
  else end "$1" FAIL "exit $2"
  fi
}
# Runs a command under the step's time limit; 124/137 mean the limit was hit.
limited() { local secs=$1; shift; timeout -k 10 "$secs" "$@"; }
timed_out() { [[ $1 -eq 124 || $1 -eq 137 ]]; }

find_tool() {  # find_tool NAME [FALLBACK_PATH...]: prints the path, or nothing
  local name=$1 p; shift
  if p=$(command -v "$name" 2>/dev/null); then echo "$p"; return 0; fi
  for p in "$@"; do [[ -x $p ]] && { echo "$p"; return 0; }; done
  return 1
}

preflight() {
  begin preflight "-"
  local ok=1 notes=()
  echo "date (UTC): $(date -u +%Y-%m-%dT%H:%M:%SZ)   host: $(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
  # shellcheck disable=SC1091
  echo "os: $( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -s) ($(uname -r), $(uname -m)), cores: $(nproc), jobs: $jobs"
  echo "repo: $repo   build: $build   out: $outdir   budget: ${budget}s"
  if [[ -d $repo/.git ]] && command -v git >/dev/null; then
    echo "git: $(git -C "$repo" rev-parse --short HEAD 2>/dev/null) $(git -C "$repo" status --porcelain 2>/dev/null | wc -l) changed file(s)"
  fi

  # CUDA: nvcc and compute-sanitizer are usually in /usr/local/cuda/bin, which may not be on PATH.
  for d in /usr/local/cuda/bin /usr/local/cuda/compute-sanitizer; do
    [[ -d $d && :$PATH: != *:$d:* ]] && PATH=$PATH:$d
  done
  export PATH
  # CMake and ninja may come from a Python environment (pip) that is not on PATH.
  local pybin=/nonexistent
  command -v python3 >/dev/null && pybin=$(dirname "$(command -v python3)")
  cmake_bin=$(find_tool cmake "$pybin/cmake" /opt/torch/.venv/bin/cmake) || { ok=0; notes+=("cmake not found"); }
  ctest_bin=$(find_tool ctest "$pybin/ctest" /opt/torch/.venv/bin/ctest) || { ok=0; notes+=("ctest not found"); }
  if ninja_bin=$(find_tool ninja "$pybin/ninja" /opt/torch/.venv/bin/ninja); then
    generator=Ninja; gen_args=(-G Ninja "-DCMAKE_MAKE_PROGRAM=$ninja_bin")
  else
    generator="Unix Makefiles"; gen_args=(-G "Unix Makefiles"); notes+=("ninja not found: using make")
  fi
  nvcc_bin=$(find_tool nvcc) || { ok=0; notes+=("nvcc not found"); }
  cxx_bin=$(find_tool "${CXX:-c++}" g++ clang++) || { ok=0; notes+=("no C++ compiler"); }
  sanitizer_bin=$(find_tool compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer) || sanitizer_bin=""
  echo "cmake: ${cmake_bin:-MISSING} ($("${cmake_bin:-false}" --version 2>/dev/null | head -n1))"
  echo "generator: $generator ${ninja_bin:-}"
  echo "c++: ${cxx_bin:-MISSING} ($("${cxx_bin:-false}" --version 2>/dev/null | head -n1))"
  echo "nvcc: ${nvcc_bin:-MISSING} ($("${nvcc_bin:-false}" --version 2>/dev/null | grep -i release))"
  echo "compute-sanitizer: ${sanitizer_bin:-MISSING}"

  if [[ -f $deps/MANIFEST.txt && -d $deps/root/usr && -d $deps/src/googletest && -d $deps/src/benchmark ]]; then
    echo "bundle: $deps ($(du -sh "$deps" 2>/dev/null | cut -f1)):"
    grep -v '^#' "$deps/MANIFEST.txt" | sed 's/^/  /'
  else
    ok=0; notes+=(".deps/ missing or incomplete: run scripts/bundle-deps.sh on a connected machine and carry .deps")
  fi

  # The GPU: must be visible, except in test mode.
  local smi
  if smi=$(find_tool nvidia-smi /usr/local/nvidia/bin/nvidia-smi /usr/bin/nvidia-smi); then
    "$smi" -L || true
    "$smi" --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
    gpu_name=$("$smi" --query-gpu=name --format=csv,noheader 2>/dev/null | head -n1)
  fi
  gpu_name=$(printf '%s' "$gpu_name" | tr '[:upper:]' '[:lower:]' | sed -e 's/^ *//' -e 's/ *$//' -e 's/ \+/-/g' -e 's/[^a-z0-9._-]//g')
  if [[ -n $gpu_name ]]; then
    gpu_ok=1
    echo "gpu: $gpu_name"
  elif [[ $allow_no_gpu == 1 ]]; then
    gpu_name=no-gpu
    notes+=("NO GPU VISIBLE: going on because MLPBENCH_GPU_CHECK_ALLOW_NO_GPU=1 (test mode)")
  else
    ok=0; notes+=("NO GPU VISIBLE: nvidia-smi missing or it lists no GPU")
  fi
  if [[ -z $sanitizer_bin && $gpu_ok == 1 ]]; then ok=0; notes+=("compute-sanitizer not found"); fi

  local n
  for n in "${notes[@]}"; do echo "preflight: $n"; done
  local joined
  joined=$(IFS=';'; echo "${notes[*]}")
  if ((ok)); then end preflight PASS "$joined"; else end preflight FAIL "$joined"; fi
}

# GoogleTest and Google Benchmark from .deps/src, with this machine's compiler; cached by a stamp.
build_deps() {
  local limit; limit=$(step_limit deps)
  no_time deps "$limit" && return
  begin deps "$limit"
  if [[ ! -d $deps/src/googletest || ! -d $deps/src/benchmark ]]; then end deps FAIL "no sources in .deps/src"; return; fi
  local stamp_want stamp_file=$deps_prefix/.mlpbench-deps-stamp
  stamp_want="$(grep -v '^#' "$deps/MANIFEST.txt") | $("$cxx_bin" --version 2>/dev/null | head -n1) | $generator"
  if [[ -f $stamp_file && "$(cat "$stamp_file")" == "$stamp_want" ]]; then
    end deps PASS "already built in ${deps_prefix#"$repo"/}"
    return
  fi
  rm -rf "$build/_deps"
  local common=("${gen_args[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$deps_prefix" -DBUILD_SHARED_LIBS=OFF
                -DCMAKE_POSITION_INDEPENDENT_CODE=ON -Wno-dev)
  # CMake 4 refuses projects asking for policies older than 3.5; googletest 1.12 asks for exactly 3.5.
  if "$cmake_bin" --version | head -n1 | grep -qE 'version ([4-9]|[1-9][0-9])\.'; then common+=(-DCMAKE_POLICY_VERSION_MINIMUM=3.5); fi
  local t_end=$((SECONDS + limit)) rc
  mkdir -p "$build/_deps"
  # (No `|| ...` after this subshell: that would switch its set -e off.)
  (
    set -e
    left() { echo $((t_end - SECONDS > 1 ? t_end - SECONDS : 1)); }
    echo "# googletest"
    limited "$(left)" "$cmake_bin" -S "$deps/src/googletest" -B "$build/_deps/googletest" "${common[@]}" \
      -DBUILD_GMOCK=ON -DINSTALL_GTEST=ON >"$build/_deps/googletest.configure.log" 2>&1 ||
      { cat "$build/_deps/googletest.configure.log"; exit 1; }
    limited "$(left)" "$cmake_bin" --build "$build/_deps/googletest" -j "$jobs"
    limited "$(left)" "$cmake_bin" --install "$build/_deps/googletest" >/dev/null
    # GIT_VERSION=0.0.0: take the version from project() (Debian's patch stops it reading git tags).
    echo "# benchmark"
    limited "$(left)" "$cmake_bin" -S "$deps/src/benchmark" -B "$build/_deps/benchmark" "${common[@]}" \
      -DGIT_VERSION=0.0.0 -DBENCHMARK_ENABLE_TESTING=OFF -DBENCHMARK_ENABLE_GTEST_TESTS=OFF -DBENCHMARK_ENABLE_WERROR=OFF \
      -DBENCHMARK_ENABLE_LTO=OFF -DBENCHMARK_INSTALL_DOCS=OFF -DBENCHMARK_ENABLE_INSTALL=ON \
      >"$build/_deps/benchmark.configure.log" 2>&1 || { cat "$build/_deps/benchmark.configure.log"; exit 1; }
    limited "$(left)" "$cmake_bin" --build "$build/_deps/benchmark" -j "$jobs"
    limited "$(left)" "$cmake_bin" --install "$build/_deps/benchmark" >/dev/null
  )
  rc=$?
  if ((rc == 0)); then
    printf '%s' "$stamp_want" >"$stamp_file"
    end deps PASS "installed into ${deps_prefix#"$repo"/}"
  elif timed_out "$rc"; then
    end deps FAIL "time limit"
  else
    end deps FAIL "exit $rc"
  fi
}

configure() {
  local limit; limit=$(step_limit configure)
  no_time configure "$limit" && return
  begin configure "$limit"
  local args=(-S "$repo" -B "$build" "${gen_args[@]}"
              -DCMAKE_BUILD_TYPE=Release -DMLPBENCH_CUDA=ON
              "-DCMAKE_PREFIX_PATH=$deps_prefix;$deps/root/usr"
              "-DOPENSSL_ROOT_DIR=$deps/root/usr" -DOPENSSL_USE_STATIC_LIBS=ON
              "-DCMAKE_CUDA_COMPILER=$nvcc_bin"
              "${extra_cmake_args[@]}")
  echo "+ cmake ${args[*]}"
  limited "$limit" "$cmake_bin" "${args[@]}"
  local rc=$?
  if ((rc == 0)); then
    echo "found packages:"
    grep -E '^(Eigen3_DIR|nlohmann_json_DIR|CLI11_DIR|GTest_DIR|benchmark_DIR|OPENSSL_CRYPTO_LIBRARY|OPENSSL_INCLUDE_DIR|CUDAToolkit_BIN_DIR|CMAKE_CUDA_COMPILER|CMAKE_CXX_COMPILER|CMAKE_CUDA_ARCHITECTURES|MLPBENCH_[A-Z_]+):' \
      "$build/CMakeCache.txt" | sed 's/^/  /'
    configure_ok=1
  fi
  end_rc configure "$rc"
}

build_all() {
  local limit; limit=$(step_limit build)
  no_time build "$limit" && return
  begin build "$limit"
  local keep_going=()
  [[ $generator == Ninja ]] && keep_going=(-- -k 0)
  limited "$limit" "$cmake_bin" --build "$build" -j "$jobs" "${keep_going[@]}"
  end_rc build $?
}

run_ctest() {
  local limit; limit=$(step_limit ctest)
  no_time ctest "$limit" && return
  begin ctest "$limit"
  limited "$limit" "$ctest_bin" --test-dir "$build" --output-on-failure -j "$jobs"
  end_rc ctest $?
}

run_sanitizer() {
  local limit; limit=$(step_limit sanitizer)
  no_time sanitizer "$limit" && return
  begin sanitizer "$limit"
  local exes=() f
  for f in "$build"/tests/gpu_*_test; do [[ -f $f && -x $f ]] && exes+=("$f"); done
  if ((${#exes[@]} == 0)); then
    echo "no GPU test executables (${build#"$repo"/}/tests/gpu_*_test): nothing to check"
    end sanitizer SKIP "no gpu_*_test executables: nothing to check"
    return
  fi
  local t_end=$((SECONDS + limit)) bad=() out rc left
  for f in "${exes[@]}"; do
    left=$((t_end - SECONDS))
    if ((left < 5)); then bad+=("$(basename "$f"): no time left"); continue; fi
    echo "+ compute-sanitizer --tool memcheck ${f#"$repo"/}   (limit ${left}s)"
    out=$build/sanitizer-$(basename "$f").log
    # --error-exitcode: any memcheck error fails the run even when the tests themselves pass.
    (cd "$build/tests" && limited "$left" "$sanitizer_bin" --tool memcheck --error-exitcode 86 --print-limit 100 \
        "$f") 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    if timed_out "$rc"; then bad+=("$(basename "$f"): time limit")
    elif ((rc == 86)); then bad+=("$(basename "$f"): memcheck errors")
    elif ((rc != 0)); then bad+=("$(basename "$f"): exit $rc")
    elif grep -qE '^\[  SKIPPED \]|no usable GPU' "$out"; then bad+=("$(basename "$f"): tests skipped under the sanitizer (GPU not usable there?)")
    elif ! grep -q 'ERROR SUMMARY: 0 errors' "$out"; then bad+=("$(basename "$f"): no 'ERROR SUMMARY: 0 errors' line")
    fi
  done
  if ((${#bad[@]} == 0)); then end sanitizer PASS "${#exes[@]} executable(s), 0 errors"
  else end sanitizer FAIL "$(IFS=';'; echo "${bad[*]}")"
  fi
}

run_bench() {
  local limit; limit=$(step_limit run)
  no_time run "$limit" && return
  begin run "$limit"
  local json
  json=$outdir/${gpu_name}-$(date -u +%Y%m%dT%H%M%SZ).json
  echo "+ ${build#"$repo"/}/mlpbench run --batch-sizes 1,10,100 --out $json"
  limited "$limit" "$build/mlpbench" run --batch-sizes 1,10,100 --out "$json"
  local rc=$?
  if timed_out "$rc"; then end run FAIL "time limit"; return; fi
  if ((rc != 0)); then end run FAIL "exit $rc"; return; fi
  if [[ ! -s $json ]]; then end run FAIL "no results file $json"; return; fi
  # The GPU column must be measured here, not copied from the reference table.
  local verdict
  if command -v python3 >/dev/null; then
    verdict=$(python3 - "$json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
gpu = r.get("cells", {}).get("GPU", {})
bad = [b for b in ("1", "10", "100") if gpu.get(b, {}).get("source") != "measured"]
if bad:
    print("GPU cells not measured at batch " + ",".join(bad) + ": " + json.dumps(r.get("not_measured", {})))
else:
    print("ok: " + ", ".join(f'GPU {b}: {gpu[b]["median_ms"]} ms ({gpu[b]["backend"]})' for b in ("1", "10", "100")))
EOF
)
  else
    if grep -q '"not_measured"' "$json"; then verdict="GPU cells not measured (not_measured present)"; else verdict="ok"; fi
  fi
  echo "check: $verdict"
  if [[ $verdict == ok* ]]; then end run PASS "${json#"$outdir"/}"
  elif [[ $allow_no_gpu == 1 && $gpu_ok == 0 ]]; then end run PASS "${json#"$outdir"/}; test mode without GPU: $verdict"
  else end run FAIL "$verdict"
  fi
}

main() {
  echo "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ), log: $log"
  preflight
  local pre_failed=$failed
  mkdir -p "$build"

  if [[ -z ${cmake_bin:-} || -z ${nvcc_bin:-} || -z ${cxx_bin:-} ]]; then
    skip deps "missing tools"; skip configure "missing tools"
  else
    build_deps
    configure
  fi
  if ((configure_ok)); then
    build_all
    # Later steps run on what the build produced, even after a partial failure.
    if [[ -f $build/CTestTestfile.cmake ]]; then run_ctest; else skip ctest "not configured"; fi
    if ((gpu_ok)); then run_sanitizer; else skip sanitizer "no GPU visible"; fi
    if [[ -x $build/mlpbench ]]; then
      if ((gpu_ok)) || [[ $allow_no_gpu == 1 ]]; then run_bench; else skip run "no GPU visible"; fi
    else
      skip run "no mlpbench executable"
    fi
  else
    skip build "configure failed"; skip ctest "configure failed"; skip sanitizer "configure failed"; skip run "configure failed"
  fi

  hr
  echo "gpu-check summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), ${gpu_name:-no gpu}, total $((SECONDS - start_all))s):"
  printf '  %s\n' "${summary[@]}"
  ((pre_failed)) && echo "  (preflight failed: see its notes above)"
  if ((failed)); then echo "gpu-check: FAILED"; return 1; fi
  echo "gpu-check: all steps passed"
  return 0
}

main 2>&1 | tee "$log"
exit "${PIPESTATUS[0]}"
