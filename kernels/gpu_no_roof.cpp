// measure_gpu_roof() where there is no GPU to measure: builds without CUDA, and the emulated build (whose
// "device" is the CPU: no GPU figure may come from it).
#include "mlpbench/machine.hpp"

namespace mlpbench {

std::optional<GpuRoof> measure_gpu_roof() { return std::nullopt; }

}  // namespace mlpbench
