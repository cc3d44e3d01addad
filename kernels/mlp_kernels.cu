// Our CUDA kernels for y = relu?(x W^T + b), x [M, K] row-major, W [N, K] row-major (PyTorch), b [N]:
//   cuda-naive  linear_naive: one thread per output element, bias + ReLU fused; the readable baseline.
//   cuda-tiled  linear_tiled<Config>: shared-memory tiles of x and W, a register micro-tile per thread,
//               bias + ReLU in the epilogue; two tile shapes, for M <= 16 and for larger M.
//   cuda-fused  mlp_fused<Config>: every layer in one cooperative launch; blocks take tiles of a layer,
//               then wait for each other at a grid barrier before the next layer. Activations stay in L2
//               (a few hundred KB), never in host memory; weights are read from L2 after the first pass.
// Each is checked against the CPU before it is timed (src/mlpbench/runner.cpp, tests/gpu_backends_test.cpp).
#include <cooperative_groups.h>

#include <algorithm>

#include "cuda_backend.cuh"
#include "mlpbench/errors.hpp"

namespace mlpbench::cuda {
namespace {

namespace cg = cooperative_groups;

// ----------------------------------------------------------------------------------------------------
// GPU kernels

// One thread per output element (grid-stride over M * N): the readable baseline.
__global__ void linear_naive(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                             float* __restrict__ y, int M, int N, int K, bool relu) {
  const long long total = static_cast<long long>(M) * N;
  for (long long i = blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<long long>(gridDim.x) * blockDim.x) {
    const int m = static_cast<int>(i / N), n = static_cast<int>(i % N);
    const float* xr = x + static_cast<long long>(m) * K;
    const float* wr = w + static_cast<long long>(n) * K;
    float acc = b[n];
    for (int k = 0; k < K; ++k) acc = fmaf(xr[k], wr[k], acc);
    y[i] = relu ? fmaxf(acc, 0.0f) : acc;
  }
}

// A tile shape: BM x BN outputs per block, BK-deep slices of K, TM x TN outputs per thread.
template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct TileConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int kThreadsM = BM / TM, kThreadsN = BN / TN;
  static constexpr int kThreads = kThreadsM * kThreadsN;
  static_assert(BM % TM == 0 && BN % TN == 0, "a tile must split evenly into per-thread micro-tiles");
};
using SmallM = TileConfig<16, 32, 64, 1, 2>;  // M <= 16: narrow tiles, more blocks over N
using LargeM = TileConfig<64, 64, 16, 4, 4>;  // M > 16: 16 outputs per thread
static_assert(SmallM::kThreads == 256 && LargeM::kThreads == 256, "launchers assume 256 threads");
constexpr int kThreadsPerBlock = 256;

template <class C>
struct TileSmem {
  float a[C::BK][C::BM + 1];  // x slice, transposed: a[k][m]
  float w[C::BK][C::BN + 1];  // W slice, transposed: w[k][n]
};

// Output tile (tile_m, tile_n) of y = relu?(x W^T + b). All threads of the block must call it together.
template <class C>
__device__ void tile_linear(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                            float* __restrict__ y, int M, int N, int K, bool relu, int tile_m, int tile_n, TileSmem<C>& sm) {
  const int t = threadIdx.x;
  const int tm = t / C::kThreadsN, tn = t % C::kThreadsN;
  const int m0 = tile_m * C::BM, n0 = tile_n * C::BN;
  float acc[C::TM][C::TN] = {};
  for (int k0 = 0; k0 < K; k0 += C::BK) {
    // Loads run along K (contiguous in both x and W), so a warp reads whole cache lines.
    for (int e = t; e < C::BM * C::BK; e += C::kThreads) {
      const int r = e / C::BK, c = e % C::BK, m = m0 + r, k = k0 + c;
      sm.a[c][r] = (m < M && k < K) ? x[static_cast<long long>(m) * K + k] : 0.0f;
    }
    for (int e = t; e < C::BN * C::BK; e += C::kThreads) {
      const int r = e / C::BK, c = e % C::BK, n = n0 + r, k = k0 + c;
      sm.w[c][r] = (n < N && k < K) ? w[static_cast<long long>(n) * K + k] : 0.0f;
    }
    __syncthreads();
#pragma unroll 8
    for (int kk = 0; kk < C::BK; ++kk) {
      float av[C::TM], wv[C::TN];
      // Strided ownership (row tm + i * kThreadsM, column tn + j * kThreadsN): neighbouring threads read
      // neighbouring shared-memory words, no bank conflicts.
#pragma unroll
      for (int i = 0; i < C::TM; ++i) av[i] = sm.a[kk][tm + i * C::kThreadsM];
#pragma unroll
      for (int j = 0; j < C::TN; ++j) wv[j] = sm.w[kk][tn + j * C::kThreadsN];
#pragma unroll
      for (int i = 0; i < C::TM; ++i)
#pragma unroll
        for (int j = 0; j < C::TN; ++j) acc[i][j] = fmaf(av[i], wv[j], acc[i][j]);
    }
    __syncthreads();
  }
  // Epilogue: bias + ReLU, straight to y.
#pragma unroll
  for (int i = 0; i < C::TM; ++i) {
    const int m = m0 + tm + i * C::kThreadsM;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < C::TN; ++j) {
      const int n = n0 + tn + j * C::kThreadsN;
      if (n >= N) continue;
      const float v = acc[i][j] + b[n];
      y[static_cast<long long>(m) * N + n] = relu ? fmaxf(v, 0.0f) : v;
    }
  }
}

template <class C>
__global__ void __launch_bounds__(kThreadsPerBlock) linear_tiled(const float* __restrict__ x, const float* __restrict__ w,
                                                                 const float* __restrict__ b, float* __restrict__ y, int M, int N,
                                                                 int K, bool relu) {
  __shared__ TileSmem<C> sm;
  tile_linear<C>(x, w, b, y, M, N, K, relu, blockIdx.y, blockIdx.x, sm);
}

// Everything the fused kernel needs, passed by value (kernel parameters live in constant memory).
constexpr int kMaxFusedLayers = 32;
struct FusedParams {
  const float* in[kMaxFusedLayers];
  float* out[kMaxFusedLayers];
  const float* w[kMaxFusedLayers];
  const float* b[kMaxFusedLayers];
  int k[kMaxFusedLayers];  // layer input widths
  int n[kMaxFusedLayers];  // layer output widths
  int layers;
  int M;
};

template <class C>
__global__ void __launch_bounds__(kThreadsPerBlock) mlp_fused(const FusedParams p) {
  __shared__ TileSmem<C> sm;
  cg::grid_group grid = cg::this_grid();
  for (int li = 0; li < p.layers; ++li) {
    const int tiles_m = (p.M + C::BM - 1) / C::BM, tiles_n = (p.n[li] + C::BN - 1) / C::BN;
    const bool relu = li + 1 < p.layers;
    for (int tile = blockIdx.x; tile < tiles_m * tiles_n; tile += gridDim.x) {
      tile_linear<C>(p.in[li], p.w[li], p.b[li], p.out[li], p.M, p.n[li], p.k[li], relu, tile / tiles_n, tile % tiles_n, sm);
    }
    if (li + 1 < p.layers) grid.sync();  // the next layer reads every block's output
  }
}

// ----------------------------------------------------------------------------------------------------
// Launchers and backends

class NaiveBackend final : public CudaBackend {
 public:
  explicit NaiveBackend(bool graph) : CudaBackend("cuda-naive", graph, Precision::FP32) {}

 protected:
  void enqueue_layers(int batch, cudaStream_t s) override {
    for (int li = 0; li < static_cast<int>(layers_.size()); ++li) {
      const DeviceLayer& l = layers_[li];
      const long long total = static_cast<long long>(batch) * l.out;
      const int blocks = static_cast<int>(std::min<long long>((total + 255) / 256, 65535));
      linear_naive<<<blocks, 256, 0, s>>>(layer_input(li), l.w, l.b, layer_output(li), batch, l.out, l.in, li + 1 < static_cast<int>(layers_.size()));
      CUDA_CHECK_LAUNCH();
    }
  }
};

template <class C>
void launch_tiled(const float* x, const DeviceLayer& l, float* y, int M, bool relu, cudaStream_t s) {
  const dim3 grid((l.out + C::BN - 1) / C::BN, (M + C::BM - 1) / C::BM);
  linear_tiled<C><<<grid, C::kThreads, 0, s>>>(x, l.w, l.b, y, M, l.out, l.in, relu);
  CUDA_CHECK_LAUNCH();
}

class TiledBackend final : public CudaBackend {
 public:
  explicit TiledBackend(bool graph) : CudaBackend("cuda-tiled", graph, Precision::FP32) {}

 protected:
  void prepare_layers() override {
    // gridDim.y carries the row tiles.
    if ((max_batch_ + LargeM::BM - 1) / LargeM::BM > 65535) {
      throw InputError("cuda-tiled serves batch sizes up to " + std::to_string(65535 * LargeM::BM) + ", not " + std::to_string(max_batch_));
    }
  }
  void enqueue_layers(int batch, cudaStream_t s) override {
    const int last = static_cast<int>(layers_.size()) - 1;
    for (int li = 0; li <= last; ++li) {
      if (batch <= SmallM::BM) launch_tiled<SmallM>(layer_input(li), layers_[li], layer_output(li), batch, li < last, s);
      else launch_tiled<LargeM>(layer_input(li), layers_[li], layer_output(li), batch, li < last, s);
    }
  }
};

class FusedBackend final : public CudaBackend {
 public:
  explicit FusedBackend(bool graph) : CudaBackend("cuda-fused", graph, Precision::FP32) {}

 protected:
  void prepare_layers() override {
    if (layers_.size() > static_cast<std::size_t>(kMaxFusedLayers)) {
      throw InputError("cuda-fused serves up to " + std::to_string(kMaxFusedLayers) + " layers, this model has " + std::to_string(layers_.size()));
    }
    int device = 0, cooperative = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device));
    if (!cooperative) throw RuntimeError("cuda-fused needs cooperative launch, which this device does not support");
    CUDA_CHECK(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device));
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm_small_, mlp_fused<SmallM>, kThreadsPerBlock, 0));
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm_large_, mlp_fused<LargeM>, kThreadsPerBlock, 0));
    if (per_sm_small_ < 1 || per_sm_large_ < 1) throw RuntimeError("cuda-fused: the kernel can't be resident on this device");
  }

  void enqueue_layers(int batch, cudaStream_t s) override {
    if (batch <= SmallM::BM) launch<SmallM>(batch, per_sm_small_, s);
    else launch<LargeM>(batch, per_sm_large_, s);
  }

 private:
  template <class C>
  void launch(int batch, int per_sm, cudaStream_t s) {
    FusedParams p{};
    p.layers = static_cast<int>(layers_.size());
    p.M = batch;
    long long most_tiles = 1;
    for (int li = 0; li < p.layers; ++li) {
      const DeviceLayer& l = layers_[li];
      p.in[li] = layer_input(li);
      p.out[li] = layer_output(li);
      p.w[li] = l.w;
      p.b[li] = l.b;
      p.k[li] = l.in;
      p.n[li] = l.out;
      most_tiles = std::max(most_tiles, static_cast<long long>((batch + C::BM - 1) / C::BM) * ((l.out + C::BN - 1) / C::BN));
    }
    // Every block must be resident at once for the grid barrier: at most per_sm blocks on each SM,
    // and no more blocks than the widest layer has tiles.
    const int blocks = static_cast<int>(std::min<long long>(most_tiles, static_cast<long long>(per_sm) * sms_));
    cudaLaunchAttribute attr{};
    attr.id = cudaLaunchAttributeCooperative;
    attr.val.cooperative = 1;
    cudaLaunchConfig_t cfg{};
    cfg.gridDim = dim3(blocks);
    cfg.blockDim = dim3(kThreadsPerBlock);
    cfg.stream = s;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    CUDA_CHECK(cudaLaunchKernelEx(&cfg, mlp_fused<C>, p));
    CUDA_CHECK_LAUNCH();
  }

  int sms_ = 0, per_sm_small_ = 0, per_sm_large_ = 0;
};

}  // namespace

std::unique_ptr<Backend> make_naive_backend(bool graph) { return std::make_unique<NaiveBackend>(graph); }
std::unique_ptr<Backend> make_tiled_backend(bool graph) { return std::make_unique<TiledBackend>(graph); }
std::unique_ptr<Backend> make_fused_backend(bool graph) { return std::make_unique<FusedBackend>(graph); }

}  // namespace mlpbench::cuda
