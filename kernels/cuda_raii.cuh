// RAII owners for CUDA resources: device, pinned and mapped (zero-copy) host buffers, streams, events,
// executable graphs.
// Each constructor checks its call (an allocation failure names the bytes asked for); destructors use the
// non-throwing check. Move-only.
#pragma once

#include <cuda_runtime.h>

#include <cstddef>
#include <string>
#include <utility>

#include "cuda_check.cuh"

namespace mlpbench::cuda {

inline std::string bytes_text(std::size_t bytes) {
  return std::to_string(bytes) + " bytes (" + std::to_string(bytes >> 20) + " MiB)";
}

// Where a buffer's memory comes from: device memory, or page-locked host memory (what async copies and
// graph memcpy nodes need).
struct DeviceMemory {
  static constexpr const char* kAlloc = "cudaMalloc";
  static cudaError_t allocate(void** p, std::size_t bytes) { return cudaMalloc(p, bytes); }
  static cudaError_t release(void* p) { return cudaFree(p); }
};
struct PinnedMemory {
  static constexpr const char* kAlloc = "cudaMallocHost";
  static cudaError_t allocate(void** p, std::size_t bytes) { return cudaMallocHost(p, bytes); }
  static cudaError_t release(void* p) { return cudaFreeHost(p); }
};
// Page-locked host memory mapped into the device's address space: kernels read and write it over the
// host link (zero-copy); device_pointer() gives the address a kernel uses.
struct MappedMemory {
  static constexpr const char* kAlloc = "cudaHostAlloc(cudaHostAllocMapped)";
  static cudaError_t allocate(void** p, std::size_t bytes) { return cudaHostAlloc(p, bytes, cudaHostAllocMapped); }
  static cudaError_t release(void* p) { return cudaFreeHost(p); }
};

// n elements of T in Memory; an allocation failure names the bytes asked for. Move-only.
template <typename T, class Memory>
class Buffer {
 public:
  Buffer() = default;
  explicit Buffer(std::size_t n) : n_(n) {
    if (n == 0) return;
    void* p = nullptr;
    const cudaError_t err = Memory::allocate(&p, n * sizeof(T));
    if (err != cudaSuccess) {
      cudaGetLastError();
      throw RuntimeError(std::string(Memory::kAlloc) + " of " + bytes_text(n * sizeof(T)) + " failed: " + cudaGetErrorString(err));
    }
    p_ = static_cast<T*>(p);
  }
  ~Buffer() {
    if (p_) CUDA_CHECK_NOTHROW(Memory::release(p_));
  }
  Buffer(Buffer&& o) noexcept : p_(std::exchange(o.p_, nullptr)), n_(std::exchange(o.n_, 0)) {}
  Buffer& operator=(Buffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  T* get() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

template <typename T>
using DeviceBuffer = Buffer<T, DeviceMemory>;
template <typename T>
using PinnedBuffer = Buffer<T, PinnedMemory>;
template <typename T>
using MappedBuffer = Buffer<T, MappedMemory>;

// The device's address of mapped host memory (nullptr for an empty buffer).
template <typename T>
T* device_pointer(const MappedBuffer<T>& b) {
  if (!b.get()) return nullptr;
  void* d = nullptr;
  CUDA_CHECK(cudaHostGetDevicePointer(&d, b.get(), 0));
  return static_cast<T*>(d);
}

// Owns one CUDA runtime handle of type T, destroyed by Destroy; move-only.
template <class T, cudaError_t (*Destroy)(T)>
class Handle {
 public:
  Handle() = default;
  explicit Handle(T h) : h_(h) {}
  ~Handle() {
    if (h_) CUDA_CHECK_NOTHROW(Destroy(h_));
  }
  Handle(Handle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  Handle& operator=(Handle&& o) noexcept {
    std::swap(h_, o.h_);
    return *this;
  }
  T get() const { return h_; }

 private:
  T h_ = nullptr;
};

// A captured graph, and an instantiated one.
using Graph = Handle<cudaGraph_t, cudaGraphDestroy>;
using GraphExec = Handle<cudaGraphExec_t, cudaGraphExecDestroy>;

// A non-blocking stream, created with the object.
class Stream : public Handle<cudaStream_t, cudaStreamDestroy> {
 public:
  Stream() : Handle(create()) {}

 private:
  static cudaStream_t create() {
    cudaStream_t s = nullptr;
    CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    return s;
  }
};

// A timing event, created with the object.
class Event : public Handle<cudaEvent_t, cudaEventDestroy> {
 public:
  Event() : Handle(create()) {}

 private:
  static cudaEvent_t create() {
    cudaEvent_t e = nullptr;
    CUDA_CHECK(cudaEventCreate(&e));
    return e;
  }
};

}  // namespace mlpbench::cuda
