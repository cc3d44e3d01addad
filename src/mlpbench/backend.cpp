// Precision names and tolerances (see backend.hpp).
#include "mlpbench/backend.hpp"

#include <algorithm>

#include "mlpbench/errors.hpp"

namespace mlpbench {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::FP32: return "fp32";
    case Precision::TF32: return "tf32";
    case Precision::BF16: return "bf16";
  }
  return "?";
}

Precision parse_precision(const std::string& s) {
  if (s == "fp32") return Precision::FP32;
  if (s == "tf32") return Precision::TF32;
  if (s == "bf16") return Precision::BF16;
  throw InputError("--precision: '" + s + "' is not fp32, tf32 or bf16");
}

const char* gpu_io_name(GpuIo io) {
  switch (io) {
    case GpuIo::Copy: return "copy";
    case GpuIo::ZeroCopy: return "zero-copy";
    case GpuIo::Registered: return "registered";
  }
  return "?";
}

std::vector<GpuIo> parse_gpu_io(const std::string& s) {
  if (s == "copy") return {GpuIo::Copy};
  if (s == "zero-copy") return {GpuIo::ZeroCopy};
  if (s == "registered") return {GpuIo::Registered};
  if (s == "both") return {GpuIo::Copy, GpuIo::ZeroCopy};
  throw InputError("--gpu-io: '" + s + "' is not copy, zero-copy, registered or both");
}

namespace {

std::string cuda_version_text(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

}  // namespace

std::string gpu_unavailable_reason(const GpuProbe& p) {
  switch (p.problem) {
    case GpuProblem::None: return "";
    case GpuProblem::NoCuda: return "this mlpbench was built without CUDA";
    case GpuProblem::NoDriver: return "no NVIDIA driver on this machine (libcuda.so.1 not found): no GPU, or its driver is not installed";
    case GpuProblem::StubDriver:
      return "the NVIDIA driver library found (" + p.driver_path + ") is the CUDA toolkit's stub, not a driver: no usable GPU here";
    case GpuProblem::OldDriver:
      return "the NVIDIA driver supports CUDA " + cuda_version_text(p.driver_cuda) + ", older than the CUDA " + cuda_version_text(p.runtime_cuda) +
             " runtime this mlpbench was built with: update the driver";
    case GpuProblem::NoDevice: return "an NVIDIA driver is installed but sees no CUDA-capable device";
    case GpuProblem::Other: return "CUDA runtime: " + p.runtime_message;
  }
  return "";
}

bool backend_chosen(const std::string& name, const std::vector<std::string>& chosen) {
  if (chosen.empty()) return true;
  const std::string kernel = name.substr(0, name.find('+'));
  return std::find(chosen.begin(), chosen.end(), name) != chosen.end() || std::find(chosen.begin(), chosen.end(), kernel) != chosen.end();
}

Tolerance tolerance_for(Precision p) {
  switch (p) {
    case Precision::FP32: return kToleranceF32;
    case Precision::TF32: return {2e-2, 2e-2};
    case Precision::BF16: return {1e-1, 5e-2};
  }
  return kToleranceF32;
}

}  // namespace mlpbench
