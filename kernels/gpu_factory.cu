// make_gpu_backends() for CUDA builds: finds the device and says why there is none when the CUDA runtime
// can't give one ("CUDA driver version is insufficient", "no CUDA-capable device is detected", ...);
// otherwise every backend (cuda-naive, cuda-tiled, cuda-gemv, cuda-fused, cublaslt), each as plain stream
// launches and "+graph" (copy I/O), and "+graph+zerocopy" (zero-copy I/O), as far as `io` asks.
// A backend that can't serve a model says why in prepare(); the run then leaves it out with that reason.
#include <cuda_runtime.h>

#include "cuda_backend.cuh"
#include "cuda_check.cuh"
#include "mlpbench/backend.hpp"

namespace mlpbench {
namespace {

std::string version_text(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

}  // namespace

GpuBackends make_gpu_backends(Precision precision, const std::vector<GpuIo>& io) {
  GpuBackends g;
  g.built_with_cuda = version_text(CUDART_VERSION);
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    g.unavailable = std::string("CUDA runtime: ") + cudaGetErrorString(err);
    cudaGetLastError();  // clear the sticky error so later calls report their own
    return g;
  }
  if (count == 0) {
    g.unavailable = "CUDA runtime: no CUDA-capable device is detected";
    return g;
  }
  try {
    cudaDeviceProp prop{};
    CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    int driver = 0, runtime = 0;
    CUDA_CHECK(cudaDriverGetVersion(&driver));
    CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    g.gpu_name = prop.name;
    g.driver_version = version_text(driver);
    g.runtime_version = version_text(runtime);
  } catch (const RuntimeError& e) {
    g.unavailable = e.what();
    return g;
  }
  // Every kernel as stream launches and as one graph per forward with copies, then as a zero-copy graph.
  struct Variant {
    bool graph;
    GpuIo io;
  };
  std::vector<Variant> variants;
  for (GpuIo m : io) {
    if (m == GpuIo::Copy) variants.insert(variants.end(), {{false, GpuIo::Copy}, {true, GpuIo::Copy}});
    else variants.push_back({true, GpuIo::ZeroCopy});
  }
  for (const Variant& v : variants) {
    if (precision == Precision::FP32) {
      g.backends.push_back(cuda::make_naive_backend(v.graph, v.io));
      g.backends.push_back(cuda::make_tiled_backend(v.graph, v.io));
      g.backends.push_back(cuda::make_gemv_backend(v.graph, v.io));
      g.backends.push_back(cuda::make_fused_backend(v.graph, v.io));
    }
    g.backends.push_back(cuda::make_cublaslt_backend(v.graph, precision, v.io));
  }
  if (precision != Precision::FP32) {
    for (const char* k : {"cuda-naive", "cuda-tiled", "cuda-gemv", "cuda-fused"}) {
      g.skipped.push_back(std::string(k) + " (every variant) left out: fp32 only, asked for " + precision_name(precision));
    }
  }
  return g;
}

}  // namespace mlpbench
