#!/usr/bin/env bash
# Installs the Debian packages mlpbench needs to build, test and benchmark; idempotent.
# Usage: scripts/setup.sh            (installs only what is missing; needs root or sudo)
#        MLPBENCH_SETUP_OPTIONAL=0 scripts/setup.sh   (required packages only)
# The CUDA toolkit is not installed here: the GPU backends build when nvcc is found (see README).
set -euo pipefail

packages=(
  cmake ninja-build g++ git pkg-config
  libeigen3-dev            # Eigen3: the CPU backend
  nlohmann-json3-dev       # results JSON, safetensors headers
  libcli11-dev             # the command line
  libgtest-dev googletest  # tests (GTest::gtest_main)
  libexpat1-dev            # tests: plot_test parses the SVG chart (expat::expat)
  libbenchmark-dev         # bench/ (benchmark::benchmark)
  libssl-dev               # sha256 of weight files (OpenSSL::Crypto)
  python3-numpy            # tests: peer_test.py (the Python peer scripts) on Debian's python3
  python3-jsonschema       # tests: schema_test.py validates results files (schema/mlpbench-1.schema.json)
  python3-yaml             # tests: ci_recipe_test.py parses the CI recipes (ci/)
  libbenchmark-tools python3-scipy  # tests: Google Benchmark's compare.py on `report --format gbench` output
  libomp-dev               # OpenMP runtime for clang builds (GCC brings libgomp)
  munge slurmctld slurmd slurm-client  # tests: slurm_test.sh runs scripts/slurm/ on a one-node Slurm (~3.4 MB)
)

# Optional: a bench-only peer; the product never links it. oneDNN for bench/bench_onednn.cpp
# (scripts/compare-onednn.sh); Debian's oneDNN CMake config also needs the OpenCL development files, which
# libdnnl-dev only recommends. Without them bench/ simply leaves mlpbench_bench_onednn out. Installing them
# may fail (no such package here, no network): that is reported and setup carries on.
optional_packages=(
  libdnnl-dev ocl-icd-opencl-dev
)
if [[ ${MLPBENCH_SETUP_OPTIONAL:-1} == 0 ]]; then optional_packages=(); fi

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in "${packages[@]}"; do installed "$p" || missing+=("$p"); done
optional_missing=()
for p in "${optional_packages[@]}"; do installed "$p" || optional_missing+=("$p"); done

if ((${#missing[@]} == 0 && ${#optional_missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present (+ ${#optional_packages[@]} optional)"
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
