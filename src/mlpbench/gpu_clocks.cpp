// read_gpu_clocks(): the SM clock, its maximum and the clock event (throttle) reasons of GPU 0, through
// NVML loaded at run time (dlopen of the driver's libnvidia-ml.so.1), so the program still runs where
// there is no driver. The few NVML entry points used are declared here with their documented C ABI.
#include <dlfcn.h>

#include <string>

#include "mlpbench/warnings.hpp"

namespace mlpbench {
namespace {

using nvmlReturn_t = int;  // NVML_SUCCESS = 0
using nvmlDevice_t = struct nvmlDevice_st*;
constexpr int kNvmlClockSm = 1;  // NVML_CLOCK_SM

// Reasons that mean the GPU was held back (idle, application clocks and display settings are not).
struct Reason {
  unsigned long long bit;
  const char* name;
};
constexpr Reason kSlowdowns[] = {
    {0x4ULL, "sw power cap"}, {0x8ULL, "hw slowdown"}, {0x20ULL, "sw thermal slowdown"}, {0x40ULL, "hw thermal slowdown"},
    {0x80ULL, "hw power brake"}};

}  // namespace

GpuClocks read_gpu_clocks() {
  GpuClocks c;
  void* lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) return c;
  using Init = nvmlReturn_t (*)();
  using Handle = nvmlReturn_t (*)(unsigned, nvmlDevice_t*);
  using Clock = nvmlReturn_t (*)(nvmlDevice_t, int, unsigned*);
  using Reasons = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long*);
  const auto init = reinterpret_cast<Init>(dlsym(lib, "nvmlInit_v2"));
  const auto shutdown = reinterpret_cast<Init>(dlsym(lib, "nvmlShutdown"));
  const auto handle = reinterpret_cast<Handle>(dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
  const auto clock = reinterpret_cast<Clock>(dlsym(lib, "nvmlDeviceGetClockInfo"));
  const auto max_clock = reinterpret_cast<Clock>(dlsym(lib, "nvmlDeviceGetMaxClockInfo"));
  auto reasons = reinterpret_cast<Reasons>(dlsym(lib, "nvmlDeviceGetCurrentClocksEventReasons"));
  if (!reasons) reasons = reinterpret_cast<Reasons>(dlsym(lib, "nvmlDeviceGetCurrentClocksThrottleReasons"));
  nvmlDevice_t dev = nullptr;
  unsigned long long raw = 0;
  if (init && shutdown && handle && clock && max_clock && reasons && init() == 0) {
    if (handle(0, &dev) == 0 && clock(dev, kNvmlClockSm, &c.sm_mhz) == 0 && max_clock(dev, kNvmlClockSm, &c.sm_max_mhz) == 0 && reasons(dev, &raw) == 0) {
      c.valid = true;
      for (const Reason& r : kSlowdowns) {
        if (raw & r.bit) {
          c.reasons |= r.bit;
          c.reasons_text += (c.reasons_text.empty() ? "" : ", ") + std::string(r.name);
        }
      }
    }
    shutdown();
  }
  dlclose(lib);
  return c;
}

}  // namespace mlpbench
