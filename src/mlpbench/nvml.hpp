// What the NVIDIA driver's management library (NVML) says about GPU 0: its SM clocks and the reasons they
// are held back, and its energy counter. NVML is loaded at run time (dlopen of libnvidia-ml.so.1), so the
// program runs where there is no driver; every reader says so instead of failing.
#pragma once

#include <memory>
#include <optional>
#include <string>

namespace mlpbench {

// GPU clocks; valid = false where there is no NVML or device.
struct GpuClocks {
  bool valid = false;
  unsigned sm_mhz = 0;
  unsigned sm_max_mhz = 0;
  unsigned long long reasons = 0;  // NVML clock event (throttle) reasons that hold the GPU back, as a bit mask
  std::string reasons_text;        // e.g. "sw power cap, hw slowdown"
};
// One reading, NVML opened and closed around it (tens of ms: for a reading or two).
GpuClocks read_gpu_clocks();
// The names of the slowdown reasons in `reasons` (NVML's bits), e.g. "sw power cap, hw slowdown"; "" for none.
std::string clock_reasons_text(unsigned long long reasons);

struct NvmlLib;  // the loaded library (nvml.cpp)

// GPU 0's clocks, with NVML held open between reads so that a read costs microseconds: for readings taken while
// the cells are timed.
class GpuClockMeter {
 public:
  GpuClockMeter();
  ~GpuClockMeter();
  GpuClockMeter(const GpuClockMeter&) = delete;
  GpuClockMeter& operator=(const GpuClockMeter&) = delete;
  GpuClocks read() const;

 private:
  std::unique_ptr<NvmlLib> nvml_;
};

// A cumulative energy counter.
class EnergyCounter {
 public:
  virtual ~EnergyCounter() = default;
  // Joules so far; nullopt when there is no counter (then unavailable() says why).
  virtual std::optional<double> joules() = 0;
  virtual std::string unavailable() const = 0;
};

// GPU 0's total energy counter (nvmlDeviceGetTotalEnergyConsumption: millijoules since the driver loaded,
// Volta and newer), with NVML held open between reads so that a read costs microseconds.
class GpuEnergyMeter final : public EnergyCounter {
 public:
  GpuEnergyMeter();
  ~GpuEnergyMeter() override;
  GpuEnergyMeter(const GpuEnergyMeter&) = delete;
  GpuEnergyMeter& operator=(const GpuEnergyMeter&) = delete;
  std::optional<double> joules() override;
  std::string unavailable() const override { return why_; }

 private:
  std::unique_ptr<NvmlLib> nvml_;
  std::string why_;
};

}  // namespace mlpbench
