// mlpbench's CUDA emulator: the subset of the CUDA runtime and device code that kernels/ uses, for the host
// compiler, so our kernels and GPU backends run on the CPU in every CI (the `gpu-emu` preset; test support,
// never the real build). Nothing here is a GPU figure: the emulator says nothing about speed.
//
// Device side: every CUDA thread is a fiber (Boost.Context) that gives way only at __syncthreads, __syncwarp,
// a shuffle or grid.sync(); the threads of a block run in a chosen order (MLPBENCH_EMU_ORDER: forward,
// reversed or shuffle[:seed], reshuffled at every barrier), so a missing barrier changes results. __shared__
// variables are thread_local: a block runs on one OS thread at a time (a cooperative launch runs one OS
// thread per block, with a barrier for grid.sync()). Shuffles exchange through the warp with CUDA's 32-lane
// width and mask rules: a lane that would hang on a GPU (a mask naming a lane that has exited or does not
// exist, a caller outside its own mask) aborts with a message naming the kernel. MLPBENCH_EMU_RACECHECK=1 (in a
// build whose kernels are instrumented, see emu/CMakeLists.txt) reports two threads of a block touching the
// same shared word between two barriers, one of them writing, with the kernel, the address and the line.
//
// Host side: device, pinned and mapped allocations of exact sizes (so AddressSanitizer sees overruns); streams
// run their work in order, deferred until the host synchronizes (a missing synchronization shows as a wrong
// output); events; stream capture into a graph that is replayed; cudaLaunchKernelEx with its attributes (PDL
// is satisfied by ordered execution); cooperative launches limited to the blocks an H100-like device could
// hold at once; cudaGetLastError's semantics. cuBLAS(Lt) is not emulated.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <tuple>
#include <type_traits>
#include <utility>

#define MLPBENCH_CUDA_EMULATOR 1
#define CUDART_VERSION 13000

// Device-code keywords: plain C++ here.
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __shared__ static thread_local

// ---------------------------------------------------------------------------------------------------------
// Types

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x = 1, y = 1, z = 1;
  constexpr dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};
struct alignas(16) float4 {
  float x, y, z, w;
};
struct alignas(8) float2 {
  float x, y;
};
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline float2 make_float2(float x, float y) { return {x, y}; }

enum cudaError_t {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevicePointer = 17,
  cudaErrorStubLibrary = 34,
  cudaErrorInsufficientDriver = 35,
  cudaErrorInvalidDeviceFunction = 98,
  cudaErrorNoDevice = 100,
  cudaErrorInvalidDevice = 101,
  cudaErrorInvalidResourceHandle = 400,
  cudaErrorIllegalState = 401,
  cudaErrorNotReady = 600,
  cudaErrorHostMemoryAlreadyRegistered = 712,
  cudaErrorHostMemoryNotRegistered = 713,
  cudaErrorCooperativeLaunchTooLarge = 720,
  cudaErrorNotSupported = 801,
  cudaErrorStreamCaptureUnsupported = 900,
  cudaErrorStreamCaptureInvalidated = 901,
  cudaErrorStreamCaptureUnmatched = 903,
  cudaErrorStreamCaptureImplicit = 906,
};

enum cudaMemcpyKind { cudaMemcpyHostToHost = 0, cudaMemcpyHostToDevice = 1, cudaMemcpyDeviceToHost = 2, cudaMemcpyDeviceToDevice = 3, cudaMemcpyDefault = 4 };
enum cudaStreamCaptureMode { cudaStreamCaptureModeGlobal = 0, cudaStreamCaptureModeThreadLocal = 1, cudaStreamCaptureModeRelaxed = 2 };
enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMaxSharedMemoryPerBlock = 8,
  cudaDevAttrWarpSize = 10,
  cudaDevAttrClockRate = 13,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrCanMapHostMemory = 19,
  cudaDevAttrL2CacheSize = 38,
  cudaDevAttrMaxThreadsPerMultiProcessor = 39,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
  cudaDevAttrMaxSharedMemoryPerMultiprocessor = 81,
  cudaDevAttrCooperativeLaunch = 95,
};
constexpr unsigned cudaStreamDefault = 0, cudaStreamNonBlocking = 1;
constexpr unsigned cudaHostAllocDefault = 0, cudaHostAllocPortable = 1, cudaHostAllocMapped = 2;
constexpr unsigned cudaHostRegisterDefault = 0, cudaHostRegisterPortable = 1, cudaHostRegisterMapped = 2;
enum cudaMemoryType { cudaMemoryTypeUnregistered = 0, cudaMemoryTypeHost = 1, cudaMemoryTypeDevice = 2, cudaMemoryTypeManaged = 3 };
struct cudaPointerAttributes {
  cudaMemoryType type;
  int device;
  void* devicePointer;
  void* hostPointer;
};

struct CUstream_st;
struct CUevent_st;
struct CUgraph_st;
struct CUgraphExec_st;
using cudaStream_t = CUstream_st*;
using cudaEvent_t = CUevent_st*;
using cudaGraph_t = CUgraph_st*;
using cudaGraphExec_t = CUgraphExec_st*;

struct cudaDeviceProp {
  char name[256];
  std::size_t totalGlobalMem;
  std::size_t sharedMemPerBlock;
  std::size_t sharedMemPerMultiprocessor;
  int regsPerBlock;
  int regsPerMultiprocessor;
  int warpSize;
  int maxThreadsPerBlock;
  int maxThreadsPerMultiProcessor;
  int maxBlocksPerMultiProcessor;
  int maxThreadsDim[3];
  int maxGridSize[3];
  int multiProcessorCount;
  int l2CacheSize;
  int major;
  int minor;
  int cooperativeLaunch;
  int canMapHostMemory;
};

enum cudaLaunchAttributeID { cudaLaunchAttributeCooperative = 2, cudaLaunchAttributeProgrammaticStreamSerialization = 5 };
union cudaLaunchAttributeValue {
  char pad[64];
  int cooperative;
  int programmaticStreamSerializationAllowed;
};
struct cudaLaunchAttribute {
  cudaLaunchAttributeID id;
  cudaLaunchAttributeValue val;
};
struct cudaLaunchConfig_t {
  dim3 gridDim;
  dim3 blockDim;
  std::size_t dynamicSmemBytes;
  cudaStream_t stream;
  cudaLaunchAttribute* attrs;
  unsigned numAttrs;
};

// ---------------------------------------------------------------------------------------------------------
// Host API (emu/emu_runtime.cpp)

const char* cudaGetErrorString(cudaError_t err);
const char* cudaGetErrorName(cudaError_t err);
cudaError_t cudaGetLastError();
cudaError_t cudaPeekAtLastError();
cudaError_t cudaGetDeviceCount(int* count);
cudaError_t cudaGetDevice(int* device);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device);
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device);
cudaError_t cudaDriverGetVersion(int* version);
cudaError_t cudaRuntimeGetVersion(int* version);
cudaError_t cudaDeviceSynchronize();

cudaError_t cudaMalloc(void** p, std::size_t bytes);
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocHost(void** p, std::size_t bytes);
cudaError_t cudaHostAlloc(void** p, std::size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaHostGetDevicePointer(void** device, void* host, unsigned flags);
// The caller's memory, pinned and mapped: whole pages (a page registered twice fails, as on a GPU).
cudaError_t cudaHostRegister(void* p, std::size_t bytes, unsigned flags);
cudaError_t cudaHostUnregister(void* p);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* p);
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t s = nullptr);
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t s = nullptr);

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamCreate(cudaStream_t* s);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaEventCreate(cudaEvent_t* e);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s = nullptr);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop);

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode mode);
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph);
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long flags = 0);
cudaError_t cudaGraphUpload(cudaGraphExec_t exec, cudaStream_t s);
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s);
cudaError_t cudaGraphDestroy(cudaGraph_t graph);
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec);

namespace mlpbench::emu {

// A kernel launch as the emulator runs it: `body` runs one CUDA thread's kernel call (the arguments copied at
// launch, as CUDA copies kernel parameters).
struct KernelLaunch {
  const void* kernel = nullptr;  // for messages (the kernel's name)
  dim3 grid, block;
  bool cooperative = false;
  std::function<void()> body;
};
cudaError_t launch(const cudaLaunchConfig_t& config, KernelLaunch launch);
// Blocks of `threads` threads the emulated device holds at once on one SM (the cooperative launch limit).
int resident_blocks_per_sm(int threads, std::size_t dynamic_smem);

void syncthreads();
void syncwarp(unsigned mask);
// Every lane of `mask` gives `value` (up to 8 bytes) and gets that of lane src_lane(lane) (its own when the
// function returns -1 for it, as CUDA's out-of-range shuffles do).
unsigned long long shuffle(unsigned mask, unsigned long long value, int width, int kind, int arg, const char* what);
void grid_sync();
long long clock();

}  // namespace mlpbench::emu

// kernel<<<grid, block, dynamic smem, stream>>>(args...) with launch attributes, the one way kernels/ launches.
template <typename... Params, typename... Args>
cudaError_t cudaLaunchKernelEx(const cudaLaunchConfig_t* config, void (*kernel)(Params...), Args&&... args) {
  mlpbench::emu::KernelLaunch l;
  l.kernel = reinterpret_cast<const void*>(kernel);
  l.grid = config->gridDim;
  l.block = config->blockDim;
  for (unsigned i = 0; i < config->numAttrs; ++i) {
    if (config->attrs[i].id == cudaLaunchAttributeCooperative && config->attrs[i].val.cooperative) l.cooperative = true;
  }
  l.body = [kernel, params = std::tuple<std::decay_t<Params>...>(static_cast<Params>(std::forward<Args>(args))...)] { std::apply(kernel, params); };
  return mlpbench::emu::launch(*config, std::move(l));
}

template <typename Kernel>
cudaError_t cudaOccupancyMaxActiveBlocksPerMultiprocessor(int* blocks, Kernel, int threads, std::size_t dynamic_smem) {
  if (!blocks || threads < 1) return cudaErrorInvalidValue;
  *blocks = mlpbench::emu::resident_blocks_per_sm(threads, dynamic_smem);
  return cudaSuccess;
}

// ---------------------------------------------------------------------------------------------------------
// Device API

// The running CUDA thread's coordinates: the emulator sets them whenever it switches threads. Defined here (inline,
// constant-initialized), so no translation unit reaches them through a thread_local wrapper function.
inline thread_local uint3 threadIdx{}, blockIdx{};
inline thread_local dim3 blockDim, gridDim;
constexpr int warpSize = 32;

inline void __syncthreads() { mlpbench::emu::syncthreads(); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { mlpbench::emu::syncwarp(mask); }
inline long long clock64() { return mlpbench::emu::clock(); }
inline void cudaGridDependencySynchronize() {}         // launches run in order: the previous kernel has ended
inline void cudaTriggerProgrammaticLaunchCompletion() {}

namespace mlpbench::emu {
enum ShuffleKind { kShflIdx, kShflUp, kShflDown, kShflXor };
template <typename T>
T shfl(unsigned mask, T v, int width, ShuffleKind kind, int arg, const char* what) {
  static_assert(sizeof(T) <= 8 && std::is_trivially_copyable_v<T>, "shuffles move up to 8 bytes");
  unsigned long long bits = 0;
  __builtin_memcpy(&bits, &v, sizeof(T));
  bits = shuffle(mask, bits, width, kind, arg, what);
  T out;
  __builtin_memcpy(&out, &bits, sizeof(T));
  return out;
}
}  // namespace mlpbench::emu

template <typename T>
T __shfl_sync(unsigned mask, T v, int src, int width = warpSize) {
  return mlpbench::emu::shfl(mask, v, width, mlpbench::emu::kShflIdx, src, "__shfl_sync");
}
template <typename T>
T __shfl_up_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  return mlpbench::emu::shfl(mask, v, width, mlpbench::emu::kShflUp, static_cast<int>(delta), "__shfl_up_sync");
}
template <typename T>
T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = warpSize) {
  return mlpbench::emu::shfl(mask, v, width, mlpbench::emu::kShflDown, static_cast<int>(delta), "__shfl_down_sync");
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T v, int lane_mask, int width = warpSize) {
  return mlpbench::emu::shfl(mask, v, width, mlpbench::emu::kShflXor, lane_mask, "__shfl_xor_sync");
}

// Loads through the read-only path and through L2 only: plain loads here.
template <typename T>
T __ldg(const T* p) {
  return *p;
}
template <typename T>
T __ldcg(const T* p) {
  return *p;
}

// CUDA's integer and float min/max overloads, mixed signedness as CUDA's headers resolve it.
inline int min(int a, int b) { return a < b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned min(int a, unsigned b) { return min(static_cast<unsigned>(a), b); }
inline unsigned min(unsigned a, int b) { return min(a, static_cast<unsigned>(b)); }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline float min(float a, float b) { return fminf(a, b); }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline unsigned max(int a, unsigned b) { return max(static_cast<unsigned>(a), b); }
inline unsigned max(unsigned a, int b) { return max(a, static_cast<unsigned>(b)); }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float max(float a, float b) { return fmaxf(a, b); }
