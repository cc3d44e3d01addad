// make_gpu_backends() for builds without CUDA (MLPBENCH_CUDA=OFF, or AUTO without nvcc): no backends,
// and the reason, so `run` can label the GPU column as reference and say why.
#include "mlpbench/backend.hpp"

namespace mlpbench {

GpuBackends make_gpu_backends(Precision, const std::vector<GpuIo>&) {
  GpuBackends g;
  g.probe.problem = GpuProblem::NoCuda;
  g.unavailable = gpu_unavailable_reason(g.probe);
  return g;
}

}  // namespace mlpbench
