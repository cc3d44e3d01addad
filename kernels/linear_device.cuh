// Device building blocks of our layer kernels, y = relu?(x W^T + b) with x [M, K] row-major, W [N, K]
// row-major (PyTorch), b [N]; shared by the stand-alone kernels and the fused kernel (mlp_kernels.cu):
//   tile_linear<C>  one BM x BN output tile from shared-memory tiles of x and W over a range of K (each
//                   BK-deep slice loaded into registers while the block computes on the one before), a
//                   register micro-tile per thread; bias + ReLU in the epilogue, or the raw partial sum
//                   (split-K) when no bias is given.
//   sum_splits      the split-K partial sums added in a fixed order, + bias, ReLU.
//   gemv_block<R>   GEMV for few rows: each warp one output neuron for R rows; the live rows' inputs staged in
//                   shared memory once per block (vector loads, several in flight a thread), the weight row read
//                   as float4 (16-byte loads from the first 16-byte boundary, scalar head and tail), a shuffle
//                   reduction, bias + ReLU by one lane per row.
//   pdl_wait/pdl_trigger  programmatic dependent launch (sm_90+): a kernel may start while the previous one
//                   on the stream ends, and waits here before touching what that one wrote or reads.
// Activations (x) are read with __ldcg (through L2, never the read-only/L1 path): in the fused kernel other
// blocks of the same grid wrote them, and an earlier layer's stale copy must not be read from L1.
#pragma once

#include <cstdint>

namespace mlpbench::cuda {

constexpr int kWarp = 32;

// ----------------------------------------------------------------------------------------------------
// Programmatic dependent launch. Rule for every kernel launched with it: no global read of activations and
// no global write before pdl_wait() (weights, which no kernel writes, may be read or prefetched before).

__device__ __forceinline__ void pdl_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaGridDependencySynchronize();
#endif
}

__device__ __forceinline__ void pdl_trigger() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  cudaTriggerProgrammaticLaunchCompletion();
#endif
}

// ----------------------------------------------------------------------------------------------------
// Tiles

// A tile shape: BM x BN outputs per block, BK-deep slices of K, TM x TN outputs per thread.
template <int BM_, int BN_, int BK_, int TM_, int TN_>
struct TileConfig {
  static constexpr int BM = BM_, BN = BN_, BK = BK_, TM = TM_, TN = TN_;
  static constexpr int kThreadsM = BM / TM, kThreadsN = BN / TN;
  static constexpr int kThreads = kThreadsM * kThreadsN;
  static_assert(BM % TM == 0 && BN % TN == 0, "a tile must split evenly into per-thread micro-tiles");
};
using SmallM = TileConfig<16, 32, 64, 1, 2>;  // M <= 16 (and many tiles): narrow tiles, more blocks over N
using LargeM = TileConfig<64, 64, 16, 4, 4>;  // 16 outputs per thread
constexpr int kThreadsPerBlock = 256;
static_assert(SmallM::kThreads == kThreadsPerBlock && LargeM::kThreads == kThreadsPerBlock, "launchers assume 256 threads");

template <class C>
struct TileSmem {
  float a[C::BK][C::BM + 1];  // x slice, transposed: a[k][m]
  float w[C::BK][C::BN + 1];  // W slice, transposed: w[k][n]
};

// One BK-deep slice of `Rows` rows of a row-major matrix (ld K), held in registers between its loads and its
// stores: every thread issues all of its loads (Rows x BK / threads of them, 4 or more for our shapes) before it
// stores any, so a block waits about one round trip to L2 a slice, and the next slice's loads are in flight
// while the block computes on this one. Rows at or past `rows` and columns at or past k_end read as 0.
template <int Rows, class C, bool kActivations>
struct SliceLoader {
  static constexpr int kPerThread = Rows * C::BK / C::kThreads;
  static_assert(Rows * C::BK % C::kThreads == 0 && kPerThread >= 4, "a slice must split evenly, 4 or more loads a thread");
  float v[kPerThread];

  // Loads run along K (contiguous in both x and W), so a warp reads whole cache lines.
  __device__ __forceinline__ void load(const float* __restrict__ src, int K, int r0, int rows, int k0, int k_end) {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int e = threadIdx.x + j * C::kThreads, r = r0 + e / C::BK, k = k0 + e % C::BK;
      v[j] = 0.0f;
      if (r < rows && k < k_end) {
        // Activations through L2 only (__ldcg, see the top of this file); weights, which no kernel writes, plain (the
        // fused kernel's PTX check allows no scalar read-only load at all: ctest kernels_ptx).
        const float* p = src + static_cast<long long>(r) * K + k;
        v[j] = kActivations ? __ldcg(p) : *p;
      }
    }
  }
  // Transposed into shared memory: dst[k][row].
  __device__ __forceinline__ void store(float (&dst)[C::BK][Rows + 1]) const {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int e = threadIdx.x + j * C::kThreads;
      dst[e % C::BK][e / C::BK] = v[j];
    }
  }
};

// Output tile (tile_m, tile_n) over k in [k_begin, k_end): with a bias, y = relu?(x W^T + b) (ld N); without
// (b == nullptr), the raw partial sum for split-K. All threads of the block must call it together; it ends
// with a barrier, so the shared memory is free again on return.
template <class C>
__device__ void tile_linear(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b,
                            float* __restrict__ y, int M, int N, int K, bool relu, int tile_m, int tile_n, int k_begin, int k_end,
                            TileSmem<C>& sm) {
  const int t = threadIdx.x;
  const int tm = t / C::kThreadsN, tn = t % C::kThreadsN;
  const int m0 = tile_m * C::BM, n0 = tile_n * C::BN;
  float acc[C::TM][C::TN] = {};
  SliceLoader<C::BM, C, true> xa;
  SliceLoader<C::BN, C, false> wa;
  xa.load(x, K, m0, M, k_begin, k_end);
  wa.load(w, K, n0, N, k_begin, k_end);
  for (int k0 = k_begin; k0 < k_end; k0 += C::BK) {
    xa.store(sm.a);
    wa.store(sm.w);
    __syncthreads();
    if (k0 + C::BK < k_end) {  // the next slice's loads, in flight during this slice's arithmetic
      xa.load(x, K, m0, M, k0 + C::BK, k_end);
      wa.load(w, K, n0, N, k0 + C::BK, k_end);
    }
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
  // Epilogue: bias + ReLU (or the partial sum as it is), straight to y.
#pragma unroll
  for (int i = 0; i < C::TM; ++i) {
    const int m = m0 + tm + i * C::kThreadsM;
    if (m >= M) continue;
#pragma unroll
    for (int j = 0; j < C::TN; ++j) {
      const int n = n0 + tn + j * C::kThreadsN;
      if (n >= N) continue;
      float v = acc[i][j];
      if (b) {
        v += b[n];
        if (relu) v = fmaxf(v, 0.0f);
      }
      y[static_cast<long long>(m) * N + n] = v;
    }
  }
}

// y[m, n] = relu?(b[n] + sum over z = 0 .. splits - 1 of ws[z, m, n]) for the elements i = first, first + stride,
// ... of the M x N output: split-K's partial sums, always added in the same order (deterministic results).
__device__ __forceinline__ void sum_splits(const float* __restrict__ ws, int splits, const float* __restrict__ b, float* __restrict__ y, int M,
                                           int N, bool relu, long long first, long long stride) {
  const long long total = static_cast<long long>(M) * N;
  for (long long i = first; i < total; i += stride) {
    float v = b[i % N];
    for (int z = 0; z < splits; ++z) v += __ldcg(ws + z * total + i);
    y[i] = relu ? fmaxf(v, 0.0f) : v;
  }
}

// ----------------------------------------------------------------------------------------------------
// GEMV for few rows

constexpr int kGemvSmemFloats = 8192;  // 32 KB: the staged input rows of a block, R rows x kGemvSmemFloats / R
constexpr int kGemvMaxRows = 16;

// acc[r] += w * xs[r][k] for every row r.
template <int R>
__device__ __forceinline__ void fma_rows(float (&acc)[R], float w, const float* xs, int k) {
  constexpr int kChunk = kGemvSmemFloats / R;
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = fmaf(w, xs[r * kChunk + k], acc[r]);
}

// acc[r] += w . xs[r][k .. k+3] for every row r; xs read as one float4 when kAlignedX (k % 4 == 0).
template <int R, bool kAlignedX>
__device__ __forceinline__ void fma4_rows(float (&acc)[R], float4 w, const float* xs, int k) {
  constexpr int kChunk = kGemvSmemFloats / R;
#pragma unroll
  for (int r = 0; r < R; ++r) {
    const float* xr = xs + r * kChunk + k;
    const float4 v = kAlignedX ? *reinterpret_cast<const float4*>(xr) : make_float4(xr[0], xr[1], xr[2], xr[3]);
    acc[r] = fmaf(w.x, v.x, acc[r]);
    acc[r] = fmaf(w.y, v.y, acc[r]);
    acc[r] = fmaf(w.z, v.z, acc[r]);
    acc[r] = fmaf(w.w, v.w, acc[r]);
  }
}

// The 16-byte body of one chunk: lane i takes float4s i, i + 32, ...; unrolled so several loads are in flight.
template <int R, bool kAlignedX>
__device__ __forceinline__ void gemv_body(float (&acc)[R], const float* __restrict__ wk, const float* xs, int head, int body4, int lane) {
  const float4* w4 = reinterpret_cast<const float4*>(wk + head);
#pragma unroll 4
  for (int i = lane; i < body4; i += kWarp) fma4_rows<R, kAlignedX>(acc, __ldg(w4 + i), xs, head + 4 * i);
}

// Stages columns k0 .. k0 + kc - 1 of the live rows m0 .. m0 + rows - 1 of x into xs (row r at r * kChunk), as V
// (float4 where every row starts 16 bytes aligned: K % 4 == 0, k0 and the activations' base aligned; else float).
// Rows past the batch are not staged: their sums are never written. Each thread issues kStageLoads loads before
// it stores any, so a block waits for about one round trip to L2 per kStageLoads x blockDim elements, not one a
// row.
constexpr int kStageLoads = 4;
template <int R, typename V>
__device__ __forceinline__ void stage_rows(const float* __restrict__ x, int K, int m0, int rows, int k0, int kc, float* xs) {
  constexpr int kChunk = kGemvSmemFloats / R;
  constexpr int kWidth = static_cast<int>(sizeof(V) / sizeof(float));
  const int per_row = kc / kWidth;  // kc % 4 == 0 when K % 4 == 0 (kChunk is a multiple of 4)
  const int total = rows * per_row;
  for (int first = threadIdx.x; first < total; first += kStageLoads * blockDim.x) {
    V v[kStageLoads] = {};
#pragma unroll
    for (int j = 0; j < kStageLoads; ++j) {
      const int e = first + j * blockDim.x, r = e / per_row;
      if (e < total) v[j] = __ldcg(reinterpret_cast<const V*>(x + static_cast<long long>(m0 + r) * K + k0) + (e - r * per_row));
    }
#pragma unroll
    for (int j = 0; j < kStageLoads; ++j) {
      const int e = first + j * blockDim.x, r = e / per_row;
      if (e < total) reinterpret_cast<V*>(xs + r * kChunk)[e - r * per_row] = v[j];
    }
  }
}

// Warp w of the block computes output neuron n (warp-uniform) for rows m0 .. m0 + R - 1 (those below M);
// `active` (warp-uniform) is false for a warp without a neuron. xs: kGemvSmemFloats floats of 16-byte aligned
// shared memory. All threads of the block must call it together (it stages the rows chunk by chunk).
template <int R>
__device__ void gemv_block(const float* __restrict__ x, const float* __restrict__ w, const float* __restrict__ b, float* __restrict__ y,
                           int M, int N, int K, bool relu, int m0, int n, bool active, float* xs) {
  static_assert(R >= 1 && R <= kGemvMaxRows && kGemvSmemFloats % (4 * R) == 0, "R rows must split the staging buffer in float4s");
  constexpr int kChunk = kGemvSmemFloats / R;
  const int lane = threadIdx.x % kWarp;
  float acc[R];
#pragma unroll
  for (int r = 0; r < R; ++r) acc[r] = 0.0f;
  const float* wr = w + static_cast<long long>(active ? n : 0) * K;
  for (int k0 = 0; k0 < K; k0 += kChunk) {
    const int kc = min(kChunk, K - k0);
    __syncthreads();  // whoever used the shared memory before (a previous chunk, another work item) is done
    if (K % 4 == 0) stage_rows<R, float4>(x, K, m0, min(R, M - m0), k0, kc, xs);
    else stage_rows<R, float>(x, K, m0, min(R, M - m0), k0, kc, xs);
    __syncthreads();
    if (active) {
      const float* wk = wr + k0;
      // Scalar head up to the first 16-byte boundary of the weight row, float4 body, scalar tail.
      const int head = min(kc, static_cast<int>(((16 - (reinterpret_cast<std::uintptr_t>(wk) & 15)) & 15) / 4));
      if (lane < head) fma_rows<R>(acc, wk[lane], xs, lane);
      const int body4 = (kc - head) / 4;
      if (head == 0) gemv_body<R, true>(acc, wk, xs, 0, body4, lane);
      else gemv_body<R, false>(acc, wk, xs, head, body4, lane);
      const int tail = head + 4 * body4;
      if (tail + lane < kc) fma_rows<R>(acc, wk[tail + lane], xs, tail + lane);
    }
  }
  if (!active) return;
#pragma unroll
  for (int r = 0; r < R; ++r) {
#pragma unroll
    for (int off = kWarp / 2; off > 0; off /= 2) acc[r] += __shfl_xor_sync(0xffffffffu, acc[r], off);
  }
  const float bias = b[n];
#pragma unroll
  for (int r = 0; r < R; ++r) {
    if (lane == r && m0 + r < M) {
      const float v = acc[r] + bias;
      y[static_cast<long long>(m0 + r) * N + n] = relu ? fmaxf(v, 0.0f) : v;
    }
  }
}

// A hint, PTX only (the emulated build has no cache to hint). Normal priority: a line it brings is evicted
// like any other, so the L2 flush before a cold forward (CudaBackend::evict_caches) leaves none behind.
__device__ __forceinline__ void prefetch_l2(const float* p) {
#if defined(__CUDA_ARCH__)
  asm volatile("prefetch.global.L2 [%0];" ::"l"(__cvta_generic_to_global(p)));
#else
  (void)p;
#endif
}

// Prefetches the first `floats` of weight row n into L2 (one 128-byte line a lane): work that needs nothing from
// the previous layer, done before pdl_wait().
__device__ __forceinline__ void prefetch_row_l2(const float* w, int n, int N, int K, int floats) {
  if (n >= N) return;
  const float* row = w + static_cast<long long>(n) * K;
  const int end = min(K, floats);
  for (int k = (threadIdx.x % kWarp) * 32; k < end; k += kWarp * 32) prefetch_l2(row + k);
}

// Rows a GEMV launch takes at once for a batch of M: the next power of two up to kGemvMaxRows.
inline int gemv_rows_for(int M) {
  int r = 1;
  while (r < M && r < kGemvMaxRows) r *= 2;
  return r;
}

}  // namespace mlpbench::cuda
