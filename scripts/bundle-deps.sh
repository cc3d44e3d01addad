#!/usr/bin/env bash
# Gathers, on a connected Debian 12 machine, the build dependencies that an air-gapped CUDA machine lacks, into
# the ignored folder .deps/ (carried along with the working tree; scripts/gpu-check.sh uses it there).
# Usage: scripts/bundle-deps.sh        (root or sudo for apt; idempotent: rebuilds .deps/ from scratch each run)
#
# Layout (about 25 MiB):
#   .deps/root/usr/   a CMake prefix (CMAKE_PREFIX_PATH / OPENSSL_ROOT_DIR) unpacked from Debian packages:
#                     Eigen3, nlohmann_json, CLI11 (header-only, relocatable CMake configs) and OpenSSL headers
#                     with static libcrypto.a / libssl.a only (no .so: nothing to find at run time)
#   .deps/src/googletest/  GoogleTest + GoogleMock sources (Debian's `googletest` package)
#   .deps/src/benchmark/   Google Benchmark sources (Debian's source package, Debian patches applied)
#   .deps/MANIFEST.txt     what was gathered, with versions
# GoogleTest and Google Benchmark are built from source on the target (gpu-check.sh), with its own compiler:
# static C++ libraries built here by GCC 12 could need a newer libstdc++ than the target's compiler links.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
deps=$repo/.deps

say() { printf 'bundle-deps: %s\n' "$*"; }
die() { printf 'bundle-deps: error: %s\n' "$*" >&2; exit 1; }

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
command -v apt-get >/dev/null || die "apt-get not found: this script runs on a Debian (12) machine"
command -v dpkg >/dev/null || die "dpkg not found"

# Binary packages unpacked into root/ (headers, CMake configs, static libraries) or taken for their sources.
debs=(libeigen3-dev nlohmann-json3-dev libcli11-dev libssl-dev googletest)
# Source package of Google Benchmark (Debian ships it only as a shared library built in debug mode).
benchmark_src=benchmark

work=$(mktemp -d /tmp/bundle-deps.XXXXXX)
trap 'rm -rf "$work"' EXIT
# apt's download sandbox user (_apt) can't write into a root-only temporary folder; download as root instead.
apt_dl=(-o APT::Sandbox::User=root)

# --- 1. the .deb files --------------------------------------------------------------------------------------
mkdir -p "$work/debs"
download_debs() { (cd "$work/debs" && apt-get "${apt_dl[@]}" download "${debs[@]}"); }
if ! download_debs >"$work/download.log" 2>&1; then
  say "apt-get download failed; updating the package lists and trying again"
  $sudo apt-get update -qq
  download_debs >"$work/download.log" 2>&1 || { cat "$work/download.log" >&2; die "apt-get download ${debs[*]} failed"; }
fi

# --- 2. the Google Benchmark source package (deb-src from the system's own Debian mirror and suite) ----------
# A private sources list and lists folder: the system's apt configuration is left untouched.
# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
# shellcheck disable=SC1091
os_name=$(. /etc/os-release && echo "${PRETTY_NAME:-unknown}")
mirror=$(find /etc/apt/sources.list /etc/apt/sources.list.d -maxdepth 1 -type f \( -name '*.list' -o -name '*.sources' \) \
           -exec grep -hoE '^(URIs:[[:space:]]*|deb[[:space:]]+(\[[^]]*\][[:space:]]+)?)https?://[^[:space:]]*/debian/?([[:space:]]|$)' {} + \
           2>/dev/null | grep -oE 'https?://[^[:space:]]+' | head -n1 || true)
mirror=${mirror:-http://deb.debian.org/debian}
mkdir -p "$work/apt/lists/partial" "$work/apt/parts" "$work/srcpkg"
cat >"$work/apt/parts/src.sources" <<EOF
Types: deb-src
URIs: $mirror
Suites: $codename
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
apt_src=(-o Dir::Etc::SourceList=/dev/null -o "Dir::Etc::SourceParts=$work/apt/parts"
         -o "Dir::State::Lists=$work/apt/lists" "${apt_dl[@]}")
benchmark_from=""
if apt-get "${apt_src[@]}" -qq update >"$work/src.log" 2>&1 &&
   (cd "$work/srcpkg" && apt-get "${apt_src[@]}" source --download-only "$benchmark_src") >>"$work/src.log" 2>&1; then
  benchmark_from="source"
else
  cat "$work/src.log" >&2
  die "could not download the Debian source package '$benchmark_src' from $mirror ($codename, deb-src)"
fi

# --- 3. unpack into a fresh .deps (built in a temporary folder, swapped in at the end) ----------------------
new=$deps.new
rm -rf "$new"
mkdir -p "$new/root" "$new/src"
manifest=()
for d in "${debs[@]}"; do
  f=$(ls "$work/debs/${d}"_*.deb)
  ver=$(dpkg-deb -f "$f" Version)
  manifest+=("deb $d $ver")
  if [[ $d == googletest ]]; then
    dpkg -x "$f" "$work/gt"
  else
    dpkg -x "$f" "$new/root"
  fi
done

# GoogleTest sources: keep what the library build needs (no docs, samples or its own tests).
cp -a "$work/gt/usr/src/googletest" "$new/src/googletest"
rm -rf "$new"/src/googletest/{googletest,googlemock}/{docs,samples,test}
# Upstream's CMakeLists add the test folders only with gtest_build_tests/gmock_build_tests (off by default).

# Google Benchmark sources, with Debian's patches (fixed version number instead of git tags, ...).
dsc=$(ls "$work"/srcpkg/*.dsc)
bver=$(sed -n 's/^Version: //p' "$dsc" | head -n1)
if command -v dpkg-source >/dev/null; then
  (cd "$work/srcpkg" && dpkg-source --no-check -x "$(basename "$dsc")" bm >/dev/null)
  bm_note="Debian patches applied"
else
  mkdir -p "$work/srcpkg/bm"
  tar -xf "$(ls "$work"/srcpkg/*.orig.tar.*)" -C "$work/srcpkg/bm" --strip-components=1
  bm_note="upstream tarball, Debian patches NOT applied (no dpkg-source)"
fi
cp -a "$work/srcpkg/bm" "$new/src/benchmark"
rm -rf "$new"/src/benchmark/{debian,docs,test,.github,.pc}
# BENCHMARK_ENABLE_TESTING=OFF (set by gpu-check.sh) makes the build skip test/.
manifest+=("src $benchmark_src $bver ($benchmark_from, $bm_note)")

# --- 4. fix the prefix: flatten multiarch, static libraries only, no docs ----------------------------------
r=$new/root/usr
arch=$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || echo x86_64-linux-gnu)
# OpenSSL's arch-specific headers (configuration.h, opensslconf.h) live in include/<multiarch>/openssl, which
# only Debian's own compiler searches: merge them into include/openssl.
if [[ -d $r/include/$arch/openssl ]]; then
  cp -a "$r/include/$arch/openssl/." "$r/include/openssl/"
  rm -rf "${r:?}/include/$arch"
fi
# Libraries to lib/ (found on every distribution, with or without CMAKE_LIBRARY_ARCHITECTURE).
mkdir -p "$r/lib"
if [[ -d $r/lib/$arch ]]; then
  find "$r/lib/$arch" -maxdepth 1 -name '*.a' -exec mv -t "$r/lib/" {} +
  rm -rf "${r:?}/lib/$arch"   # the .so links (to libcrypto.so.3, not bundled) and pkg-config files (prefix=/usr)
fi
rm -rf "$r/share/doc" "$r/share/man" "$r/share/pkgconfig" "$r/share/lintian"

# The CMake config files must compute their prefix from their own location: refuse absolute /usr paths.
if grep -rlE '"/usr(/|")' "$r/share" --include='*.cmake' >"$work/abs.txt"; then
  cat "$work/abs.txt" >&2
  die "CMake config files above refer to absolute /usr paths"
fi
for f in include/eigen3/Eigen/Dense include/nlohmann/json.hpp include/CLI/CLI.hpp include/openssl/evp.h \
         include/openssl/configuration.h lib/libcrypto.a share/eigen3/cmake/Eigen3Config.cmake \
         share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake share/cmake/CLI11/CLI11Config.cmake; do
  [[ -e $r/$f ]] || die "missing from the bundle: usr/$f"
done
[[ -f $new/src/googletest/CMakeLists.txt && -f $new/src/benchmark/CMakeLists.txt ]] || die "missing sources"

{
  echo "# mlpbench dependency bundle: made by scripts/bundle-deps.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# from $os_name, $(uname -m); mirror $mirror ($codename)"
  printf '%s\n' "${manifest[@]}"
  echo "# CMake prefix: .deps/root/usr (OpenSSL: OPENSSL_ROOT_DIR=.deps/root/usr OPENSSL_USE_STATIC_LIBS=ON)"
  echo "# Built on the target by scripts/gpu-check.sh: .deps/src/googletest, .deps/src/benchmark"
} >"$new/MANIFEST.txt"

rm -rf "$deps"
mv "$new" "$deps"

# --- 5. report ----------------------------------------------------------------------------------------------
say "gathered into $deps:"
sed 's/^/  /' "$deps/MANIFEST.txt"
say "largest parts:"
du -sh "$deps"/root/usr/include/* "$deps"/root/usr/lib/* "$deps"/src/* 2>/dev/null | sort -h | tail -n 8 | sed 's/^/  /'
size_k=$(du -sk "$deps" | cut -f1)
say "total: $(du -sh "$deps" | cut -f1) ($(find "$deps" -type f | wc -l) files)"
if ((size_k > 40 * 1024)); then
  say "WARNING: the bundle is over 40 MiB; the working tree that travels is limited to 64 MiB"
fi
