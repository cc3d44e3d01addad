// The Backend interface every implementation (CPU and GPU) sits behind, and the factories that make them.
// Usage: b->prepare(model, max_batch) once (weights uploaded/packed, buffers allocated), then
// b->forward(x, y, batch) any number of times with batch <= max_batch; forward allocates nothing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mlpbench/model.hpp"

namespace mlpbench {

enum class Device { CPU, GPU };
inline const char* device_name(Device d) { return d == Device::CPU ? "CPU" : "GPU"; }

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // e.g. "eigen", "cublaslt+graph"
  virtual Device device() const = 0;
  // A short description of how it is configured, e.g. "threads=2"; recorded beside the cell.
  virtual std::string config() const { return {}; }
  // Copies/packs the weights and allocates every buffer a forward of up to max_batch rows needs.
  virtual void prepare(const Model& model, int max_batch) = 0;
  // x [batch, in] row-major in host memory -> y [batch, out] row-major in host memory, synchronized:
  // y is complete when forward returns.
  virtual void forward(const float* x, float* y, int batch) = 0;
};

// The Eigen + OpenMP backend ("eigen"): output neurons split across `threads` OpenMP threads
// (threads <= 0: all cores available to this process), bias + ReLU applied per block.
std::unique_ptr<Backend> make_cpu_backend(int threads);

// Cores this process may run on (sched affinity), at least 1.
int available_cores();

// What the GPU side offers: its backends, or why there are none.
struct GpuBackends {
  std::vector<std::unique_ptr<Backend>> backends;
  std::string unavailable;         // non-empty when backends is empty: "built without CUDA", the CUDA runtime's message, ...
  std::vector<std::string> skipped;  // backends the factory left out, each with why
  std::string gpu_name;            // device properties, when a device was found
  std::string driver_version;
  std::string runtime_version;
  std::string built_with_cuda;     // the CUDA toolkit version this program was compiled with, "" without CUDA
};

// Defined in kernels/: by the CUDA build, or by the stub when CUDA is off.
GpuBackends make_gpu_backends();

}  // namespace mlpbench
