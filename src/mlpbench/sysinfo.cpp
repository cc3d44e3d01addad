// See sysinfo.hpp.
#include "mlpbench/sysinfo.hpp"

#include <sys/utsname.h>
#include <unistd.h>

#include <Eigen/Core>
#include <fstream>

#include "mlpbench/backend.hpp"
#include "mlpbench/build_info.hpp"
#include "mlpbench/threads.hpp"

namespace mlpbench {
namespace {

std::string utc_format(std::time_t t, const char* format) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

}  // namespace

std::string utc_iso8601(std::time_t t) { return utc_format(t, "%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_compact(std::time_t t) { return utc_format(t, "%Y%m%dT%H%M%SZ"); }

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (line.rfind("model name", 0) == 0 && colon != std::string::npos) {
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "unknown";
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "host";
  return buf;
}

std::string os_name() {
  utsname u{};
  if (::uname(&u) != 0) return "";
  return std::string(u.sysname) + " " + u.release + " " + u.machine;
}

MachineInfo collect_machine_info(int threads_used, const GpuBackends* gpu) {
  MachineInfo m;
  m.host = host_name();
  m.cpu = cpu_model();
  m.cores = available_cores();
  m.threads = threads_used;
  if (const std::string os = os_name(); !os.empty()) m.os = os;
  m.gpu_recorded = true;
  if (gpu && !gpu->emulator.empty()) {  // no GPU here: its name must not pass for a device that was measured
    const std::string name = gpu->gpu_name.empty() ? "" : gpu->gpu_name + ", ";
    m.gpu = GpuInfo{name + "emulated on the CPU (" + gpu->emulator + ")", gpu->driver_version, gpu->runtime_version, Json::object()};
  } else if (gpu && !gpu->gpu_name.empty()) {
    m.gpu = GpuInfo{gpu->gpu_name, gpu->driver_version, gpu->runtime_version, Json::object()};
  }
  return m;
}

BuildInfo build_info(const std::string& cuda) {
  BuildInfo b;
#if defined(__clang__)
  b.compiler = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  b.compiler = std::string("gcc ") + __VERSION__;
#else
  b.compiler = "unknown";
#endif
  b.build_type = kBuildType;
  b.flags = kBuildFlags;
  b.eigen = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." + std::to_string(EIGEN_MINOR_VERSION);
  b.cuda_recorded = true;
  if (!cuda.empty()) b.cuda = cuda;
  b.git_commit = kGitCommit;
  return b;
}

std::string version_text() {
  const std::string commit = kGitCommit;
  const std::string dirty = "-dirty";
  const bool is_dirty = commit.size() > dirty.size() && commit.compare(commit.size() - dirty.size(), dirty.size(), dirty) == 0;
  return std::string("mlpbench ") + kVersion + " (commit " + commit.substr(0, 12) + (is_dirty ? dirty : "") + ", " + kBuildType + ", " +
         build_info("").compiler.value_or("unknown") + ", CUDA " + kCudaVersion + ")";
}

}  // namespace mlpbench
