// Error checks for every CUDA runtime call: CUDA_CHECK throws mlpbench::RuntimeError with the call's
// text, file:line and the runtime's error string (nvbench's NVBENCH_CUDA_CALL, tcnn's CUDA_CHECK_THROW).
// CUDA_CHECK_NOTHROW is for destructors only: it reports to stderr and carries on.
#pragma once

#include <cuda_runtime.h>

#include <cstdio>
#include <string>

#include "mlpbench/errors.hpp"

namespace mlpbench::cuda {

[[noreturn]] inline void throw_cuda_error(cudaError_t err, const char* call, const char* file, int line) {
  throw RuntimeError(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " + cudaGetErrorString(err) + " (" +
                     cudaGetErrorName(err) + ")");
}

}  // namespace mlpbench::cuda

#define CUDA_CHECK(call)                                                                      \
  do {                                                                                        \
    const cudaError_t mlpbench_err_ = (call);                                                 \
    if (mlpbench_err_ != cudaSuccess) ::mlpbench::cuda::throw_cuda_error(mlpbench_err_, #call, __FILE__, __LINE__); \
  } while (false)

#define CUDA_CHECK_NOTHROW(call)                                                                        \
  do {                                                                                                  \
    const cudaError_t mlpbench_err_ = (call);                                                           \
    if (mlpbench_err_ != cudaSuccess)                                                                   \
      std::fprintf(stderr, "mlpbench: %s failed at %s:%d: %s\n", #call, __FILE__, __LINE__, cudaGetErrorString(mlpbench_err_)); \
  } while (false)

// After every kernel launch: launch-configuration errors surface here, not at a later call.
#define CUDA_CHECK_LAUNCH() CUDA_CHECK(cudaGetLastError())
