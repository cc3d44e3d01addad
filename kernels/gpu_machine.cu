// The GPU's roof for `mlpbench machine` and the floors: peak FLOP/s from SM count x clock x the
// architecture's dense rate per SM, and measured: the fp32 FMA rate (independent chains on every SM), read
// bandwidth within L2 and from HBM (a streaming read kernel), host-to-device copy bandwidth, the cost of
// launching and synchronizing a graph of one empty kernel (the least any forward costs) and one that holds
// a 4-byte H2D and D2H copy. Each is the best of a few tries.
#include <algorithm>
#include <chrono>
#include <cstdint>

#include "cuda_raii.cuh"
#include "mlpbench/machine.hpp"

namespace mlpbench {
namespace {

// Dense FLOP per clock per SM: (fp32, tf32, bf16) by compute capability; zeros where we don't know.
struct PerSm {
  double fp32, tf32, bf16;
};
PerSm per_sm(int major, int minor) {
  if (major == 8 && minor == 0) return {128, 1024, 2048};  // A100
  if (major == 8) return {256, 512, 1024};                 // GA10x, AD10x
  if (major == 9) return {256, 2048, 4096};                // H100, H200
  return {0, 0, 0};
}

__global__ void read_stream(const float4* __restrict__ p, std::size_t n, float* __restrict__ sink) {
  float4 acc = make_float4(0, 0, 0, 0);
  for (std::size_t i = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x; i < n; i += static_cast<std::size_t>(gridDim.x) * blockDim.x) {
    const float4 v = p[i];
    acc.x += v.x;
    acc.y += v.y;
    acc.z += v.z;
    acc.w += v.w;
  }
  if (acc.x + acc.y + acc.z + acc.w == 12345.678f) *sink = acc.x;  // keeps the loads
}

// GB/s reading `bytes` repeatedly, best of 3 event-timed batches of passes.
double read_gbs(std::size_t bytes, int sms, cudaStream_t s) {
  using namespace cuda;
  const std::size_t n = bytes / sizeof(float4);
  DeviceBuffer<float4> buf(n);
  DeviceBuffer<float> sink(1);
  CUDA_CHECK(cudaMemsetAsync(buf.get(), 0, n * sizeof(float4), s));
  Event start, stop;
  double best = 0;
  const int reps = 20;
  for (int t = 0; t < 4; ++t) {  // the first is a warm-up
    CUDA_CHECK(cudaEventRecord(start.get(), s));
    for (int r = 0; r < reps; ++r) {
      read_stream<<<sms * 4, 512, 0, s>>>(buf.get(), n, sink.get());
      CUDA_CHECK_LAUNCH();
    }
    CUDA_CHECK(cudaEventRecord(stop.get(), s));
    CUDA_CHECK(cudaEventSynchronize(stop.get()));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    if (t > 0) best = std::max(best, static_cast<double>(n * sizeof(float4)) * reps / (ms * 1e-3) / 1e9);
  }
  return best;
}

constexpr int kFmaChains = 8;  // independent chains per thread; with every SM full of warps, far more than the FMA latency needs

__global__ void fma_chains(int iters, float* __restrict__ sink) {
  float acc[kFmaChains];
#pragma unroll
  for (int i = 0; i < kFmaChains; ++i) acc[i] = threadIdx.x + i;
  const float a = 0.999f, b = 0.001f;
#pragma unroll 16
  for (int it = 0; it < iters; ++it) {
#pragma unroll
    for (int i = 0; i < kFmaChains; ++i) acc[i] = fmaf(a, acc[i], b);
  }
  float s = 0;
#pragma unroll
  for (int i = 0; i < kFmaChains; ++i) s += acc[i];
  if (s == 12345.678f) *sink = s;  // keeps the arithmetic
}

// TFLOP/s of fp32 FMAs over every SM, best of 3 event-timed launches after a warm-up.
double fma_tflops(int sms, cudaStream_t s) {
  using namespace cuda;
  DeviceBuffer<float> sink(1);
  Event start, stop;
  const int threads = 256, iters = 1 << 14;
  int per_sm = 0;  // every SM as full as it gets, in one wave
  CUDA_CHECK(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fma_chains, threads, 0));
  const int blocks = sms * std::max(per_sm, 1);
  double best = 0;
  for (int t = 0; t < 4; ++t) {
    CUDA_CHECK(cudaEventRecord(start.get(), s));
    fma_chains<<<blocks, threads, 0, s>>>(iters, sink.get());
    CUDA_CHECK_LAUNCH();
    CUDA_CHECK(cudaEventRecord(stop.get(), s));
    CUDA_CHECK(cudaEventSynchronize(stop.get()));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    const double flops = 2.0 * kFmaChains * iters * static_cast<double>(blocks) * threads;
    if (t > 0) best = std::max(best, flops / (ms * 1e-3) / 1e12);
  }
  return best;
}

// GB/s of a 64 MiB copy from pinned host memory to the device, best of 3 after a warm-up.
double h2d_gbs(cudaStream_t s) {
  using namespace cuda;
  const std::size_t bytes = 64u << 20;
  PinnedBuffer<std::uint8_t> host(bytes);
  DeviceBuffer<std::uint8_t> dev(bytes);
  Event start, stop;
  double best = 0;
  for (int t = 0; t < 4; ++t) {
    CUDA_CHECK(cudaEventRecord(start.get(), s));
    CUDA_CHECK(cudaMemcpyAsync(dev.get(), host.get(), bytes, cudaMemcpyHostToDevice, s));
    CUDA_CHECK(cudaEventRecord(stop.get(), s));
    CUDA_CHECK(cudaEventSynchronize(stop.get()));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start.get(), stop.get()));
    if (t > 0) best = std::max(best, bytes / (ms * 1e-3) / 1e9);
  }
  return best;
}

__global__ void empty_kernel() {}

// Microseconds for one launch + sync of the graph that `enqueue` captures, best of 3 x 2000 after a warm-up.
template <class Enqueue>
double graph_round_trip_us(cudaStream_t s, Enqueue enqueue) {
  using namespace cuda;
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  cudaGraph_t raw = nullptr;
  const cudaError_t captured = enqueue();
  const cudaError_t ended = cudaStreamEndCapture(s, &raw);
  Graph graph(raw);
  CUDA_CHECK(captured);  // the first error is the one to report: a failed enqueue also invalidates the capture
  CUDA_CHECK(ended);
  cudaGraphExec_t exec_raw = nullptr;
  CUDA_CHECK(cudaGraphInstantiate(&exec_raw, graph.get(), 0));
  GraphExec exec(exec_raw);
  double best = 1e30;
  for (int t = 0; t < 4; ++t) {
    const int n = 2000;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < n; ++i) {
      CUDA_CHECK(cudaGraphLaunch(exec.get(), s));
      CUDA_CHECK(cudaStreamSynchronize(s));
    }
    const double us = std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() / n;
    if (t > 0) best = std::min(best, us);
  }
  return best;
}

}  // namespace

std::optional<GpuRoof> measure_gpu_roof() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    cudaGetLastError();
    return std::nullopt;
  }
  cudaDeviceProp prop{};
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  int clock_khz = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, 0));
  GpuRoof g;
  g.name = prop.name;
  g.sms = prop.multiProcessorCount;
  g.clock_ghz = clock_khz * 1e-6;
  const PerSm rate = per_sm(prop.major, prop.minor);
  const double per_clock = g.sms * g.clock_ghz * 1e9 / 1e12;  // TFLOP/s per FLOP/clk/SM
  g.fp32_tflops = rate.fp32 * per_clock;
  g.tf32_tflops = rate.tf32 * per_clock;
  g.bf16_tflops = rate.bf16 * per_clock;
  g.l2_bytes = prop.l2CacheSize;
  cuda::Stream stream;
  cudaStream_t s = stream.get();
  g.fp32_fma_tflops = fma_tflops(g.sms, s);
  g.l2_gbs = read_gbs(static_cast<std::size_t>(prop.l2CacheSize) / 2, g.sms, s);
  g.hbm_gbs = read_gbs(static_cast<std::size_t>(prop.l2CacheSize) * 4, g.sms, s);
  g.h2d_gbs = h2d_gbs(s);
  g.launch_us = graph_round_trip_us(s, [&] {
    empty_kernel<<<1, 1, 0, s>>>();
    return cudaGetLastError();
  });
  cuda::PinnedBuffer<float> host(2);
  cuda::DeviceBuffer<float> dev(1);
  g.graph_us = graph_round_trip_us(s, [&] {
    const cudaError_t e = cudaMemcpyAsync(dev.get(), host.get(), sizeof(float), cudaMemcpyHostToDevice, s);
    return e != cudaSuccess ? e : cudaMemcpyAsync(host.get() + 1, dev.get(), sizeof(float), cudaMemcpyDeviceToHost, s);
  });
  return g;
}

}  // namespace mlpbench
