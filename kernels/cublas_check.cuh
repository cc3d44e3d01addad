// cuBLASLt status checks, as CUDA_CHECK does for the runtime (cuda_check.cuh); apart so that the emulated build,
// which has no cuBLASLt, never includes its header.
#pragma once

#include <cublasLt.h>

#include "cuda_check.cuh"

// CUBLAS_CHECK throws with the call, file:line and the library's string.
namespace mlpbench::cuda {

[[noreturn]] inline void throw_cublas_error(cublasStatus_t st, const char* call, const char* file, int line) {
  throw RuntimeError(std::string(call) + " failed at " + file + ":" + std::to_string(line) + ": " + cublasLtGetStatusString(st) + " (" +
                     cublasLtGetStatusName(st) + ")");
}

}  // namespace mlpbench::cuda

#define CUBLAS_CHECK(call)                                                                                  \
  do {                                                                                                      \
    const cublasStatus_t mlpbench_st_ = (call);                                                             \
    if (mlpbench_st_ != CUBLAS_STATUS_SUCCESS) ::mlpbench::cuda::throw_cublas_error(mlpbench_st_, #call, __FILE__, __LINE__); \
  } while (false)

#define CUBLAS_CHECK_NOTHROW(call)                                                                          \
  do {                                                                                                      \
    const cublasStatus_t mlpbench_st_ = (call);                                                             \
    if (mlpbench_st_ != CUBLAS_STATUS_SUCCESS)                                                              \
      std::fprintf(stderr, "mlpbench: %s failed at %s:%d: %s\n", #call, __FILE__, __LINE__, cublasLtGetStatusString(mlpbench_st_)); \
  } while (false)
