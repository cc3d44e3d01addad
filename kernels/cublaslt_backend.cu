// cublaslt: one cublasLtMatmul per layer with the bias + ReLU epilogue (plain bias on the last layer).
// For each batch size, plan() builds the matrix layouts and asks the heuristic for the best algorithm
// once; forward only calls cublasLtMatmul. The workspace is allocated once, in prepare().
//
// Layout: cuBLASLt is column-major. Row-major y [M, N] = x [M, K] W^T, with W [N, K] row-major, is the
// column-major y^T [N, M] = op(A) B with A = W seen column-major ([K, N], ld K, op = T) and B = x seen
// column-major ([K, M], ld K): m = N, n = M, k = K, and the bias runs along m (one per output neuron).
#include <cstdint>
#include <map>
#include <vector>

#include "cublas_check.cuh"
#include "cuda_backend.cuh"

namespace mlpbench::cuda {
namespace {

// 32 MiB: NVIDIA's recommended cuBLASLt workspace on Hopper.
constexpr std::size_t kWorkspaceBytes = 32u << 20;

template <typename T, cublasStatus_t (*Destroy)(T)>
struct LtDeleter {
  void operator()(T p) const {
    if (p) CUBLAS_CHECK_NOTHROW(Destroy(p));
  }
};
using LtHandle = std::unique_ptr<std::remove_pointer_t<cublasLtHandle_t>, LtDeleter<cublasLtHandle_t, cublasLtDestroy>>;
using MatmulDesc = std::unique_ptr<std::remove_pointer_t<cublasLtMatmulDesc_t>, LtDeleter<cublasLtMatmulDesc_t, cublasLtMatmulDescDestroy>>;
using Layout = std::unique_ptr<std::remove_pointer_t<cublasLtMatrixLayout_t>, LtDeleter<cublasLtMatrixLayout_t, cublasLtMatrixLayoutDestroy>>;
using Preference =
    std::unique_ptr<std::remove_pointer_t<cublasLtMatmulPreference_t>, LtDeleter<cublasLtMatmulPreference_t, cublasLtMatmulPreferenceDestroy>>;

Layout make_layout(std::uint64_t rows, std::uint64_t cols, std::int64_t ld) {
  cublasLtMatrixLayout_t l = nullptr;
  CUBLAS_CHECK(cublasLtMatrixLayoutCreate(&l, CUDA_R_32F, rows, cols, ld));
  return Layout(l);
}

// The largest power of two up to 256 that divides the address.
std::uint32_t alignment(const void* p) {
  std::uint32_t a = 256;
  while (reinterpret_cast<std::uintptr_t>(p) % a != 0) a /= 2;
  return a;
}

cublasComputeType_t compute_type(Precision p) {
  switch (p) {
    case Precision::FP32: return CUBLAS_COMPUTE_32F;
    case Precision::TF32: return CUBLAS_COMPUTE_32F_FAST_TF32;
    case Precision::BF16: return CUBLAS_COMPUTE_32F_FAST_16BF;
  }
  return CUBLAS_COMPUTE_32F;
}

// One layer at one batch size: descriptors and the algorithm chosen for them.
struct LayerPlan {
  MatmulDesc desc;
  Layout a, b, d;
  cublasLtMatmulAlgo_t algo{};
};

class CublasLtBackend final : public CudaBackend {
 public:
  CublasLtBackend(bool graph, Precision p, GpuIo io) : CudaBackend("cublaslt", graph, p, io) {}

 protected:
  // cuBLASLt is documented for device pointers; its split-K and TMA paths may read back or bulk-store D. With
  // zero-copy I/O its last layer writes device memory, and a kernel copies the output to the mapped buffer.
  bool writes_mapped_output() const override { return false; }

  void prepare_layers() override {
    plans_.clear();
    cublasLtHandle_t h = nullptr;
    CUBLAS_CHECK(cublasLtCreate(&h));
    handle_.reset(h);
    workspace_ = DeviceBuffer<std::uint8_t>(kWorkspaceBytes);
  }

  void plan_layers(int batch) override {
    std::vector<LayerPlan> plans;
    const int last = static_cast<int>(layers_.size()) - 1;
    for (int li = 0; li <= last; ++li) {
      const DeviceLayer& l = layers_[li];
      LayerPlan p;
      cublasLtMatmulDesc_t desc = nullptr;
      CUBLAS_CHECK(cublasLtMatmulDescCreate(&desc, compute_type(precision_), CUDA_R_32F));
      p.desc.reset(desc);
      const cublasOperation_t transa = CUBLAS_OP_T, transb = CUBLAS_OP_N;
      CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSA, &transa, sizeof transa));
      CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_TRANSB, &transb, sizeof transb));
      const cublasLtEpilogue_t epilogue = li < last ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
      CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof epilogue));
      const float* bias = l.b;
      CUBLAS_CHECK(cublasLtMatmulDescSetAttribute(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof bias));
      p.a = make_layout(l.in, l.out, l.in);   // W: [K, N] column-major, ld K
      p.b = make_layout(l.in, batch, l.in);   // x: [K, M] column-major, ld K
      p.d = make_layout(l.out, batch, l.out); // y: [N, M] column-major, ld N

      cublasLtMatmulPreference_t pref_raw = nullptr;
      CUBLAS_CHECK(cublasLtMatmulPreferenceCreate(&pref_raw));
      Preference pref(pref_raw);
      const std::uint64_t ws = kWorkspaceBytes;
      CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref_raw, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
      // The heuristic assumes 256-byte aligned operands unless told: tell it what the pointers really are.
      const std::uint32_t align_a = alignment(l.w), align_b = alignment(layer_input(li)), align_d = alignment(layer_output(li));
      CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref_raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a));
      CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref_raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b));
      CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref_raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_d, sizeof align_d));
      CUBLAS_CHECK(cublasLtMatmulPreferenceSetAttribute(pref_raw, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_d, sizeof align_d));
      cublasLtMatmulHeuristicResult_t result{};
      int found = 0;
      CUBLAS_CHECK(cublasLtMatmulAlgoGetHeuristic(handle_.get(), desc, p.a.get(), p.b.get(), p.d.get(), p.d.get(), pref_raw, 1, &result, &found));
      if (found < 1) {
        throw RuntimeError("cublaslt: no algorithm for layer " + std::to_string(li) + " [" + std::to_string(l.out) + ", " + std::to_string(l.in) +
                           "] at batch " + std::to_string(batch) + " (" + precision_name(precision_) + ")");
      }
      p.algo = result.algo;
      plans.push_back(std::move(p));
    }
    plans_[batch] = std::move(plans);
  }

  void enqueue_layers(int batch, cudaStream_t s) override {
    const std::vector<LayerPlan>& plans = plans_.at(batch);
    const float alpha = 1.0f, beta = 0.0f;
    for (int li = 0; li < static_cast<int>(layers_.size()); ++li) {
      const LayerPlan& p = plans[li];
      float* y = layer_output(li);
      CUBLAS_CHECK(cublasLtMatmul(handle_.get(), p.desc.get(), &alpha, layers_[li].w, p.a.get(), layer_input(li), p.b.get(), &beta, y, p.d.get(), y,
                                  p.d.get(), &p.algo, workspace_.get(), kWorkspaceBytes, s));
    }
  }

 private:
  LtHandle handle_;
  DeviceBuffer<std::uint8_t> workspace_;
  std::map<int, std::vector<LayerPlan>> plans_;  // by batch size
};

}  // namespace

std::unique_ptr<Backend> make_cublaslt_backend(bool graph, Precision precision, GpuIo io) {
  return std::make_unique<CublasLtBackend>(graph, precision, io);
}

}  // namespace mlpbench::cuda
