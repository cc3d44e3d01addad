#!/usr/bin/env bash
# Installs the Debian packages mlpbench needs; idempotent (only what is missing; needs root or sudo).
# Usage: scripts/setup.sh            to build (the default preset: the program, its tests and bench/) and run:
#                                    scripts/bench.sh calls it
#        scripts/setup.sh --test     and every test tool too: scripts/test.sh (and so CI) calls it
#        scripts/setup.sh --schema   and python3-jsonschema, for schema/validate.py (the CI recipes in ci/github/)
#        MLPBENCH_SETUP_OPTIONAL=0 scripts/setup.sh   (without the optional bench-only packages below)
# The CUDA toolkit is not installed here: the GPU backends build when nvcc is found (see README).
set -euo pipefail

test_tools=0 schema=0
for arg in "$@"; do
  case $arg in
    --test) test_tools=1 ;;
    --schema) schema=1 ;;
    *) echo "setup: unknown option '$arg' (--test, --schema)" >&2; exit 2 ;;
  esac
done

# To build and run.
packages=(
  cmake ninja-build g++ git pkg-config
  libeigen3-dev            # Eigen3: the CPU backend
  nlohmann-json3-dev       # results JSON, safetensors headers
  libcli11-dev             # the command line
  libgtest-dev googletest  # the default preset builds the tests (GTest::gtest_main)
  libbenchmark-dev         # ... and bench/ (benchmark::benchmark)
  libssl-dev               # sha256 of weight files (OpenSSL::Crypto)
)
# Test tools (--test): what tests/CMakeLists.txt registers a test for only where it is found (every one with
# MLPBENCH_TOOL_TESTS=ON, as scripts/test.sh configures), and what scripts/test.sh's steps run.
test_packages=(
  python3                  # the Python tests; scripts/crosscheck.sh (scripts/bench_crosscheck.py)
  python3-numpy            # peer_test.py (the Python peer scripts), schema_test.py
  python3-jsonschema       # schema_test.py validates results files (schema/mlpbench-1.schema.json)
  python3-yaml             # ci_recipe_test.py parses the CI recipes (ci/github/)
  libbenchmark-tools python3-scipy  # gbench_compare_test.py: Google Benchmark's compare.py on `report --format gbench`
  libexpat1-dev            # plot_test parses the SVG chart (expat::expat)
  munge slurmctld slurmd slurm-client  # slurm_test.sh runs scripts/slurm/ on a one-node Slurm (~3.4 MB)
  libomp-dev               # OpenMP for clang: the fuzz preset (scripts/fuzz.sh, when clang is there)
  libboost-context-dev     # the CUDA emulator's fibers (emu/): the gpu-emu and asan presets
)
if ((test_tools)); then packages+=("${test_packages[@]}"); fi
if ((schema)) && ! ((test_tools)); then packages+=(python3 python3-jsonschema); fi

# Optional, with --test: a bench-only peer; the product never links it. oneDNN for bench/bench_onednn.cpp
# (scripts/compare-onednn.sh; ctest bench_onednn_smoke); Debian's oneDNN CMake config also needs the OpenCL
# development files, which libdnnl-dev only recommends. Without them bench/ simply leaves mlpbench_bench_onednn
# out. Installing them may fail (no such package here, no network): that is reported and setup carries on.
optional_packages=()
if ((test_tools)); then optional_packages=(libdnnl-dev ocl-icd-opencl-dev); fi
if [[ ${MLPBENCH_SETUP_OPTIONAL:-1} == 0 ]]; then optional_packages=(); fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
optional_missing=()
for p in "${optional_packages[@]}"; do installed "$p" || optional_missing+=("$p"); done

if ((${#missing[@]} == 0 && ${#optional_missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present (+ ${#optional_packages[@]} optional)$( ((test_tools)) && echo ", test tools included")"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

if ((${#missing[@]} > 0)); then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
elif ! $sudo apt-get update -qq; then
  echo "setup: apt-get update failed; optional ${optional_missing[*]} not installed (bench-only)" >&2
  exit 0
fi

if ((${#optional_missing[@]} > 0)); then
  echo "setup: installing optional (bench-only) ${optional_missing[*]}"
  if ! $sudo apt-get install -y -qq --no-install-recommends "${optional_missing[@]}"; then
    echo "setup: optional ${optional_missing[*]} not installed: mlpbench_bench_onednn will not be built (the product does not need it)" >&2
  fi
fi
