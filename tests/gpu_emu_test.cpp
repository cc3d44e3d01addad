// The CUDA emulator itself (emu/, the emulated build only): what it must catch and what it must not get wrong,
// on small kernels of its own. A missing barrier changes the result in every thread order and the race check
// names it; a shuffle that would hang on a GPU aborts naming the kernel; shuffles give CUDA's lanes; grid.sync()
// orders the blocks of a cooperative launch, and a grid too large for the device is refused as on a GPU;
// streams run in order and only when the host synchronizes; capture, replay, cudaGetLastError.
#include <cuda_runtime.h>
#include <cooperative_groups.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <numeric>
#include <vector>

namespace {

namespace cg = cooperative_groups;

template <typename... Params, typename... Args>
cudaError_t launch(void (*kernel)(Params...), dim3 grid, dim3 block, cudaStream_t s, bool cooperative, Args... args) {
  cudaLaunchAttribute attr{};
  attr.id = cudaLaunchAttributeCooperative;
  attr.val.cooperative = 1;
  cudaLaunchConfig_t cfg{};
  cfg.gridDim = grid;
  cfg.blockDim = block;
  cfg.stream = s;
  cfg.attrs = cooperative ? &attr : nullptr;
  cfg.numAttrs = cooperative ? 1 : 0;
  return cudaLaunchKernelEx(&cfg, kernel, static_cast<Params>(args)...);
}

// out[t] = in[n - 1 - t] through shared memory: needs the barrier between the store and the load.
__global__ void reverse_through_shared(const float* in, float* out, int n, bool barrier) {
  __shared__ float s[256];
  const int t = threadIdx.x;
  s[t] = in[t];
  if (barrier) __syncthreads();
  out[t] = s[n - 1 - t];
}

// Every lane of a 40-thread block in a full-mask shuffle: lanes 8..31 of warp 1 do not exist.
__global__ void partial_warp_shuffle(float* out) { out[threadIdx.x] = __shfl_xor_sync(0xffffffffu, 1.0f * threadIdx.x, 1); }

// Each kind of shuffle at width 16: out[4 * t + k].
__global__ void every_shuffle(int* out) {
  const int v = 100 + static_cast<int>(threadIdx.x);
  out[4 * threadIdx.x + 0] = __shfl_sync(0xffffffffu, v, 5, 16);
  out[4 * threadIdx.x + 1] = __shfl_up_sync(0xffffffffu, v, 3, 16);
  out[4 * threadIdx.x + 2] = __shfl_down_sync(0xffffffffu, v, 3, 16);
  out[4 * threadIdx.x + 3] = __shfl_xor_sync(0xffffffffu, v, 9, 16);
}

// Lane 0 of each warp at __syncthreads while the others wait for it in a shuffle: a GPU hangs.
__global__ void barrier_against_shuffle(float* out) {
  if (threadIdx.x % 32 == 0) __syncthreads();
  else out[threadIdx.x] = __shfl_sync(0xffffffffu, 1.0f, 1);  // lane 0 never comes
}

// Block b writes b + 1; after grid.sync() block 0 adds them all: needs every block resident and the barrier.
__global__ void sum_after_grid_sync(int* parts, int* total) {
  if (threadIdx.x == 0) parts[blockIdx.x] = static_cast<int>(blockIdx.x) + 1;
  cg::this_grid().sync();
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    int s = 0;
    for (unsigned b = 0; b < gridDim.x; ++b) s += parts[b];
    *total = s;
  }
}

__global__ void add_one(int* p) { *p += 1; }

std::vector<float> iota_floats(int n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

// reverse_through_shared on 256 threads; whether the output is right.
bool reverse_is_right(bool barrier) {
  const int n = 256;
  float *in = nullptr, *out = nullptr;
  cudaMallocHost(reinterpret_cast<void**>(&in), n * sizeof(float));
  cudaMallocHost(reinterpret_cast<void**>(&out), n * sizeof(float));
  const std::vector<float> x = iota_floats(n);
  std::copy(x.begin(), x.end(), in);
  launch(reverse_through_shared, dim3(1), dim3(n), nullptr, false, in, out, n, barrier);
  cudaDeviceSynchronize();
  bool right = true;
  for (int t = 0; t < n; ++t) right = right && out[t] == x[n - 1 - t];
  cudaFreeHost(in);
  cudaFreeHost(out);
  return right;
}

// The race check and the poisoning of shared memory between blocks need the kernels' accesses, which a build
// with -fsanitize=thread instrumentation gives (tests/CMakeLists.txt; not the AddressSanitizer build).
#if defined(__SANITIZE_THREAD__)
constexpr bool kTracked = true;
#else
constexpr bool kTracked = false;
#endif

// A missing barrier gives a wrong output in a fresh process (shared memory all zeros) and, where the emulator
// tracks accesses, after a launch that filled shared memory with the right values (it poisons what a block wrote
// before the next block starts); the barrier gives the right output.
bool barrier_matters() {
  bool ok = !reverse_is_right(false) && reverse_is_right(true);
  if (kTracked) ok = ok && !reverse_is_right(false);
  return ok;
}

class Emulator : public ::testing::Test {
 protected:
  // Death and exit tests re-run this program (its environment read afresh there): the order and the race check
  // each child asks for.
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(Emulator, AMissingBarrierChangesTheResultInEveryOrder) {
  for (const char* order : {"forward", "reversed", "shuffle:3"}) {
    EXPECT_EXIT(
        {
          setenv("MLPBENCH_EMU_ORDER", order, 1);
          setenv("MLPBENCH_EMU_RACECHECK", "0", 1);
          std::exit(barrier_matters() ? 0 : 1);
        },
        ::testing::ExitedWithCode(0), "")
        << order;
  }
}

#if defined(__SANITIZE_THREAD__)
TEST_F(Emulator, TheRaceCheckNamesTheKernelAndTheWord) {
  EXPECT_DEATH(
      {
        setenv("MLPBENCH_EMU_RACECHECK", "1", 1);
        reverse_is_right(false);
      },
      "kernel .*reverse_through_shared.*racecheck: [a-z-]+ race on the shared word at 0x[0-9a-f]+: thread [0-9]+ at .*gpu_emu_test.cpp:[0-9]+.* and "
      "thread [0-9]+ "
      "touch it with no __syncthreads\\(\\) between");
  // With the barrier: no race, right output, race check on or off (ctest runs this program with it on).
  EXPECT_TRUE(reverse_is_right(true));
}
#endif

TEST_F(Emulator, AFullMaskShuffleInAPartialWarpAbortsNamingTheKernel) {
  EXPECT_DEATH(
      {
        float* out = nullptr;
        cudaMalloc(reinterpret_cast<void**>(&out), 40 * sizeof(float));
        launch(partial_warp_shuffle, dim3(1), dim3(40), nullptr, false, out);
        cudaDeviceSynchronize();
      },
      "kernel .*partial_warp_shuffle.*__shfl_xor_sync with mask 0xffffffff in warp 1: lanes 8,9,.* do not exist \\(the block has 40 threads\\); on a "
      "GPU this warp would hang");
}

TEST_F(Emulator, ThreadsWaitingAtDifferentBarriersAbort) {
  EXPECT_DEATH(
      {
        float* out = nullptr;
        cudaMalloc(reinterpret_cast<void**>(&out), 64 * sizeof(float));
        launch(barrier_against_shuffle, dim3(1), dim3(64), nullptr, false, out);
        cudaDeviceSynchronize();
      },
      "barrier_against_shuffle.*wait for each other at different barriers");
}

TEST_F(Emulator, ShufflesGiveCudasLanes) {
  int* out = nullptr;
  ASSERT_EQ(cudaMallocHost(reinterpret_cast<void**>(&out), 4 * 32 * sizeof(int)), cudaSuccess);
  ASSERT_EQ(launch(every_shuffle, dim3(1), dim3(32), nullptr, false, out), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  for (int t = 0; t < 32; ++t) {
    const int base = t / 16 * 16, i = t % 16;
    EXPECT_EQ(out[4 * t + 0], 100 + base + 5) << t;
    EXPECT_EQ(out[4 * t + 1], 100 + (i >= 3 ? t - 3 : t)) << t;   // from 3 lanes below; its own in the first 3
    EXPECT_EQ(out[4 * t + 2], 100 + (i + 3 < 16 ? t + 3 : t)) << t;  // from 3 above; its own in the last 3
    EXPECT_EQ(out[4 * t + 3], 100 + base + (i ^ 9)) << t;
  }
  cudaFreeHost(out);
}

TEST_F(Emulator, GridSyncOrdersTheBlocksOfACooperativeLaunch) {
  int per_sm = 0;
  ASSERT_EQ(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, sum_after_grid_sync, 64, 0), cudaSuccess);
  int sms = 0;
  ASSERT_EQ(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, 0), cudaSuccess);
  EXPECT_EQ(sms, 132);
  const int blocks = per_sm * sms;
  int *parts = nullptr, *total = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&parts), (blocks + 1) * sizeof(int)), cudaSuccess);
  ASSERT_EQ(cudaMallocHost(reinterpret_cast<void**>(&total), sizeof(int)), cudaSuccess);
  ASSERT_EQ(launch(sum_after_grid_sync, dim3(blocks), dim3(64), nullptr, true, parts, total), cudaSuccess);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  EXPECT_EQ(*total, blocks * (blocks + 1) / 2);
  // One block more than the device holds at once: refused as on a GPU, the error reported once.
  EXPECT_EQ(launch(sum_after_grid_sync, dim3(blocks + 1), dim3(64), nullptr, true, parts, total), cudaErrorCooperativeLaunchTooLarge);
  EXPECT_EQ(cudaGetLastError(), cudaErrorCooperativeLaunchTooLarge);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  // grid.sync() in a launch that is not cooperative is undefined on a GPU: it aborts here.
  EXPECT_DEATH(
      {
        launch(sum_after_grid_sync, dim3(2), dim3(64), nullptr, false, parts, total);
        cudaDeviceSynchronize();
      },
      "sum_after_grid_sync.*grid.sync\\(\\) in a kernel not launched cooperatively");
  cudaFree(parts);
  cudaFreeHost(total);
}

TEST_F(Emulator, BadLaunchConfigurationsFailAtTheLaunch) {
  int* p = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&p), sizeof(int)), cudaSuccess);
  EXPECT_EQ(launch(add_one, dim3(1), dim3(1025), nullptr, false, p), cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch(add_one, dim3(1, 65536), dim3(1), nullptr, false, p), cudaErrorInvalidConfiguration);
  EXPECT_EQ(launch(add_one, dim3(0), dim3(1), nullptr, false, p), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaPeekAtLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaErrorInvalidConfiguration);
  EXPECT_EQ(cudaGetLastError(), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaSuccess);
  EXPECT_EQ(cudaFree(p), cudaErrorInvalidDevicePointer);  // freed twice
  cudaGetLastError();
}

// Work on a stream runs in order, and only when the host waits for it: a forgotten synchronization shows.
TEST_F(Emulator, StreamsRunInOrderWhenTheHostSynchronizes) {
  cudaStream_t s = nullptr;
  ASSERT_EQ(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), cudaSuccess);
  int *d = nullptr, *h = nullptr;
  ASSERT_EQ(cudaMalloc(reinterpret_cast<void**>(&d), sizeof(int)), cudaSuccess);
  ASSERT_EQ(cudaMallocHost(reinterpret_cast<void**>(&h), sizeof(int)), cudaSuccess);
  *h = 41;
  ASSERT_EQ(cudaMemcpyAsync(d, h, sizeof(int), cudaMemcpyHostToDevice, s), cudaSuccess);
  ASSERT_EQ(launch(add_one, dim3(1), dim3(1), s, false, d), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(h, d, sizeof(int), cudaMemcpyDeviceToHost, s), cudaSuccess);
  EXPECT_EQ(*h, 41) << "the copy back ran before the host synchronized";
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(*h, 42);

  // Captured into a graph: each replay runs the kernel again; a synchronization inside the capture breaks it.
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  ASSERT_EQ(launch(add_one, dim3(1), dim3(1), s, false, d), cudaSuccess);
  ASSERT_EQ(cudaMemcpyAsync(h, d, sizeof(int), cudaMemcpyDeviceToHost, s), cudaSuccess);
  cudaGraph_t graph = nullptr;
  ASSERT_EQ(cudaStreamEndCapture(s, &graph), cudaSuccess);
  EXPECT_EQ(*h, 42) << "capturing ran the work";
  cudaGraphExec_t exec = nullptr;
  ASSERT_EQ(cudaGraphInstantiate(&exec, graph, 0), cudaSuccess);
  for (int i = 0; i < 2; ++i) ASSERT_EQ(cudaGraphLaunch(exec, s), cudaSuccess);
  ASSERT_EQ(cudaStreamSynchronize(s), cudaSuccess);
  EXPECT_EQ(*h, 44);
  ASSERT_EQ(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal), cudaSuccess);
  EXPECT_EQ(cudaStreamSynchronize(s), cudaErrorStreamCaptureUnsupported);
  cudaGraph_t broken = nullptr;
  EXPECT_EQ(cudaStreamEndCapture(s, &broken), cudaErrorStreamCaptureInvalidated);
  EXPECT_EQ(broken, nullptr);
  cudaGetLastError();
  cudaGraphExecDestroy(exec);
  cudaGraphDestroy(graph);
  cudaStreamDestroy(s);
  cudaFree(d);
  cudaFreeHost(h);
}

#if defined(__SANITIZE_ADDRESS__)
__global__ void read_past_end(const float* p, float* out, int n) { out[0] = p[n]; }

// Allocations have exact sizes: a kernel reading one float past a buffer is an overflow AddressSanitizer names.
TEST_F(Emulator, AnOverrunIsSeenByAddressSanitizer) {
  EXPECT_DEATH(
      {
        float* p = nullptr;
        float* out = nullptr;
        cudaMalloc(reinterpret_cast<void**>(&p), 5 * sizeof(float));
        cudaMalloc(reinterpret_cast<void**>(&out), sizeof(float));
        launch(read_past_end, dim3(1), dim3(1), nullptr, false, p, out, 5);
        cudaDeviceSynchronize();
      },
      "heap-buffer-overflow");
}
#endif

}  // namespace
