// make_gpu_backends() for CUDA builds: finds the device, or says why there is none in words that match the
// cause (no driver, the toolkit's stub driver, an old driver, no device: probe_gpu);
// otherwise every backend (cuda-naive, cuda-tiled, cuda-gemv, cuda-fused, cublaslt), each as plain stream
// launches and "+graph" (copy I/O), "+graph+zerocopy" (zero-copy I/O) and "+graph+registered", as far as `io` asks.
// A backend that can't serve a model says why in prepare(); the run then leaves it out with that reason.
#include <cuda_runtime.h>
#include <dlfcn.h>

#include "cuda_backend.cuh"
#include "cuda_check.cuh"
#include "mlpbench/backend.hpp"

namespace mlpbench {
namespace {

std::string version_text(int v) { return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10); }

// What the CUDA side finds, classified so the reason matches the cause: no driver library at all (the runtime
// then says "driver version is insufficient", which would send a user to update a driver that isn't there),
// the toolkit's stub library, a driver older than the runtime, no device, or what the runtime says.
GpuProbe probe_gpu(int* count) {
  GpuProbe p;
  p.runtime_cuda = CUDART_VERSION;
#if !defined(MLPBENCH_CUDA_EMULATOR)  // the emulator is its own driver
  void* lib = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  if (!lib) {
    p.problem = GpuProblem::NoDriver;
    return p;
  }
  Dl_info info{};
  if (void* sym = dlsym(lib, "cuInit"); sym && dladdr(sym, &info) && info.dli_fname) p.driver_path = info.dli_fname;
  dlclose(lib);
#endif
  cudaDriverGetVersion(&p.driver_cuda);
  const cudaError_t err = cudaGetDeviceCount(count);
  cudaGetLastError();  // clear the sticky error so later calls report their own
  if (err == cudaErrorStubLibrary) p.problem = GpuProblem::StubDriver;
  else if (err == cudaErrorInsufficientDriver || (p.driver_cuda > 0 && p.driver_cuda < CUDART_VERSION)) p.problem = GpuProblem::OldDriver;
  else if (err == cudaErrorNoDevice || (err == cudaSuccess && *count == 0)) p.problem = GpuProblem::NoDevice;
  else if (err != cudaSuccess) p.problem = GpuProblem::Other, p.runtime_message = std::string(cudaGetErrorString(err)) + " (" + cudaGetErrorName(err) + ")";
  return p;
}

}  // namespace

GpuBackends make_gpu_backends(Precision precision, const std::vector<GpuIo>& io) {
  GpuBackends g;
#if defined(MLPBENCH_CUDA_EMULATOR)
  g.built_with_cuda = "emulated";  // as --version says
#else
  g.built_with_cuda = version_text(CUDART_VERSION);
#endif
  int count = 0;
  g.probe = probe_gpu(&count);
  if (g.probe.problem != GpuProblem::None) {
    g.unavailable = gpu_unavailable_reason(g.probe);
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
    g.probe.problem = GpuProblem::Other;
    g.probe.runtime_message = e.what();
    g.unavailable = gpu_unavailable_reason(g.probe);
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
    else variants.push_back({true, m});  // zero-copy, registered: as graphs (kernels only)
  }
  for (const Variant& v : variants) {
    if (precision == Precision::FP32) {
      g.backends.push_back(cuda::make_naive_backend(v.graph, v.io));
      g.backends.push_back(cuda::make_tiled_backend(v.graph, v.io));
      g.backends.push_back(cuda::make_gemv_backend(v.graph, v.io));
      g.backends.push_back(cuda::make_fused_backend(v.graph, v.io));
    }
#if !defined(MLPBENCH_CUDA_EMULATOR)
    g.backends.push_back(cuda::make_cublaslt_backend(v.graph, precision, v.io));
#endif
  }
#if defined(MLPBENCH_CUDA_EMULATOR)
  g.emulator = g.gpu_name;
  if (g.backends.empty()) g.unavailable = std::string("the CUDA emulator runs our fp32 kernels only, asked for ") + precision_name(precision);
  g.skipped.push_back("cublaslt (every variant) left out: the CUDA emulator does not emulate cuBLASLt");
#endif
  if (precision != Precision::FP32) {
    for (const char* k : {"cuda-naive", "cuda-tiled", "cuda-gemv", "cuda-fused"}) {
      g.skipped.push_back(std::string(k) + " (every variant) left out: fp32 only, asked for " + precision_name(precision));
    }
  }
  return g;
}

}  // namespace mlpbench
