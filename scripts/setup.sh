#!/usr/bin/env bash
# Installs the Debian packages mlpbench needs to build, test and benchmark; idempotent.
# Usage: scripts/setup.sh            (installs only what is missing; needs root or sudo)
# The CUDA toolkit is not installed here: the GPU backends build when nvcc is found (see README).
set -euo pipefail

packages=(
  cmake ninja-build g++ git pkg-config
  libeigen3-dev            # Eigen3: the CPU backend
  nlohmann-json3-dev       # results JSON, safetensors headers
  libcli11-dev             # the command line
  libgtest-dev googletest  # tests (GTest::gtest_main)
  libbenchmark-dev         # bench/ (benchmark::benchmark)
  libssl-dev               # sha256 of weight files (OpenSSL::Crypto)
  libomp-dev               # OpenMP runtime for clang builds (GCC brings libgomp)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
