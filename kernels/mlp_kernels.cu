// Our CUDA kernels for y = relu?(x W^T + b), x [M, K] row-major, W [N, K] row-major (PyTorch), b [N]
// (device building blocks in linear_device.cuh):
//   cuda-naive  linear_naive: one thread per output element, bias + ReLU fused; the readable baseline.
//   cuda-tiled  linear_tiled<Config>: shared-memory tiles of x and W, a register micro-tile per thread,
//               bias + ReLU in the epilogue. Per layer and batch it picks the tile shape and, when the
//               tiles alone can't cover the SMs, splits K over more blocks (partial sums in a workspace,
//               added in a fixed order by reduce_splits, so results are deterministic).
//   cuda-gemv   linear_gemv<R>: for small batches, a warp per output neuron, float4 weight loads, the
//               batch's rows in shared memory, bias + ReLU fused; layer 1 of 784-512-512-10 runs 512 warps
//               over 128 blocks, about one per SM. Batches above 16 run in row groups of 16.
//   cuda-fused  mlp_fused<R>: every layer in one cooperative launch of a persistent grid (every SM, as many
//               blocks as fit), a grid barrier between layers; each layer's work spread over all blocks:
//               GEMV warps for up to 16 rows, tiles for more (cut as cuda-tiled cuts them, split-K included,
//               so that every SM has work). Activations stay in L2.
// On sm_90, cuda-tiled and cuda-gemv launch each layer kernel after the first with programmatic dependent
// launch (also inside their CUDA graphs): it starts while the previous kernel ends and waits in pdl_wait().
// Each backend is checked against the CPU before it is timed (src/mlpbench/runner.cpp, tests/gpu_backends_test.cpp).
#include <cooperative_groups.h>

#include <algorithm>

#include "cuda_backend.cuh"
#include "launch.cuh"
#include "linear_device.cuh"
#include "mlpbench/errors.hpp"

namespace mlpbench::cuda {
namespace {

namespace cg = cooperative_groups;

int ceil_div(long long a, long long b) { return static_cast<int>((a + b - 1) / b); }

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

// Block (blockIdx.x, blockIdx.y) = output tile (n, m); blockIdx.z = the slice of K, k_per_split wide. One
// slice (gridDim.z == 1): y = relu?(x W^T + b). Several: the raw partial sums, ws [gridDim.z, M, N].
template <class C>
__global__ void __launch_bounds__(kThreadsPerBlock) linear_tiled(const float* __restrict__ x, const float* __restrict__ w,
                                                                 const float* __restrict__ b, float* __restrict__ y, float* __restrict__ ws,
                                                                 int M, int N, int K, bool relu, int k_per_split) {
  __shared__ TileSmem<C> sm;
  pdl_wait();
  pdl_trigger();
  const int k_begin = blockIdx.z * k_per_split, k_end = min(K, k_begin + k_per_split);
  if (gridDim.z == 1) {
    tile_linear<C>(x, w, b, y, M, N, K, relu, blockIdx.y, blockIdx.x, k_begin, k_end, sm);
  } else {
    tile_linear<C>(x, w, nullptr, ws + static_cast<long long>(blockIdx.z) * M * N, M, N, K, false, blockIdx.y, blockIdx.x, k_begin, k_end, sm);
  }
}

// y = relu?(b + the split-K partial sums ws [splits, M, N]), added in a fixed order.
__global__ void reduce_splits(const float* __restrict__ ws, int splits, const float* __restrict__ b, float* __restrict__ y, int M, int N,
                              bool relu) {
  pdl_wait();
  pdl_trigger();
  sum_splits(ws, splits, b, y, M, N, relu, blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x,
             static_cast<long long>(gridDim.x) * blockDim.x);
}

constexpr int kGemvWarps = 4;  // warps (output neurons) per block of linear_gemv

// Block (blockIdx.x, blockIdx.y): neurons kGemvWarps * blockIdx.x + warp, rows R * blockIdx.y onwards.
template <int R>
__global__ void __launch_bounds__(kGemvWarps * kWarp) linear_gemv(const float* __restrict__ x, const float* __restrict__ w,
                                                                  const float* __restrict__ b, float* __restrict__ y, int M, int N, int K,
                                                                  bool relu) {
  __shared__ float4 xs[kGemvSmemFloats / 4];
  const int n = blockIdx.x * kGemvWarps + threadIdx.x / kWarp;
  prefetch_row_l2(w, n, N, K, kGemvSmemFloats / R);  // the weights don't depend on the previous layer
  pdl_wait();
  pdl_trigger();
  gemv_block<R>(x, w, b, y, M, N, K, relu, blockIdx.y * R, n, n < N, reinterpret_cast<float*>(xs));
}

// Everything the fused kernel needs, passed by value (kernel parameters live in constant memory).
constexpr int kMaxFusedLayers = 32;
enum FusedWork : int { kFusedGemv, kFusedSmallTiles, kFusedLargeTiles };
struct FusedParams {
  const float* in[kMaxFusedLayers];
  float* out[kMaxFusedLayers];
  const float* w[kMaxFusedLayers];
  const float* b[kMaxFusedLayers];
  int k[kMaxFusedLayers];     // layer input widths
  int n[kMaxFusedLayers];     // layer output widths
  int work[kMaxFusedLayers];  // FusedWork: how the layer's work is cut
  int splits[kMaxFusedLayers];       // tile layers: K cut in `splits` slices of k_per_split (1: no split-K)
  int k_per_split[kMaxFusedLayers];
  float* ws;                         // split-K partial sums [splits, M, N] (one layer at a time)
  int layers;
  int M;
};

union FusedSmem {
  float4 gemv[kGemvSmemFloats / 4];
  TileSmem<SmallM> small;
  TileSmem<LargeM> large;
};

// A layer's tiles x K slices, a block at a time over the persistent grid (tile_linear ends with a barrier).
// With split-K (as cuda-tiled plans it, so that the tiles and slices cover every SM) the partial sums go to
// p.ws, and after a grid barrier every thread of the grid adds some of them up.
template <class C>
__device__ void fused_tiles(const FusedParams& p, int li, bool relu, TileSmem<C>& sm, cg::grid_group& grid) {
  const int M = p.M, N = p.n[li], K = p.k[li], splits = p.splits[li];
  const int tiles_n = (N + C::BN - 1) / C::BN, tiles = (M + C::BM - 1) / C::BM * tiles_n;
  for (int item = blockIdx.x; item < tiles * splits; item += gridDim.x) {
    const int tile = item % tiles, z = item / tiles;
    if (splits == 1) {
      tile_linear<C>(p.in[li], p.w[li], p.b[li], p.out[li], M, N, K, relu, tile / tiles_n, tile % tiles_n, 0, K, sm);
    } else {
      const int k_begin = z * p.k_per_split[li], k_end = min(K, k_begin + p.k_per_split[li]);
      tile_linear<C>(p.in[li], p.w[li], nullptr, p.ws + static_cast<long long>(z) * M * N, M, N, K, false, tile / tiles_n, tile % tiles_n,
                     k_begin, k_end, sm);
    }
  }
  if (splits == 1) return;
  grid.sync();  // every slice's partial sums written
  sum_splits(p.ws, splits, p.b[li], p.out[li], M, N, relu, blockIdx.x * static_cast<long long>(blockDim.x) + threadIdx.x,
             static_cast<long long>(gridDim.x) * blockDim.x);
}

// R: rows of the GEMV work (p.M <= R; every layer kFusedGemv), or 0: every layer tiles (p.M > 16). Each
// instantiation holds one of the two paths, so neither's registers limit the other's occupancy.
template <int R>
__global__ void __launch_bounds__(kThreadsPerBlock, 1) mlp_fused(const FusedParams p) {
  __shared__ FusedSmem sm;
  cg::grid_group grid = cg::this_grid();
  for (int li = 0; li < p.layers; ++li) {
    const bool relu = li + 1 < p.layers;
    const int N = p.n[li];
    if constexpr (R > 0) {
      constexpr int kWarps = kThreadsPerBlock / kWarp;
      // ceil(N / blocks) neurons a block (at most one a warp), so the neurons spread over every SM.
      const int per_block = min(kWarps, (N + gridDim.x - 1) / gridDim.x);
      const int warp = threadIdx.x / kWarp;
      for (int item = blockIdx.x; item * per_block < N; item += gridDim.x) {
        const int n = item * per_block + warp;
        gemv_block<R>(p.in[li], p.w[li], p.b[li], p.out[li], p.M, N, p.k[li], relu, 0, n, warp < per_block && n < N,
                      reinterpret_cast<float*>(sm.gemv));
      }
    } else if (p.work[li] == kFusedSmallTiles) {
      fused_tiles<SmallM>(p, li, relu, sm.small, grid);
    } else {
      fused_tiles<LargeM>(p, li, relu, sm.large, grid);
    }
    if (li + 1 < p.layers) grid.sync();  // the next layer reads every block's output
  }
}

// ----------------------------------------------------------------------------------------------------
// Launchers and backends

class NaiveBackend final : public CudaBackend {
 public:
  explicit NaiveBackend(bool graph, GpuIo io) : CudaBackend("cuda-naive", graph, Precision::FP32, io) {}

 protected:
  void enqueue_layers(int batch, cudaStream_t s) override {
    for (int li = 0; li < static_cast<int>(layers_.size()); ++li) {
      const DeviceLayer& l = layers_[li];
      const long long total = static_cast<long long>(batch) * l.out;
      const int blocks = static_cast<int>(std::min<long long>((total + 255) / 256, 65535));
      launch(linear_naive, dim3(blocks), dim3(256), s, false, false, layer_input(li), l.w, l.b, layer_output(li), batch, l.out, l.in,
             li + 1 < static_cast<int>(layers_.size()));
    }
  }
};

// How cuda-tiled cuts one layer at one batch size: the tile shape, and K in `splits` slices of k_per_split.
struct TiledPlan {
  bool small = true;  // SmallM tiles, else LargeM
  int splits = 1;
  int k_per_split = 0;
};

constexpr int kMaxSplits = 16;

template <class C>
TiledPlan plan_tiles(bool small, int M, int N, int K, int sms) {
  const long long tiles = static_cast<long long>(ceil_div(M, C::BM)) * ceil_div(N, C::BN);
  if (tiles >= sms) return {small, 1, K};
  // Fewer tiles than SMs: cut K so that tiles x splits covers them (up to kMaxSplits asked for), each split a whole
  // number of BK-deep slices, rounded down so that there are at least as many splits as asked.
  const int slices = ceil_div(K, C::BK);
  const int want = std::min({ceil_div(sms, tiles), kMaxSplits, slices});
  const int k_per_split = slices / want * C::BK;
  return {small, ceil_div(K, k_per_split), k_per_split};
}

TiledPlan plan_layer(int M, int N, int K, int sms) {
  return M <= SmallM::BM ? plan_tiles<SmallM>(true, M, N, K, sms) : plan_tiles<LargeM>(false, M, N, K, sms);
}

// The split-K workspace: the most any batch size up to max_batch needs (splits only happen while the tiles are
// fewer than the SMs, i.e. for M below sms x 64), allocated once so captured graphs stay valid.
DeviceBuffer<float> split_workspace(const std::vector<DeviceLayer>& layers, int max_batch, int sms) {
  long long most = 0;
  for (int m = 1; m <= std::min(max_batch, sms * LargeM::BM); ++m) {
    for (const DeviceLayer& l : layers) {
      const TiledPlan p = plan_layer(m, l.out, l.in, sms);
      if (p.splits > 1) most = std::max(most, static_cast<long long>(p.splits) * m * l.out);
    }
  }
  return DeviceBuffer<float>(static_cast<std::size_t>(most));
}

class TiledBackend final : public CudaBackend {
 public:
  explicit TiledBackend(bool graph, GpuIo io) : CudaBackend("cuda-tiled", graph, Precision::FP32, io) {}

 protected:
  bool can_use_pdl() const override { return true; }

  void prepare_layers() override {
    // gridDim.y carries the row tiles.
    if ((max_batch_ + LargeM::BM - 1) / LargeM::BM > 65535) {
      throw InputError("cuda-tiled serves batch sizes up to " + std::to_string(65535 * LargeM::BM) + ", not " + std::to_string(max_batch_));
    }
    workspace_ = split_workspace(layers_, max_batch_, sms_);
    plans_.clear();
  }

  void plan_layers(int batch) override {
    std::vector<TiledPlan> plans;
    for (const DeviceLayer& l : layers_) plans.push_back(plan_layer(batch, l.out, l.in, sms_));
    plans_[batch] = std::move(plans);
  }

  void enqueue_layers(int batch, cudaStream_t s) override {
    const int last = static_cast<int>(layers_.size()) - 1;
    const std::vector<TiledPlan>& plans = plans_.at(batch);
    for (int li = 0; li <= last; ++li) {
      const DeviceLayer& l = layers_[li];
      const TiledPlan& p = plans[li];
      const bool relu = li < last;
      const bool pdl = pdl_ && li > 0;
      if (p.small) launch_tiles<SmallM>(li, batch, p, relu, pdl, s);
      else launch_tiles<LargeM>(li, batch, p, relu, pdl, s);
      if (p.splits > 1) {
        const long long total = static_cast<long long>(batch) * l.out;
        const int blocks = static_cast<int>(std::min<long long>((total + 255) / 256, 4LL * sms_));
        launch(reduce_splits, dim3(blocks), dim3(256), s, pdl_, false, static_cast<const float*>(workspace_.get()), p.splits, l.b,
               layer_output(li), batch, l.out, relu);
      }
    }
  }

 private:
  template <class C>
  void launch_tiles(int li, int batch, const TiledPlan& p, bool relu, bool pdl, cudaStream_t s) {
    const DeviceLayer& l = layers_[li];
    const dim3 grid(ceil_div(l.out, C::BN), ceil_div(batch, C::BM), p.splits);
    launch(linear_tiled<C>, grid, dim3(C::kThreads), s, pdl, false, layer_input(li), l.w, l.b, layer_output(li), workspace_.get(), batch, l.out,
           l.in, relu, p.k_per_split);
  }

  DeviceBuffer<float> workspace_;
  std::map<int, std::vector<TiledPlan>> plans_;  // by batch size
};

// linear_gemv<R> for the given rows per block (a power of two up to kGemvMaxRows).
template <int R>
void launch_gemv_rows(const float* x, const DeviceLayer& l, float* y, int M, bool relu, bool pdl, cudaStream_t s) {
  const dim3 grid(ceil_div(l.out, kGemvWarps), ceil_div(M, R));
  launch(linear_gemv<R>, grid, dim3(kGemvWarps * kWarp), s, pdl, false, x, l.w, l.b, y, M, l.out, l.in, relu);
}

void launch_gemv(const float* x, const DeviceLayer& l, float* y, int M, bool relu, bool pdl, cudaStream_t s) {
  switch (gemv_rows_for(M)) {
    case 1: return launch_gemv_rows<1>(x, l, y, M, relu, pdl, s);
    case 2: return launch_gemv_rows<2>(x, l, y, M, relu, pdl, s);
    case 4: return launch_gemv_rows<4>(x, l, y, M, relu, pdl, s);
    case 8: return launch_gemv_rows<8>(x, l, y, M, relu, pdl, s);
    default: return launch_gemv_rows<16>(x, l, y, M, relu, pdl, s);
  }
}

class GemvBackend final : public CudaBackend {
 public:
  explicit GemvBackend(bool graph, GpuIo io) : CudaBackend("cuda-gemv", graph, Precision::FP32, io) {}

 protected:
  bool can_use_pdl() const override { return true; }

  void prepare_layers() override {
    // float4 weight loads assume every weight matrix starts 16-byte aligned (cuda_backend.cu pads to 256).
    for (const DeviceLayer& l : layers_) {
      if (reinterpret_cast<std::uintptr_t>(l.w) % 16 != 0) throw RuntimeError("cuda-gemv: a weight matrix is not 16-byte aligned");
    }
    if ((max_batch_ + kGemvMaxRows - 1) / kGemvMaxRows > 65535) {
      throw InputError("cuda-gemv serves batch sizes up to " + std::to_string(65535 * kGemvMaxRows) + ", not " + std::to_string(max_batch_));
    }
  }

  void enqueue_layers(int batch, cudaStream_t s) override {
    const int last = static_cast<int>(layers_.size()) - 1;
    for (int li = 0; li <= last; ++li) launch_gemv(layer_input(li), layers_[li], layer_output(li), batch, li < last, pdl_ && li > 0, s);
  }
};

class FusedBackend final : public CudaBackend {
 public:
  explicit FusedBackend(bool graph, GpuIo io) : CudaBackend("cuda-fused", graph, Precision::FP32, io) {}

 protected:
  void prepare_layers() override {
    if (layers_.size() > static_cast<std::size_t>(kMaxFusedLayers)) {
      throw InputError("cuda-fused serves up to " + std::to_string(kMaxFusedLayers) + " layers, this model has " + std::to_string(layers_.size()));
    }
    int device = 0, cooperative = 0;
    CUDA_CHECK(cudaGetDevice(&device));
    CUDA_CHECK(cudaDeviceGetAttribute(&cooperative, cudaDevAttrCooperativeLaunch, device));
    if (!cooperative) throw RuntimeError("cuda-fused needs cooperative launch, which this device does not support");
    // The persistent grid: as many blocks as can be resident on every SM at once (the grid barrier needs
    // them all resident), per instantiation.
    blocks_[0] = resident_blocks(mlp_fused<0>);
    blocks_[1] = resident_blocks(mlp_fused<1>);
    blocks_[2] = resident_blocks(mlp_fused<2>);
    blocks_[3] = resident_blocks(mlp_fused<4>);
    blocks_[4] = resident_blocks(mlp_fused<8>);
    blocks_[5] = resident_blocks(mlp_fused<16>);
    workspace_ = split_workspace(layers_, max_batch_, sms_);
  }

  // With the grid the device refused, if it did.
  std::string config() const override {
    std::string c = CudaBackend::config();
    if (refused_ > 0) c += ",grid=fewer (the device refused " + std::to_string(refused_) + " co-resident blocks)";
    return c;
  }

  void enqueue_layers(int batch, cudaStream_t s) override {
    // Up to 16 rows: GEMV warps (R rows); more: tiles (R = 0).
    switch (batch <= kGemvMaxRows ? gemv_rows_for(batch) : 0) {
      case 0: return launch_fused<0>(batch, blocks_[0], s);
      case 1: return launch_fused<1>(batch, blocks_[1], s);
      case 2: return launch_fused<2>(batch, blocks_[2], s);
      case 4: return launch_fused<4>(batch, blocks_[3], s);
      case 8: return launch_fused<8>(batch, blocks_[4], s);
      default: return launch_fused<16>(batch, blocks_[5], s);
    }
  }

 private:
  int resident_blocks(void (*kernel)(FusedParams)) const {
    int per_sm = 0;
    CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, kernel, kThreadsPerBlock, 0));
    if (per_sm < 1) throw RuntimeError("cuda-fused: the kernel can't be resident on this device");
    return per_sm * sms_;
  }

  template <int R>
  void launch_fused(int batch, int& blocks, cudaStream_t s) {
    FusedParams p{};
    p.layers = static_cast<int>(layers_.size());
    p.M = batch;
    p.ws = workspace_.get();
    for (int li = 0; li < p.layers; ++li) {
      const DeviceLayer& l = layers_[li];
      p.in[li] = layer_input(li);
      p.out[li] = layer_output(li);
      p.w[li] = l.w;
      p.b[li] = l.b;
      p.k[li] = l.in;
      p.n[li] = l.out;
      // Tiles (above 16 rows) cut as cuda-tiled cuts them: split-K where the tiles alone leave SMs idle.
      const TiledPlan plan = plan_layer(batch, l.out, l.in, sms_);
      p.work[li] = batch <= kGemvMaxRows ? kFusedGemv : plan.small ? kFusedSmallTiles : kFusedLargeTiles;
      p.splits[li] = batch <= kGemvMaxRows ? 1 : plan.splits;
      p.k_per_split[li] = plan.k_per_split;
    }
    // A device may hold fewer blocks at once than the occupancy query said (compute-sanitizer's instrumentation
    // lowers it): when it refuses the grid, one block fewer a SM, down to one, kept for later launches.
    for (;;) {
      const cudaError_t err = try_launch(mlp_fused<R>, dim3(blocks), dim3(kThreadsPerBlock), s, false, true, p);
      if (err == cudaSuccess) break;
      if (err != cudaErrorCooperativeLaunchTooLarge || blocks <= sms_) throw_cuda_error(err, "cooperative launch of mlp_fused", __FILE__, __LINE__);
      if (refused_ == 0) refused_ = blocks;
      blocks -= sms_;
    }
    CUDA_CHECK_LAUNCH();
  }

  DeviceBuffer<float> workspace_;  // split-K partial sums
  int blocks_[6] = {};  // resident blocks of mlp_fused<0 (tiles), 1, 2, 4, 8, 16>
  int refused_ = 0;     // the first grid the device refused (0: none)
};

}  // namespace

std::unique_ptr<Backend> make_naive_backend(bool graph, GpuIo io) { return std::make_unique<NaiveBackend>(graph, io); }
std::unique_ptr<Backend> make_tiled_backend(bool graph, GpuIo io) { return std::make_unique<TiledBackend>(graph, io); }
std::unique_ptr<Backend> make_gemv_backend(bool graph, GpuIo io) { return std::make_unique<GemvBackend>(graph, io); }
std::unique_ptr<Backend> make_fused_backend(bool graph, GpuIo io) { return std::make_unique<FusedBackend>(graph, io); }

}  // namespace mlpbench::cuda
