// The one way kernels/ launches a kernel: a function instead of kernel<<<...>>>, so the same source compiles with
// nvcc and, against mlpbench's CUDA emulator (emu/), with the host compiler.
#pragma once

#include <cuda_runtime.h>

#include "cuda_check.cuh"

namespace mlpbench::cuda {

// kernel<<<grid, block, 0, s>>>(args...) through cudaLaunchKernelEx; with `pdl` it may start before the
// previous kernel on the stream ends (it must pdl_wait()), with `cooperative` all its blocks are co-resident.
// As launch(), but the launch's error is returned (and cleared) instead of thrown: for a caller that can retry.
template <typename... Params, typename... Args>
cudaError_t try_launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t s, bool pdl, bool cooperative, Args... args) {
  cudaLaunchAttribute attrs[2]{};
  unsigned n = 0;
  if (pdl) {
    attrs[n].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attrs[n++].val.programmaticStreamSerializationAllowed = 1;
  }
  if (cooperative) {
    attrs[n].id = cudaLaunchAttributeCooperative;
    attrs[n++].val.cooperative = 1;
  }
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.stream = s;
  cfg.attrs = n ? attrs : nullptr;
  cfg.numAttrs = n;
  const cudaError_t err = cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...);
  if (err != cudaSuccess) cudaGetLastError();
  return err;
}

template <typename... Params, typename... Args>
void launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t s, bool pdl, bool cooperative, Args... args) {
  CUDA_CHECK(try_launch(kernel, grid, block, s, pdl, cooperative, args...));
  CUDA_CHECK_LAUNCH();
}

}  // namespace mlpbench::cuda
