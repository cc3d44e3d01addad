#!/usr/bin/env bash
# The whole GPU check in one command, on an air-gapped CUDA machine, from the repository root, with the
# dependency bundle .deps/ (made by scripts/bundle-deps.sh on a connected machine) carried along:
#
#   scripts/gpu-check.sh OUTDIR
#
# Steps, each under a time limit (a failed step fails the script; later steps still run where their inputs exist;
# a sanitizer step that runs out of time ends TIMEOUT, which says what it checked and fails nothing):
#   preflight  prints and checks the GPU (nvidia-smi: name, driver, memory, clocks), the driver's CUDA version
#              against nvcc's, libcublasLt, compute-sanitizer, cmake/ctest/ninja/C++ compiler, timeout, the .deps
#              bundle; python3, torch and torch.cuda.is_available() (only the optional peer needs them: a note)
#   deps       GoogleTest and Google Benchmark from .deps/src, built with this machine's compiler into
#              BUILD/_deps/prefix; skipped when already built from the same sources
#   configure  BUILD (default build/gpu): Release, Ninja, MLPBENCH_CUDA=ON, packages from .deps
#   build      every target, all cores
#   ctest      every test (but bench_onednn_smoke), -j min(cores, 8), each test's OpenMP team limited to
#              cores / jobs threads, unpinned
#   sanitizer  compute-sanitizer --tool memcheck --kernel-name SANITIZER_KERNELS (our kernels only: cuBLASLt's are
#              run, not instrumented) over each BUILD/tests/gpu_*_test, on the tests that SANITIZER_FILTER (below)
#              selects; any memcheck error, a failed or skipped test, a kernel of ours outside the kernel filter,
#              or no test checked at all fails it; its time limit ends it TIMEOUT, saying how many tests it
#              finished (FAIL instead where memcheck reported an error or a test failed before the limit)
#   run        BUILD/mlpbench run --batch-sizes 1,10,100 --out OUTDIR/<gpu>-<UTC time>.json (the main result);
#              the GPU column must be measured, not taken from the reference table
#   serve      BUILD/mlpbench serve --quick --out OUTDIR/serve-<gpu>-<UTC time>.json: the answer under load (the
#              highest rate at p99 <= 1 ms, CPU and GPU, live, with the simulator beside each), a short search;
#              its answer lines go to SUMMARY.txt. Without a GPU (test modes) the GPU's answer is simulated: passes
#   peer       with torch and a GPU: BUILD/mlpbench export-weights (the same seeded model), then
#              scripts/peer-pytorch.py on it --out OUTDIR/pytorch-<gpu>-<UTC time>.json --deadline-s <left>, then
#              BUILD/mlpbench compare OURS PEER (exit 0 or 1 both pass: 1 only means the peer is slower);
#              SKIP, saying why, without torch or a GPU for it
#   summary    OUTDIR/SUMMARY.txt, written on every path (failures too): the verdict, each step's status (PASS,
#              FAIL, SKIP or TIMEOUT) and seconds, our run's three lines and table, the peer's figures and the
#              compare table, serve's answer lines, the sanitizer's test lines, the git commit
# OUTDIR receives at most 5 files: gpu-check.log (everything printed), SUMMARY.txt and the three results JSONs;
# other logs stay in BUILD/gpu-check/. Exit status: 0 no step failed (each passed, skipped, or timed out: then
# SUMMARY.txt's first line says "PASSED with N step(s) timed out"), 1 a step failed, 2 usage.
#
# Time: the steps share a budget (default 420 s) so that the whole check ends within 7 minutes. Each step has
# a cap, and keeps back a reserve for each later step at least as important as itself: build and run (with
# what they need: deps, configure) come first, ctest, sanitizer and peer get what is left (table below); ctest keeps
# the sanitizer's reserve back, so a long ctest cannot starve it.
#
# Environment (none is needed on the GPU machine):
#   MLPBENCH_GIT_COMMIT=SHA             the commit, where this copy has no .git (recorded in the results too)
#   MLPBENCH_GPU_CHECK_SANITIZER_FILTER gtest filter for the sanitizer step (default: SANITIZER_FILTER below)
#   MLPBENCH_GPU_CHECK_SANITIZER_KERNELS compute-sanitizer's --kernel-name filter (default: SANITIZER_KERNELS below;
#                                       set and empty: every kernel, cuBLASLt's too)
#   MLPBENCH_GPU_CHECK_BUILD_DIR=DIR    build folder (default build/gpu; build/default with DRY_RUN)
#   MLPBENCH_GPU_CHECK_JOBS=N           build jobs (default: every core)
#   MLPBENCH_GPU_CHECK_CMAKE_ARGS="..." extra arguments for the project's configure step (word-split)
#   MLPBENCH_GPU_CHECK_BUDGET_S=N       total time budget in seconds (default 420; the steps' caps and reserves
#                                       scale with it)
#   MLPBENCH_GPU_CHECK_ALLOW_NO_GPU=1   TEST ONLY: the full check without a GPU (missing GPU, compute-sanitizer,
#                                       libcublasLt are notes; the sanitizer is skipped; a GPU column from the
#                                       reference table is only a warning)
#   MLPBENCH_GPU_CHECK_DRY_RUN=1        TEST ONLY (scripts/test.sh, CI): ALLOW_NO_GPU, and in under a minute on an
#                                       already built tree: BUILD defaults to build/default, reconfigured only with
#                                       the cache values it already has (nothing rebuilds); system packages
#                                       instead of .deps (deps is skipped); ctest on a subset (CTEST_DRY_REGEX);
#                                       `run --quick`; the peer runs when torch sees a GPU, else says why not
#   MLPBENCH_GPU_CHECK_FAKE_SANITIZER=pass|errors|timeout
#                                       TEST ONLY (scripts/test.sh; refused without ALLOW_NO_GPU or DRY_RUN): the
#                                       sanitizer step runs as on a GPU, with tests/sanitizer_fake/compute-sanitizer
#                                       in place of the tool (it lists the real tests, then passes them, reports a
#                                       memcheck error, or hangs at the third), under a time limit of 6 s
set -uo pipefail

# The sanitizer's gtest filter: small GPU tests (odd shapes, graphs and streams, zero-copy memory).
# Each of our kernels once on small odd shapes (the stream-launch variants; the graph and zero-copy variants run the
# same kernels, and GraphAndStream / ZeroCopy cover how they are launched): 12 tests. The cuBLASLt instances are left
# out: with cuBLASLt outside the kernel filter, memcheck would check only our copies around it.
SANITIZER_FILTER=${MLPBENCH_GPU_CHECK_SANITIZER_FILTER:-'*OddShapes*:*GraphAndStream*:*ZeroCopy*-*OddShapes/*_graph*:*/cublaslt*'}
# The kernels memcheck instruments: ours only. Every kernel of ours is in namespace mlpbench, so its name (mangled
# or not) holds "mlpbench"; cuBLASLt's kernels do not, and run uninstrumented (instrumenting them is slow, and what
# memcheck found in them would not be ours to fix). Where cuobjdump is, the step lists the test executables' kernels
# (all ours: cuBLASLt is a shared library) and fails when the filter leaves one of them out.
SANITIZER_KERNELS=${MLPBENCH_GPU_CHECK_SANITIZER_KERNELS-kns=mlpbench}
# The dry run's ctest subset: a few GPU tests (they skip without a GPU) and quick unit tests.
CTEST_DRY_REGEX='^(GpuFactory|GpuRoof|GpuPrecision)\.|^ParseIntList\.'
# The model and batch sizes of the run and the peer.
LAYERS=784,512,512,10
BATCH_SIZES=1,10,100

usage() {
  cat >&2 <<'EOF'
usage: scripts/gpu-check.sh OUTDIR
  Builds mlpbench with CUDA (build/gpu, dependencies from .deps/), runs every test, compute-sanitizer memcheck
  over the GPU tests, `mlpbench run --batch-sizes 1,10,100` and the PyTorch peer; writes into OUTDIR
  gpu-check.log, SUMMARY.txt, <gpu>-<UTC time>.json and pytorch-<gpu>-<UTC time>.json, within 7 minutes.
  OUTDIR must be a writable folder (created if missing). See the top of this script for the environment.
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
summary_file=$outdir/SUMMARY.txt

dry_run=${MLPBENCH_GPU_CHECK_DRY_RUN:-0}
allow_no_gpu=${MLPBENCH_GPU_CHECK_ALLOW_NO_GPU:-0}
((dry_run == 1)) && allow_no_gpu=1
fake_sanitizer=${MLPBENCH_GPU_CHECK_FAKE_SANITIZER:-}
if [[ -n $fake_sanitizer ]] && ((!allow_no_gpu)); then
  echo "gpu-check: MLPBENCH_GPU_CHECK_FAKE_SANITIZER is TEST ONLY: it needs MLPBENCH_GPU_CHECK_DRY_RUN=1 or MLPBENCH_GPU_CHECK_ALLOW_NO_GPU=1" >&2
  usage
fi
default_build=build/gpu
((dry_run == 1)) && default_build=build/default
build=${MLPBENCH_GPU_CHECK_BUILD_DIR:-$default_build}
[[ $build == /* ]] || build=$repo/$build
work=$build/gpu-check            # logs and files that don't go to OUTDIR
cores=$(nproc 2>/dev/null || echo 4)
jobs=${MLPBENCH_GPU_CHECK_JOBS:-$cores}
ctest_jobs=$((cores < 8 ? cores : 8))
omp_threads=$((cores / ctest_jobs > 1 ? cores / ctest_jobs : 1))
read -r -a extra_cmake_args <<<"${MLPBENCH_GPU_CHECK_CMAKE_ARGS:-}"
budget=${MLPBENCH_GPU_CHECK_BUDGET_S:-420}
deps=$repo/.deps
deps_prefix=$build/_deps/prefix
stamp=$(date -u +%Y%m%dT%H%M%SZ)

start_all=$SECONDS
summary_reserve=12               # seconds kept for the summary at the end
kill_grace=5                     # a command past its limit gets SIGTERM, then SIGKILL this much later
deadline=$((start_all + budget - summary_reserve))
failed=0
timed_out_steps=()              # steps that ended TIMEOUT
gpu_ok=0
configure_ok=0
torch_ok=0
torch_why="not checked"
gpu_name=""
gpu_line=""
generator=""
gen_args=()
git_commit=""
our_json=""
peer_json=""
summary_done=0
current_step=""
step_start=$SECONDS
step_end=$SECONDS
child_pid=""

#                  cap: most seconds the step may take; reserve: seconds it is guaranteed when its turn comes
#                  (earlier steps at most as important keep it back); high: 1 for build, run and what they need
steps=(preflight deps configure build ctest sanitizer run serve peer)
declare -A cap=(    [preflight]=60 [deps]=90 [configure]=60 [build]=210 [ctest]=90 [sanitizer]=120 [run]=240 [serve]=90 [peer]=150)
declare -A reserve=([preflight]=0  [deps]=20 [configure]=10 [build]=60  [ctest]=20 [sanitizer]=60  [run]=150 [serve]=30 [peer]=30)
declare -A high=(   [preflight]=1  [deps]=1  [configure]=1  [build]=1   [ctest]=0  [sanitizer]=0   [run]=1   [serve]=0  [peer]=0)
declare -A min_start=([peer]=30 [serve]=20)   # a step starts only with this much time (default 5 s), else it fails
declare -A late_status=([sanitizer]=TIMEOUT)  # ...or, for these, ends with this status (default FAIL)
# The numbers are for the 420 s budget; another budget scales them (e.g. a slow machine's test).
for t in "${steps[@]}"; do cap[$t]=$((cap[$t] * budget / 420)); reserve[$t]=$((reserve[$t] * budget / 420)); done
# The fake sanitizer's hang ends at this limit, so that the dry run stays under a minute.
[[ -n $fake_sanitizer ]] && ((cap[sanitizer] > 6)) && cap[sanitizer]=6
declare -A step_status=() step_secs=() step_note=()

# Time limit for step $1: its cap, or what the budget leaves after the reserves of the later steps that are at
# least as important.
step_limit() {
  local s=$1 after=0 seen=0 t
  for t in "${steps[@]}"; do
    if ((seen && high[$t] >= high[$s])); then after=$((after + reserve[$t])); fi
    [[ $t == "$s" ]] && seen=1
  done
  local left=$((deadline - SECONDS - after - kill_grace))
  ((left > cap[$s])) && left=${cap[$s]}
  ((left < 1)) && left=1
  echo "$left"
}
# start_step STEP: prints the step's header and sets $limit and $step_end; false (the step failed) when too little
# time is left.
start_step() {
  limit=$(step_limit "$1")
  step_end=$((SECONDS + limit))
  begin "$1" "$limit"
  if ((limit >= ${min_start[$1]:-5})); then return 0; fi
  end "$1" "${late_status[$1]:-FAIL}" "too little time left: ${limit}s, the step needs ${min_start[$1]:-5}s"
  return 1
}
# left_s [MOST]: seconds left to the current step (at least 1), at most MOST.
left_s() {
  local left=$((step_end - SECONDS))
  ((left > ${1:-left})) && left=$1
  echo $((left > 1 ? left : 1))
}

hr() { printf '%s\n' "------------------------------------------------------------------------------------------"; }
begin() {
  hr
  printf '== %s (time limit %ss; %ss since start)\n' "$1" "$2" "$((SECONDS - start_all))"
  step_start=$SECONDS
  current_step=$1
}
# end STEP STATUS [NOTE]: STATUS is PASS, FAIL, SKIP or TIMEOUT (ran out of time, nothing found wrong: not a failure).
end() {
  local s=$1 st=$2 note=${3:-} el=$((SECONDS - step_start))
  [[ $st == FAIL ]] && failed=1
  [[ $st == TIMEOUT ]] && timed_out_steps+=("$s")
  printf -- '-- %s: %s in %ss%s\n' "$s" "$st" "$el" "${note:+ ($note)}"
  step_status[$s]=$st; step_secs[$s]=$el; step_note[$s]=$note
  current_step=""
}
skip() { step_start=$SECONDS; hr; end "$1" SKIP "$2"; }
# end_rc STEP RC [NOTE]: ends a step by a command's exit code (0 PASS, 124/137 the time limit, else the code).
end_rc() {
  if (($2 == 0)); then end "$1" PASS "${3:-}"
  elif timed_out "$2"; then end "$1" FAIL "time limit${3:+; $3}"
  else end "$1" FAIL "exit $2${3:+; $3}"
  fi
}
# limited SECONDS CMD...: runs a command under a time limit; 124/137 mean the limit was hit. timeout(1) puts the
# command in a process group of its own, which a Ctrl-C or a group kill does not reach: it runs in the background
# here, so that a signal interrupts `wait` and on_signal can stop that group.
limited() {
  local secs=$1 rc; shift
  timeout -k "$kill_grace" "$secs" "$@" <&0 &
  child_pid=$!
  wait "$child_pid"; rc=$?
  child_pid=""
  return "$rc"
}
timed_out() { [[ $1 -eq 124 || $1 -eq 137 ]]; }
rel() { local p=${1#"$outdir"/}; echo "${p#"$repo"/}"; }
joined() { local j; j=$(printf '%s; ' "$@"); echo "${j%; }"; }

find_tool() {  # find_tool NAME [FALLBACK_PATH...]: prints the path, or nothing
  local name=$1 p; shift
  if p=$(command -v "$name" 2>/dev/null); then echo "$p"; return 0; fi
  for p in "$@"; do [[ -x $p ]] && { echo "$p"; return 0; }; done
  return 1
}
# version_ge A B: true when dotted version A >= B.
version_ge() { [[ $(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1) == "$2" ]]; }

# --- preflight ------------------------------------------------------------------------------------------------
preflight() {
  start_step preflight || return
  local ok=1 notes=() smi="" n
  # essential WHAT: a missing essential fails the preflight, except where TEST ONLY modes allow it.
  missing() { echo "preflight: MISSING $1"; notes+=("missing $1"); ok=0; }
  note() { echo "preflight: note: $1"; notes+=("$1"); }
  # test_note WHAT: missing in a test mode without a GPU is a note; on the GPU machine it fails the preflight.
  test_note() { if ((allow_no_gpu)); then note "$1 (test mode)"; else missing "$1"; fi; }

  echo "date (UTC): $(date -u +%Y-%m-%dT%H:%M:%SZ)   host: $(hostname 2>/dev/null || cat /proc/sys/kernel/hostname)"
  # shellcheck disable=SC1091
  echo "os: $( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -s) ($(uname -r), $(uname -m))"
  echo "cores: $cores (build -j $jobs; ctest -j $ctest_jobs, OMP_NUM_THREADS=$omp_threads)   memory:" \
       "$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo 2>/dev/null)   disk free:" \
       "$(df -h "$repo" 2>/dev/null | awk 'NR == 2 {print $4}')"
  echo "repo: $repo   build: $build   out: $outdir"
  local t
  printf 'budget: %ss; step cap/reserve (s):' "$budget"
  for t in "${steps[@]}"; do printf ' %s %s/%s%s' "$t" "${cap[$t]}" "${reserve[$t]}" "$( ((high[$t])) && echo '*')"; done
  printf '  (*: first: build, run and the steps they need)\n'

  ((dry_run)) && echo "mode: DRY RUN (MLPBENCH_GPU_CHECK_DRY_RUN=1, TEST ONLY): reuses $(rel "$build"), system packages, ctest subset, run --quick"
  ((allow_no_gpu && !dry_run)) && echo "mode: TEST ONLY (MLPBENCH_GPU_CHECK_ALLOW_NO_GPU=1): goes on without a GPU"
  if [[ -e $repo/.git ]] && command -v git >/dev/null; then
    git_commit=$(git -C "$repo" rev-parse HEAD 2>/dev/null)
    n=$(git -C "$repo" status --porcelain --untracked-files=no 2>/dev/null | wc -l)
    ((n > 0)) && git_commit+=" (+$n changed tracked file(s))"
  fi
  [[ -z $git_commit ]] && git_commit=${MLPBENCH_GIT_COMMIT:+$MLPBENCH_GIT_COMMIT (from MLPBENCH_GIT_COMMIT)}
  echo "git: ${git_commit:=unknown (no .git here; pass MLPBENCH_GIT_COMMIT=SHA)}"

  command -v timeout >/dev/null || missing "timeout (coreutils)"

  # The GPU and its driver (the driver's CUDA version is in nvidia-smi's header).
  local driver_cuda="" smi_out
  if smi=$(find_tool nvidia-smi /usr/local/nvidia/bin/nvidia-smi /usr/bin/nvidia-smi); then
    smi_out=$(limited "$(left_s 15)" "$smi" 2>&1)
    head -n 12 <<<"$smi_out"
    driver_cuda=$(sed -n 's/.*CUDA Version: *\([0-9][0-9.]*\).*/\1/p' <<<"$smi_out" | head -n1)
    limited "$(left_s 15)" "$smi" --format=csv --query-gpu=name,driver_version,memory.total,memory.used,clocks.sm,clocks.max.sm,clocks.mem,clocks.max.mem,pstate,temperature.gpu,power.draw,power.limit,persistence_mode,compute_mode 2>&1
    gpu_line=$(limited "$(left_s 15)" "$smi" --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -n1)
    gpu_name=${gpu_line%%,*}
  fi
  gpu_name=$(printf '%s' "$gpu_name" | tr '[:upper:]' '[:lower:]' | sed -e 's/^ *//' -e 's/ *$//' -e 's/ \+/-/g' -e 's/[^a-z0-9._-]//g')
  if [[ -n $gpu_name ]]; then
    gpu_ok=1
    echo "gpu: $gpu_name ($gpu_line)"
  elif ((allow_no_gpu)); then
    gpu_name=no-gpu
    note "NO GPU VISIBLE: going on because of a TEST ONLY mode"
  else
    missing "a GPU: nvidia-smi ${smi:+($smi) lists none}${smi:-not found}"
  fi

  # CUDA: nvcc and compute-sanitizer are usually in /usr/local/cuda/bin, which may not be on PATH.
  local d
  for d in /usr/local/cuda/bin /usr/local/cuda/compute-sanitizer; do
    [[ -d $d && :$PATH: != *:$d:* ]] && PATH=$PATH:$d
  done
  export PATH
  local toolkit_cuda="" cuda_root="" lt=""
  if nvcc_bin=$(find_tool nvcc); then
    toolkit_cuda=$("$nvcc_bin" --version 2>/dev/null | sed -n 's/.*release \([0-9][0-9.]*\),.*/\1/p')
    echo "nvcc: $nvcc_bin ($("$nvcc_bin" --version 2>/dev/null | grep -i release))"
    cuda_root=$(dirname "$(dirname "$(readlink -f "$nvcc_bin")")")
  else
    test_note "nvcc (the CUDA toolkit)"
  fi
  echo "CUDA: driver ${driver_cuda:-unknown} (nvidia-smi), toolkit/runtime ${toolkit_cuda:-unknown} (nvcc; cudart is linked statically)"
  if [[ -n $driver_cuda && -n $toolkit_cuda ]]; then
    if ((${driver_cuda%%.*} < ${toolkit_cuda%%.*})); then
      missing "a driver for CUDA ${toolkit_cuda%%.*}: the driver supports CUDA $driver_cuda, older than nvcc's $toolkit_cuda"
    elif ! version_ge "$driver_cuda" "$toolkit_cuda"; then
      note "driver CUDA $driver_cuda < toolkit $toolkit_cuda: minor version compatibility (sm_90 code runs; PTX JIT may not)"
    fi
  fi
  local ldc
  ldc=$(find_tool ldconfig /sbin/ldconfig /usr/sbin/ldconfig) && lt=$("$ldc" -p 2>/dev/null | awk '/libcublasLt\.so/ {print $NF; exit}')
  if [[ -z $lt ]]; then
    local f
    for d in "$cuda_root/lib64" "$cuda_root/targets/x86_64-linux/lib" "$cuda_root/lib" /usr/local/cuda/lib64 \
             /usr/local/cuda/targets/x86_64-linux/lib; do
      for f in "$d"/libcublasLt.so*; do [[ -e $f ]] && { lt=$f; break 2; }; done
    done
  fi
  if [[ -n $lt ]]; then echo "libcublasLt: $lt"; else test_note "libcublasLt (ldconfig -p, the toolkit's lib64, targets/x86_64-linux/lib)"; fi
  sanitizer_bin=$(find_tool compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer "$cuda_root/bin/compute-sanitizer") || sanitizer_bin=""
  if [[ -n $sanitizer_bin ]]; then
    echo "compute-sanitizer: $sanitizer_bin ($("$sanitizer_bin" --version 2>/dev/null | grep -iE 'version' | head -n1))"
  else
    test_note "compute-sanitizer"
  fi
  # cuobjdump lists the test executables' kernels for the sanitizer step (a check of its kernel filter; optional).
  cuobjdump_bin=$(find_tool cuobjdump "$cuda_root/bin/cuobjdump") || cuobjdump_bin=""
  echo "cuobjdump: ${cuobjdump_bin:-not found (the sanitizer step will not list the kernels it checks)}"

  # Build tools. CMake and ninja may come from a Python environment (pip) that is not on PATH.
  local pybin=/nonexistent cmake_ver
  command -v python3 >/dev/null && pybin=$(dirname "$(command -v python3)")
  if cmake_bin=$(find_tool cmake "$pybin/cmake" /opt/torch/.venv/bin/cmake); then
    cmake_ver=$("$cmake_bin" --version 2>/dev/null | sed -n 's/^cmake version \([0-9.]*\).*/\1/p')
    echo "cmake: $cmake_bin ($cmake_ver)"
    version_ge "${cmake_ver:-0}" 3.25 || missing "cmake >= 3.25 (found ${cmake_ver:-?})"
  else
    missing "cmake"
  fi
  ctest_bin=$(find_tool ctest "$(dirname "${cmake_bin:-/nonexistent/x}")/ctest" "$pybin/ctest") || missing "ctest"
  if ninja_bin=$(find_tool ninja "$pybin/ninja" /opt/torch/.venv/bin/ninja); then
    generator=Ninja; gen_args=(-G Ninja "-DCMAKE_MAKE_PROGRAM=$ninja_bin")
    echo "ninja: $ninja_bin ($("$ninja_bin" --version 2>/dev/null))"
  else
    generator="Unix Makefiles"; gen_args=(-G "Unix Makefiles"); note "ninja not found: using make"
  fi
  if cxx_bin=$(find_tool "${CXX:-c++}" g++ clang++); then
    echo "c++: $cxx_bin ($("$cxx_bin" --version 2>/dev/null | head -n1))"
  else
    missing "a C++ compiler (c++, g++, clang++)"
  fi

  # The dependency bundle (the dry run uses the system's packages).
  if [[ -f $deps/MANIFEST.txt && -d $deps/root/usr && -d $deps/src/googletest && -d $deps/src/benchmark ]]; then
    echo "bundle: $deps ($(du -sh "$deps" 2>/dev/null | cut -f1)):"
    grep -v '^#' "$deps/MANIFEST.txt" | sed 's/^/  /'
    ((dry_run)) && echo "  (not used: the dry run keeps $(rel "$build") on the system's packages)"
  elif ((dry_run)); then
    note ".deps/ absent: the dry run uses the system's packages"
  else
    missing ".deps/ (or incomplete): run scripts/bundle-deps.sh on a connected machine and carry .deps"
  fi

  # Python and torch: only the peer step needs them.
  if command -v python3 >/dev/null; then
    echo "python3: $(command -v python3) ($(python3 --version 2>&1))"
    local out rc
    # Line 1 says whether torch sees a GPU (the exit code too); numpy: tests/peer_test.py and the peer need it.
    out=$(limited "$(left_s 40)" python3 - 2>&1 <<'EOF'
import sys
def imported(name):
    try:
        m = __import__(name)
        return f"{name} {getattr(m, '__version__', '?')}"
    except Exception as e:
        return f"{name} not importable ({type(e).__name__}: {e})".replace("\n", " ")
try:
    import torch
    ok = torch.cuda.is_available()
    print(f"torch {torch.__version__} (CUDA {torch.version.cuda}), torch.cuda.is_available(): {ok}"
          + (f", {torch.cuda.get_device_name(0)}" if ok else ""))
except Exception as e:
    ok = False
    print(f"torch not importable ({type(e).__name__}: {e})".replace("\n", " "))
print(imported("numpy") + "; " + imported("safetensors"))
sys.exit(0 if ok else 1)
EOF
)
    rc=$?
    while IFS= read -r n; do echo "python3: $n"; done <<<"$out"
    if ((rc == 0)); then torch_ok=1; torch_why=""
    elif timed_out "$rc"; then torch_why="torch: python3 gave no answer in time"
    else torch_why=$(head -n1 <<<"$out")
    fi
    [[ $out == *"numpy not importable"* ]] && note "this python3 has no numpy (tests/peer_test.py needs a python3 with numpy)"
  else
    torch_why="no python3"
  fi
  ((torch_ok)) || note "the peer will be skipped: $torch_why"

  if ((ok)); then end preflight PASS "$(joined "${notes[@]}")"; else end preflight FAIL "$(joined "${notes[@]}")"; fi
}

# --- deps: GoogleTest and Google Benchmark from .deps/src, with this machine's compiler; cached by a stamp ------
build_deps() {
  if ((dry_run)); then skip deps "dry run: the system's GoogleTest and Google Benchmark"; return; fi
  start_step deps || return
  if [[ ! -d $deps/src/googletest || ! -d $deps/src/benchmark ]]; then end deps FAIL "no sources in .deps/src"; return; fi
  local stamp_want stamp_file=$deps_prefix/.mlpbench-deps-stamp
  stamp_want="$(grep -v '^#' "$deps/MANIFEST.txt") | $("$cxx_bin" --version 2>/dev/null | head -n1) | $generator"
  if [[ -f $stamp_file && "$(cat "$stamp_file")" == "$stamp_want" ]]; then
    end deps PASS "already built in $(rel "$deps_prefix")"
    return
  fi
  rm -rf "$build/_deps"
  local common=("${gen_args[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX="$deps_prefix" -DBUILD_SHARED_LIBS=OFF
                -DCMAKE_POSITION_INDEPENDENT_CODE=ON -Wno-dev)
  # CMake 4 refuses projects asking for policies older than 3.5; googletest 1.12 asks for exactly 3.5.
  if "$cmake_bin" --version | head -n1 | grep -qE 'version ([4-9]|[1-9][0-9])\.'; then common+=(-DCMAKE_POLICY_VERSION_MINIMUM=3.5); fi
  local rc
  mkdir -p "$build/_deps"
  deps_one googletest "${common[@]}" -DBUILD_GMOCK=ON -DINSTALL_GTEST=ON &&
  # GIT_VERSION=0.0.0: take the version from project() (Debian's patch stops it reading git tags).
  deps_one benchmark "${common[@]}" -DGIT_VERSION=0.0.0 -DBENCHMARK_ENABLE_TESTING=OFF \
    -DBENCHMARK_ENABLE_GTEST_TESTS=OFF -DBENCHMARK_ENABLE_WERROR=OFF -DBENCHMARK_ENABLE_LTO=OFF \
    -DBENCHMARK_INSTALL_DOCS=OFF -DBENCHMARK_ENABLE_INSTALL=ON
  rc=$?
  ((rc == 0)) && printf '%s' "$stamp_want" >"$stamp_file"
  end_rc deps "$rc" "$( ((rc == 0)) && echo "installed into $(rel "$deps_prefix")")"
}
# deps_one NAME CMAKE_ARGS...: configures, builds and installs .deps/src/NAME within the deps step's time.
deps_one() {
  local name=$1 b=$build/_deps/$1; shift
  echo "# $name"
  limited "$(left_s)" "$cmake_bin" -S "$deps/src/$name" -B "$b" "$@" >"$b.configure.log" 2>&1 ||
    { local rc=$?; cat "$b.configure.log"; return "$rc"; }
  limited "$(left_s)" "$cmake_bin" --build "$b" -j "$jobs" || return
  limited "$(left_s)" "$cmake_bin" --install "$b" >/dev/null
}

# --- configure ------------------------------------------------------------------------------------------------
cache_value() { sed -n "s/^$1:[A-Za-z]*=//p" "$build/CMakeCache.txt" 2>/dev/null | head -n1; }

configure() {
  start_step configure || return
  # MLPBENCH_TOOL_TESTS=OFF: the GPU machine has no package registry, so the tests that need Debian's tools
  # (compare.py, jsonschema, Slurm) are left out there, saying so; CI runs them.
  local defs=(CMAKE_BUILD_TYPE=Release MLPBENCH_TOOL_TESTS=OFF)
  [[ -n ${nvcc_bin:-} ]] && defs+=(MLPBENCH_CUDA=ON "CMAKE_CUDA_COMPILER=$nvcc_bin")
  [[ -n ${ninja_bin:-} ]] && defs+=("CMAKE_MAKE_PROGRAM=$ninja_bin")
  ((dry_run)) || defs+=("CMAKE_PREFIX_PATH=$deps_prefix;$deps/root/usr" "OPENSSL_ROOT_DIR=$deps/root/usr" OPENSSL_USE_STATIC_LIBS=ON)
  local args=(-S "$repo" -B "$build") d name cached
  if ((dry_run)) && [[ -f $build/CMakeCache.txt ]]; then
    # An existing tree (build/default) keeps its cache: a changed value would rebuild it, and the preset would
    # change it back. Pass only the values it already holds; print the others.
    echo "dry run: $(rel "$build") keeps its generator ($(cache_value CMAKE_GENERATOR)) and these cache values:"
    for d in "${defs[@]}"; do
      name=${d%%=*}; cached=$(cache_value "$name")
      if [[ $cached == "${d#*=}" ]]; then args+=("-D$d")
      else echo "  $name=${cached:-<unset>} (the GPU check sets ${d#*=})"
      fi
    done
  else
    args+=("${gen_args[@]}")
    for d in "${defs[@]}"; do args+=("-D$d"); done
  fi
  args+=("${extra_cmake_args[@]}")
  echo "+ cmake ${args[*]}"
  limited "$limit" "$cmake_bin" "${args[@]}"
  local rc=$?
  if ((rc == 0)); then
    echo "found packages:"
    grep -E '^(Eigen3_DIR|nlohmann_json_DIR|CLI11_DIR|GTest_DIR|benchmark_DIR|OPENSSL_CRYPTO_LIBRARY|OPENSSL_INCLUDE_DIR|CUDAToolkit_BIN_DIR|CUDA_cublasLt_LIBRARY|CMAKE_CUDA_COMPILER|CMAKE_CXX_COMPILER|CMAKE_CUDA_ARCHITECTURES|MLPBENCH_[A-Z_]+):' \
      "$build/CMakeCache.txt" | sed 's/^/  /'
    configure_ok=1
  fi
  end_rc configure "$rc"
}

build_all() {
  start_step build || return
  local keep_going=()
  [[ $generator == Ninja ]] && keep_going=(-- -k 0)
  limited "$limit" "$cmake_bin" --build "$build" -j "$jobs" "${keep_going[@]}"
  end_rc build $?
}

# --- ctest: bounded parallelism; each test's OpenMP team limited to its share of the cores, unpinned ------------
# Our CPU backends size their team from the affinity mask (every core), not from OMP_NUM_THREADS: only
# OMP_THREAD_LIMIT caps it, and OMP_PROC_BIND (set) stops them pinning thread i to core i, which would put every
# test's threads on the same first cores. bench_onednn_smoke is left out: oneDNN splits its work for the threads it
# asked for and computes wrong outputs with fewer (seen with OMP_THREAD_LIMIT); it is bench-only, and not built on
# the GPU machine (no oneDNN there).
run_ctest() {
  start_step ctest || return
  local regex=(-E '^bench_onednn_smoke$') total ctest_log=$work/ctest.log
  ((dry_run)) && regex+=(-R "$CTEST_DRY_REGEX")
  total=$(limited "$(left_s 30)" "$ctest_bin" --test-dir "$build" -N "${regex[@]}" 2>/dev/null | sed -n 's/^Total Tests: //p')
  echo "+ OMP_NUM_THREADS=$omp_threads OMP_THREAD_LIMIT=$omp_threads OMP_PROC_BIND=false ctest -j $ctest_jobs ${regex[*]} (${total:-?} tests)"
  # --stop-time: ctest itself stops its tests and reports a little before the limit; timeout is the backstop.
  rm -f "$ctest_log"
  local left; left=$(left_s)
  OMP_NUM_THREADS=$omp_threads OMP_THREAD_LIMIT=$omp_threads OMP_PROC_BIND=false \
    limited "$left" "$ctest_bin" --test-dir "$build" --output-on-failure -j "$ctest_jobs" "${regex[@]}" \
      --stop-time "$(date -d "@$((EPOCHSECONDS + left - 5))" +%H:%M:%S)" --output-log "$ctest_log" 2>&1
  local rc=$? result skipped
  result=$(grep -E '^[0-9]+% tests passed' "$ctest_log" | tail -n1)
  skipped=$(grep -c -- '(Skipped)' "$ctest_log")
  grep -q 'The stop time has been passed' "$ctest_log" && rc=124
  skipped+=" skipped"
  ((gpu_ok && ${skipped%% *} > 0)) && skipped+=" (with a GPU visible: see the log)"
  end_rc ctest "$rc" "${result:-no ctest result line}, ${total:-?} tests, $skipped"
}

# --- sanitizer: compute-sanitizer memcheck on our kernels, over the GPU test executables, on SANITIZER_FILTER --------
# memcheck_reports LOG: the lines of LOG that open a memcheck report ("========= Invalid __global__ read ...": not
# the banner, the summary, a warning, the exit lines or a report's indented lines), one a line.
memcheck_reports() {
  grep -E '^========= [^ ]' "$1" |
    grep -vE '^========= (COMPUTE-SANITIZER|ERROR SUMMARY|Warning|Target application returned|Error: process didn.t terminate)'
}
# own_kernels EXE: every kernel of EXE outside the --kernel-name filter (cuobjdump's kernel entries; cuBLASLt is a
# shared library, so all are ours), then prints what it found; false when the filter leaves one of them out. Says
# nothing where cuobjdump is missing, lists no kernel, or the filter is not a substring (kns=).
own_kernels() {
  local exe=$1 sub names out n
  [[ -n ${cuobjdump_bin:-} && $SANITIZER_KERNELS =~ ^(kns|kernel_substring)=(.+)$ ]] || return 0
  sub=${BASH_REMATCH[2]}
  names=$(limited "$(left_s 20)" "$cuobjdump_bin" -symbols "$exe" 2>/dev/null | awk '/STO_ENTRY/ {print $NF}' | sort -u)
  [[ -n $names ]] || { echo "  $(basename "$exe"): cuobjdump lists no kernel entry"; return 0; }
  n=$(wc -l <<<"$names")
  out=$(grep -vF -- "$sub" <<<"$names")
  if [[ -z $out ]]; then echo "  $(basename "$exe"): its $n kernel(s) (cuobjdump) are all inside the kernel filter"; return 0; fi
  echo "  $(basename "$exe"): $(wc -l <<<"$out") of its $n kernel(s) (cuobjdump) are outside the kernel filter:"
  while IFS= read -r n; do echo "    $n"; done <<<"$out"
  return 1
}
run_sanitizer() {
  start_step sanitizer || return
  local exes=() f n total=0 listed=() have_gpu=$gpu_ok tool=$sanitizer_bin
  if [[ -n $fake_sanitizer ]]; then
    have_gpu=1 tool=$repo/tests/sanitizer_fake/compute-sanitizer
    echo "TEST ONLY: MLPBENCH_GPU_CHECK_FAKE_SANITIZER=$fake_sanitizer: $(rel "$tool") in place of compute-sanitizer"
  fi
  for f in "$build"/tests/gpu_*_test; do [[ -f $f && -x $f ]] && exes+=("$f"); done
  if ((${#exes[@]} == 0)); then end sanitizer FAIL "no $(rel "$build")/tests/gpu_*_test executables"; return; fi
  echo "filter: $SANITIZER_FILTER"
  for f in "${exes[@]}"; do
    n=$(limited "$(left_s 30)" "$f" --gtest_list_tests --gtest_filter="$SANITIZER_FILTER" 2>/dev/null | grep -c '^  ')
    echo "  $(basename "$f"): $n test(s)"
    ((n > 0)) && { listed+=("$f"); total=$((total + n)); }
  done
  if ((total == 0)); then
    if ((have_gpu)); then end sanitizer FAIL "the filter matches no test in ${#exes[@]} executable(s): nothing was checked"
    else end sanitizer SKIP "no GPU visible; the filter matches no test yet"; fi
    return
  fi
  if ((!have_gpu)); then end sanitizer SKIP "no GPU visible: would check $total test(s) in ${#listed[@]} executable(s)"; return; fi
  if [[ -z $tool ]]; then end sanitizer FAIL "compute-sanitizer not found"; return; fi
  # The kernel filter: --kernel-name since compute-sanitizer 2023.3, --kernel-regex before (same keys).
  local kfilter=() help opt
  if [[ -n $SANITIZER_KERNELS ]]; then
    help=$(limited "$(left_s 15)" "$tool" --help 2>&1)
    for opt in --kernel-name --kernel-regex; do
      if grep -qE -- "$opt([^-a-z]|\$)" <<<"$help"; then kfilter=("$opt" "$SANITIZER_KERNELS"); break; fi
    done
    if ((${#kfilter[@]} == 0)); then end sanitizer FAIL "this compute-sanitizer has neither --kernel-name nor --kernel-regex"; return; fi
    echo "kernels: ${kfilter[*]} (cuBLASLt's run uninstrumented)"
  else
    echo "kernels: every kernel (MLPBENCH_GPU_CHECK_SANITIZER_KERNELS is empty), cuBLASLt's too"
  fi
  local bad=() late=() out rc left done_n=0 d fails reports running
  for f in "${listed[@]}"; do
    own_kernels "$f" || bad+=("$(basename "$f"): kernel(s) of ours outside the kernel filter, unchecked (see the log)")
    left=$(left_s)
    if ((left < 5)); then late+=("$(basename "$f"): not started, ${left}s left"); continue; fi
    echo "+ compute-sanitizer --tool memcheck ${kfilter[*]} $(rel "$f") --gtest_filter='$SANITIZER_FILTER'   (limit ${left}s)"
    out=$work/sanitizer-$(basename "$f").log
    # --error-exitcode: any memcheck error fails the run even when the tests themselves pass.
    cd "$build/tests" || return
    limited "$left" "$tool" --tool memcheck --error-exitcode 86 --print-limit 100 "${kfilter[@]}" \
      "$f" --gtest_filter="$SANITIZER_FILTER" >"$out" 2>&1
    rc=$?
    cd "$repo" || return
    cat "$out"
    # What it checked, also when the limit stopped it: tests finished, failed, memcheck reports so far (a run that
    # ended says whether memcheck found errors by its exit code; one stopped at the limit, only by its reports).
    d=$(grep -cE '^\[ +(OK|FAILED) +\] .*\([0-9]+ ms\)$' "$out")
    fails=$(grep -cE '^\[  FAILED  \] .*\([0-9]+ ms\)$' "$out")
    reports=$(memcheck_reports "$out" | wc -l)
    done_n=$((done_n + d))
    if ((rc == 86)) || { timed_out "$rc" && ((reports > 0)); }; then
      bad+=("$(basename "$f"): memcheck errors ($reports report(s); the first: $(memcheck_reports "$out" | head -n1 | cut -c11-))$(timed_out "$rc" && echo "; then its ${left}s limit stopped it")")
    elif ((fails > 0)); then bad+=("$(basename "$f"): $fails test(s) failed under the sanitizer")
    elif grep -qE '^\[  SKIPPED \]|no usable GPU' "$out"; then bad+=("$(basename "$f"): tests skipped under the sanitizer (GPU not usable there?)")
    elif timed_out "$rc"; then
      running=$(grep -E '^\[ RUN      \] ' "$out" | tail -n1 | cut -c14-)
      late+=("$(basename "$f"): its ${left}s limit reached${running:+ in $running}")
    elif ((rc != 0)); then bad+=("$(basename "$f"): exit $rc")
    elif ! grep -q 'ERROR SUMMARY: 0 errors' "$out"; then bad+=("$(basename "$f"): no 'ERROR SUMMARY: 0 errors' line")
    fi
  done
  if ((${#bad[@]} > 0)); then end sanitizer FAIL "$(joined "${bad[@]}" "${late[@]}")"
  elif ((${#late[@]} > 0)); then end sanitizer TIMEOUT "checked $done_n of $total test(s), 0 errors in them; $(joined "${late[@]}")"
  else end sanitizer PASS "$total test(s) in ${#listed[@]} executable(s), 0 errors"
  fi
}

# --- run: the main result ---------------------------------------------------------------------------------------
run_bench() {
  start_step run || return
  local json=$outdir/${gpu_name}-$stamp.json quick=()
  ((dry_run)) && quick=(--quick)
  echo "+ $(rel "$build")/mlpbench run --batch-sizes $BATCH_SIZES ${quick[*]} --out $json"
  limited "$(left_s)" "$build/mlpbench" run --layers "$LAYERS" --batch-sizes "$BATCH_SIZES" "${quick[@]}" --out "$json"
  local rc=$?
  [[ -s $json ]] && our_json=$json
  if ((rc != 0)); then end_rc run "$rc"; return; fi
  if [[ -z $our_json ]]; then end run FAIL "no results file $json"; return; fi
  # The GPU column must be measured here, not copied from the reference table.
  local verdict
  if command -v python3 >/dev/null; then
    verdict=$(limited "$(left_s 30)" python3 - "$json" "$BATCH_SIZES" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
gpu = r.get("cells", {}).get("GPU", {})
sizes = sys.argv[2].split(",")
bad = [b for b in sizes if gpu.get(b, {}).get("source") != "measured"]
if bad:
    print("GPU cells not measured at batch " + ",".join(bad) + ": " + json.dumps(r.get("not_measured", {})))
else:
    timed = sorted({x["backend"] for b in sizes for x in gpu[b].get("backends", [])})
    print("ok: " + ", ".join(f'GPU {b}: {gpu[b]["median_ms"]} ms ({gpu[b]["backend"]})' for b in sizes)
          + "; GPU backends timed: " + " ".join(timed) + "".join(f"; note: {n}" for n in r.get("notes", [])))
EOF
)
  else
    if grep -q '"not_measured"' "$json"; then verdict="GPU cells not measured (not_measured present)"; else verdict="ok"; fi
  fi
  echo "check: $verdict"
  if [[ $verdict == ok* ]]; then end run PASS "$(rel "$json")"
  elif ((allow_no_gpu && !gpu_ok)); then end run PASS "$(rel "$json"); test mode without GPU: $verdict"
  else end run FAIL "$verdict"
  fi
}

# --- serve: the answer under load, a short search -------------------------------------------------------------
run_serve() {
  start_step serve || return
  local json=$outdir/serve-${gpu_name}-$stamp.json rc
  echo "+ $(rel "$build")/mlpbench serve --quick --layers $LAYERS --out $json"
  # Its own answer on stdout (kept for the summary), progress on stderr.
  limited "$(left_s)" "$build/mlpbench" serve --quick --layers "$LAYERS" --out "$json" >"$work/serve.txt"
  rc=$?
  cat "$work/serve.txt"
  if ((rc != 0)); then end_rc serve "$rc"; return; fi
  if ! grep -q '^Served at p99' "$work/serve.txt"; then end serve FAIL "no 'Served at p99' line"; return; fi
  if ((gpu_ok)) && ! grep -q '^Served at p99.*GPU [^,]*, streams=[0-9]*, measured)' "$work/serve.txt"; then
    end serve FAIL "the GPU was not served live (see $(rel "$json"))"; return
  fi
  end serve PASS "$(rel "$json"); $(grep -m1 '^Served at p99' "$work/serve.txt")"
}

# --- peer: PyTorch on the same weights, then compare -----------------------------------------------------------
peer_script=$repo/scripts/peer-pytorch.py
run_peer() {
  start_step peer || return
  local weights=$build/peer-weights.safetensors json=$outdir/pytorch-${gpu_name}-$stamp.json rc quick=()
  # The weights first, with or without torch: the same command line is checked everywhere.
  limited "$(left_s 30)" "$build/mlpbench" export-weights --layers "$LAYERS" --seed 1 --out "$weights" --force
  rc=$?
  if ((rc != 0)); then end_rc peer "$rc" "export-weights"; return; fi
  if ((!torch_ok)); then end peer SKIP "$torch_why"; return; fi
  if [[ ! -f $peer_script ]]; then end peer SKIP "$(rel "$peer_script") is not in this checkout"; return; fi
  ((dry_run)) && quick=(--quick)
  # The peer's own deadline; its hard limit a little later; then a few seconds for the comparison.
  local deadline_s=$(($(left_s) - 15))
  if ((deadline_s < 10)); then end peer FAIL "time budget spent: $((deadline_s + 15))s left"; return; fi
  echo "+ python3 $(rel "$peer_script") --weights $(rel "$weights") --batch-sizes $BATCH_SIZES ${quick[*]} --out $json --deadline-s $deadline_s"
  PYTHONUNBUFFERED=1 limited $((deadline_s + 8)) python3 "$peer_script" --weights "$weights" --batch-sizes "$BATCH_SIZES" \
    "${quick[@]}" --out "$json" --deadline-s "$deadline_s"
  rc=$?
  [[ -s $json ]] && peer_json=$json
  case $rc in
    0) ;;
    2) end peer FAIL "peer exit 2: bad usage or a missing package"; return ;;
    3) end peer FAIL "peer exit 3: no GPU for torch, or its output is wrong"; return ;;
    *) end_rc peer "$rc" "peer"; return ;;
  esac
  if [[ -z $peer_json ]]; then end peer FAIL "no results file $json"; return; fi
  if [[ -z $our_json ]]; then end peer PASS "$(rel "$json"); no results of ours to compare with"; return; fi
  compare_peer
}
# compare_peer: our results (BASE) against the peer's (NEW); exit 1 only says the peer is slower.
compare_peer() {
  echo "+ $(rel "$build")/mlpbench compare $(rel "$our_json") $(rel "$peer_json")"
  limited "$(left_s 30)" "$build/mlpbench" compare "$our_json" "$peer_json" >"$work/compare.txt" 2>&1
  local rc=$?
  cat "$work/compare.txt"
  echo "$rc" >"$work/compare.rc"
  if ((rc == 0 || rc == 1)); then end peer PASS "$(rel "$peer_json"); compare exit $rc"
  else end_rc peer "$rc" "compare"
  fi
}

# --- summary ----------------------------------------------------------------------------------------------------
# Writes OUTDIR/SUMMARY.txt (through a temporary file) and prints it; runs once, on every path out of main.
write_summary() {
  ((summary_done)) && return
  summary_done=1
  local t0=$SECONDS s lines=() tmp=$summary_file.tmp details=$work/summary-details.txt rc f nfiles
  local report_st=PASS report_note=""
  for s in "${steps[@]}"; do
    if [[ -n ${step_status[$s]:-} ]]; then
      lines+=("$(printf '  %-10s %-7s %5ss  %s' "$s" "${step_status[$s]}" "${step_secs[$s]}" "${step_note[$s]}")")
    elif [[ $s == "$current_step" ]]; then
      failed=1
      lines+=("$(printf '  %-10s %-7s %5ss  %s' "$s" FAIL "$((SECONDS - step_start))" "interrupted")")
    else
      failed=1
      lines+=("$(printf '  %-10s %-7s %5ss  %s' "$s" FAIL 0 "did not run (interrupted)")")
    fi
  done
  {
    echo "== our run: ${our_json:+$(rel "$our_json")}"
    if [[ -n $our_json && -x $build/mlpbench ]]; then
      timeout -k 1 5 "$build/mlpbench" report --from "$our_json" 2>&1
      rc=$?
      ((rc == 0)) || { report_st=FAIL; report_note="report --from $(rel "$our_json"): exit $rc"; }
    else
      echo "(no results: run ${step_status[run]:-did not run} ${step_note[run]:-})"
    fi
    echo
    echo "== peer (PyTorch): ${peer_json:+$(rel "$peer_json")}"
    if [[ -n $peer_json && -x $build/mlpbench ]]; then
      timeout -k 1 5 "$build/mlpbench" report --from "$peer_json" 2>&1 || echo "(mlpbench report could not read it)"
    else
      echo "(no results: peer ${step_status[peer]:-did not run} ${step_note[peer]:-})"
    fi
    if [[ -f $work/compare.txt ]]; then
      echo
      echo "== compare: ours (BASE) against the peer (NEW), exit $(cat "$work/compare.rc" 2>/dev/null)"
      cat "$work/compare.txt"
    fi
    echo
    echo "== serve: the answer under load"
    if [[ -s $work/serve.txt ]]; then cat "$work/serve.txt"; else echo "(no answer: serve ${step_status[serve]:-did not run} ${step_note[serve]:-})"; fi
    for f in "$work"/sanitizer-*.log; do
      [[ -f $f ]] || continue
      echo
      echo "== sanitizer: $(basename "$f" .log)"
      grep -E '^\[  (PASSED|FAILED|SKIPPED) |^\[==========\] .* ran|ERROR SUMMARY' "$f"
      memcheck_reports "$f" | head -n 5
      grep -q '^\[==========\] .* ran' "$f" ||
        echo "(stopped before the end: $(grep -cE '^\[ +(OK|FAILED) +\] .*\([0-9]+ ms\)$' "$f") test(s) finished; the last one started: $(grep -E '^\[ RUN      \] ' "$f" | tail -n1 | cut -c14-))"
    done
  } >"$details" 2>&1
  [[ $report_st == FAIL ]] && failed=1
  {
    local n_late=${#timed_out_steps[@]} late_names
    late_names=$(joined "${timed_out_steps[@]}")
    if ((failed)); then echo "mlpbench gpu-check: FAILED${timed_out_steps[*]:+ (and $n_late step(s) timed out: $late_names)}"
    elif ((n_late > 0)); then echo "mlpbench gpu-check: PASSED with $n_late step(s) timed out ($late_names): no step failed; a timed-out step's line says what it checked"
    else echo "mlpbench gpu-check: all steps passed"
    fi
    echo "date (UTC): $(date -u +%Y-%m-%dT%H:%M:%SZ)   total: $((SECONDS - start_all))s (budget ${budget}s)"
    ((dry_run)) && echo "mode: DRY RUN (TEST ONLY): $(rel "$build") reused, system packages, ctest subset, run --quick"
    ((allow_no_gpu && !dry_run)) && echo "mode: TEST ONLY: without a GPU allowed"
    echo "git commit: ${git_commit:-unknown}"
    echo "gpu: ${gpu_line:-none visible}"
    echo
    echo "steps:"
    printf '%s\n' "${lines[@]}"
    printf '  %-10s %-7s %5ss  %s\n' summary "$report_st" "$((SECONDS - t0))" "$report_note"
    echo
    cat "$details"
  } >"$tmp"
  mv -f "$tmp" "$summary_file"
  nfiles=$(find "$outdir" -mindepth 1 | wc -l)
  if ((nfiles > 8)); then
    printf '\nWARNING: OUTDIR holds %s entries; only 8 files come back from the GPU machine\n' "$nfiles" >>"$summary_file"
  fi
  trap '' PIPE    # the terminal or tee may be gone (interrupted): the file is written, printing is a bonus
  hr
  cat "$summary_file"
  echo "(summary: $summary_file)"
}

main() {
  mkdir -p "$work" || { echo "gpu-check: cannot create $work"; return 1; }
  rm -f "$work"/compare.txt "$work"/compare.rc "$work"/serve.txt "$work"/sanitizer-*.log
  echo "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ), log: $log"
  preflight

  if [[ -z ${cmake_bin:-} || -z ${cxx_bin:-} ]] || { [[ -z ${nvcc_bin:-} ]] && ((!dry_run)); }; then
    skip deps "missing tools"; skip configure "missing tools"
  else
    build_deps
    configure
  fi
  if ((configure_ok)); then
    build_all
    # Later steps run on what the build produced, even after a partial failure.
    if [[ -f $build/CTestTestfile.cmake ]]; then run_ctest; else skip ctest "not configured"; fi
    run_sanitizer
    if [[ ! -x $build/mlpbench ]]; then skip run "no mlpbench executable"; skip serve "no mlpbench executable"; skip peer "no mlpbench executable"
    else
      if ((gpu_ok || allow_no_gpu)); then run_bench; else skip run "no GPU visible"; fi
      if ((gpu_ok || allow_no_gpu)); then run_serve; else skip serve "no GPU visible"; fi
      run_peer
    fi
  else
    local s
    for s in build ctest sanitizer run serve peer; do skip "$s" "configure failed"; done
  fi
  ((failed)) && return 1
  return 0
}

# Every way out writes the summary, then lets tee finish the log before the script's exit.
on_exit() {
  local rc=$?
  trap - EXIT
  write_summary
  ((failed && rc == 0)) && rc=1
  exec >&- 2>&-
  wait "$tee_pid" 2>/dev/null
  exit "$rc"
}
on_signal() {
  trap '' PIPE INT TERM
  failed=1
  [[ -n $child_pid ]] && kill -TERM -- "-$child_pid" 2>/dev/null
  echo "gpu-check: interrupted by SIG$1"
  exit 130
}

# Everything printed also goes to the log; tee ignores INT/TERM so that it records the summary after them.
exec > >(trap '' INT TERM; exec tee "$log") 2>&1
tee_pid=$!
trap on_exit EXIT
trap 'on_signal INT' INT
trap 'on_signal TERM' TERM
main
