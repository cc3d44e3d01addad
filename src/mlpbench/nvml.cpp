// NVML loaded at run time (dlopen of the driver's libnvidia-ml.so.1). The few entry points used are declared
// here with their documented C ABI. See nvml.hpp.
#include "mlpbench/nvml.hpp"

#include <dlfcn.h>

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

// The library, initialized, and GPU 0's handle; `why` says what failed when device is null.
struct NvmlLib {
  void* lib = nullptr;
  nvmlReturn_t (*shutdown)() = nullptr;
  nvmlDevice_t device = nullptr;
  std::string why;

  NvmlLib() {
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      why = "NVML (libnvidia-ml.so.1) not found: no NVIDIA driver here";
      return;
    }
    using Init = nvmlReturn_t (*)();
    using Handle = nvmlReturn_t (*)(unsigned, nvmlDevice_t*);
    const auto init = reinterpret_cast<Init>(dlsym(lib, "nvmlInit_v2"));
    const auto handle = reinterpret_cast<Handle>(dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
    shutdown = reinterpret_cast<Init>(dlsym(lib, "nvmlShutdown"));
    if (!init || !handle || !shutdown) {
      why = "NVML lacks nvmlInit_v2 / nvmlDeviceGetHandleByIndex_v2 / nvmlShutdown";
      shutdown = nullptr;
      return;
    }
    if (const nvmlReturn_t rc = init(); rc != 0) {
      why = "nvmlInit_v2 failed (NVML error " + std::to_string(rc) + ")";
      shutdown = nullptr;
      return;
    }
    if (const nvmlReturn_t rc = handle(0, &device); rc != 0) {
      why = "NVML has no GPU 0 (NVML error " + std::to_string(rc) + ")";
      device = nullptr;
    }
  }
  ~NvmlLib() {
    if (shutdown) shutdown();
    if (lib) dlclose(lib);
  }
  template <class F>
  F symbol(const char* name) const {
    return lib ? reinterpret_cast<F>(dlsym(lib, name)) : nullptr;
  }
};

namespace {

GpuClocks clocks_of(const NvmlLib& nvml) {
  GpuClocks c;
  if (!nvml.device) return c;
  using Clock = nvmlReturn_t (*)(nvmlDevice_t, int, unsigned*);
  using Reasons = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long*);
  const auto clock = nvml.symbol<Clock>("nvmlDeviceGetClockInfo");
  const auto max_clock = nvml.symbol<Clock>("nvmlDeviceGetMaxClockInfo");
  auto reasons = nvml.symbol<Reasons>("nvmlDeviceGetCurrentClocksEventReasons");
  if (!reasons) reasons = nvml.symbol<Reasons>("nvmlDeviceGetCurrentClocksThrottleReasons");
  unsigned long long raw = 0;
  if (clock && max_clock && reasons && clock(nvml.device, kNvmlClockSm, &c.sm_mhz) == 0 &&
      max_clock(nvml.device, kNvmlClockSm, &c.sm_max_mhz) == 0 && reasons(nvml.device, &raw) == 0) {
    c.valid = true;
    for (const Reason& r : kSlowdowns) c.reasons |= raw & r.bit;
    c.reasons_text = clock_reasons_text(c.reasons);
  }
  return c;
}

}  // namespace

std::string clock_reasons_text(unsigned long long reasons) {
  std::string text;
  for (const Reason& r : kSlowdowns) {
    if (reasons & r.bit) text += (text.empty() ? "" : ", ") + std::string(r.name);
  }
  return text;
}

GpuClocks read_gpu_clocks() { return clocks_of(NvmlLib()); }

GpuClockMeter::GpuClockMeter() : nvml_(std::make_unique<NvmlLib>()) {}
GpuClockMeter::~GpuClockMeter() = default;
GpuClocks GpuClockMeter::read() const { return clocks_of(*nvml_); }

GpuEnergyMeter::GpuEnergyMeter() : nvml_(std::make_unique<NvmlLib>()), why_(nvml_->why) {
  if (why_.empty()) joules();  // a first read says why where the counter is missing or unsupported
}

GpuEnergyMeter::~GpuEnergyMeter() = default;

std::optional<double> GpuEnergyMeter::joules() {
  if (!nvml_->device) return std::nullopt;
  using Energy = nvmlReturn_t (*)(nvmlDevice_t, unsigned long long*);
  const auto energy = nvml_->symbol<Energy>("nvmlDeviceGetTotalEnergyConsumption");
  unsigned long long mj = 0;
  if (!energy) {
    why_ = "NVML has no nvmlDeviceGetTotalEnergyConsumption (driver too old)";
    return std::nullopt;
  }
  if (const nvmlReturn_t rc = energy(nvml_->device, &mj); rc != 0) {
    why_ = "nvmlDeviceGetTotalEnergyConsumption failed (NVML error " + std::to_string(rc) + (rc == 3 ? ": not supported on this GPU)" : ")");
    return std::nullopt;
  }
  return static_cast<double>(mj) * 1e-3;
}

}  // namespace mlpbench
