// Facts about this machine and this build, apart from any output format (as Google Benchmark's sysinfo.cc):
// host, CPU model, OS, the UTC time, and the MachineInfo / BuildInfo a results file records.
#pragma once

#include <ctime>
#include <string>

#include "mlpbench/metadata.hpp"

namespace mlpbench {

struct GpuBackends;

std::string host_name();
std::string cpu_model();  // /proc/cpuinfo's first "model name", or "unknown"
std::string os_name();    // "Linux 6.1.0 x86_64" (uname), or "" where uname fails

// UTC time as 2026-11-29T06:28:19Z, and as 20261129T062819Z for file names.
std::string utc_iso8601(std::time_t t);
std::string utc_compact(std::time_t t);

// Host, CPU model, cores, the most threads a backend used, OS; the GPU (name, driver, runtime) when `gpu`
// found one, else none; on a CUDA emulator (GpuBackends::emulator) the name says so and names the emulator.
MachineInfo collect_machine_info(int threads_used, const GpuBackends* gpu);

// Compiler and version, flags, build type, Eigen version, CUDA toolkit (none without CUDA), git commit.
BuildInfo build_info(const std::string& cuda_version);

// `mlpbench --version`: "mlpbench 0.1.0 (commit 0123456789ab, Release, gcc 12.2.0, CUDA 12.4)", CUDA "none" in a
// build without the GPU backends; "-dirty" after the commit when the tree had changes.
std::string version_text();

}  // namespace mlpbench
