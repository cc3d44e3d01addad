// See cuda_backend.cuh.
#include <algorithm>
#include <cstring>
#include <mutex>

#include "cuda_backend.cuh"
#include "launch.cuh"
#include "mlpbench/errors.hpp"

namespace mlpbench::cuda {

CudaBackend::CudaBackend(std::string kernel, bool graph, Precision precision, GpuIo io)
    : precision_(precision), kernel_(std::move(kernel)), graph_(graph), io_(io) {}

std::string CudaBackend::name() const {
  const char* io = io_ == GpuIo::ZeroCopy ? "+zerocopy" : io_ == GpuIo::Registered ? "+registered" : "";
  return kernel_ + (graph_ ? "+graph" : "") + io;
}

std::string CudaBackend::config() const {
  std::string c = std::string("precision=") + precision_name(precision_) + ",io=" + gpu_io_name(io_);
  if (can_use_pdl()) c += pdl_ ? ",pdl=on" : ",pdl=off";
  if (own_buffer_forwards_ > 0) {
    c += ",own-buffers=" + std::to_string(own_buffer_forwards_) + " forwards (the caller's buffers were not registered: zero-copy through ours)";
  }
  return c;
}

namespace {

// dst[i] = src[i] for i < n floats, one side in mapped host memory (zero-copy I/O); both 16-byte aligned:
// float4 loads and stores, a scalar tail.
__global__ void copy_floats(const float4* __restrict__ src, float4* __restrict__ dst, std::size_t n) {
  const std::size_t stride = static_cast<std::size_t>(gridDim.x) * blockDim.x;
  const std::size_t first = blockIdx.x * static_cast<std::size_t>(blockDim.x) + threadIdx.x;
  for (std::size_t i = first; i < n / 4; i += stride) dst[i] = src[i];
  for (std::size_t i = n / 4 * 4 + first; i < n; i += stride) reinterpret_cast<float*>(dst)[i] = reinterpret_cast<const float*>(src)[i];
}

// Host memory registered through register_host, by start address: its size and the device's address of it.
struct Registration {
  std::size_t bytes;
  char* device;
};
std::mutex registry_mutex;
std::map<const char*, Registration> registry;

// The device's address of [p, p + bytes) where one registration holds all of it; else nullptr.
void* registered_device(const void* p, std::size_t bytes) {
  const char* c = static_cast<const char*>(p);
  std::lock_guard<std::mutex> lock(registry_mutex);
  auto it = registry.upper_bound(c);
  if (it == registry.begin()) return nullptr;
  --it;
  const std::size_t offset = static_cast<std::size_t>(c - it->first);
  return offset + bytes <= it->second.bytes ? it->second.device + offset : nullptr;
}

// Every weight matrix and bias vector starts 256-byte aligned, as cuBLASLt's fastest kernels assume
// (and as cudaMalloc gives a whole buffer): sizes are rounded up to 64 floats.
std::size_t padded(std::size_t floats) { return (floats + 63) / 64 * 64; }

}  // namespace

void CudaBackend::prepare(const Model& model, int max_batch) {
  validate_model(model);
  if (max_batch < 1) throw InputError("prepare: max_batch must be >= 1");
  // Invalidate first: if an allocation below throws, the backend refuses to run rather than use old buffers.
  graphs_.clear();
  compute_graphs_.clear();
  registered_graphs_.clear();
  planned_.clear();
  own_buffer_forwards_ = 0;
  layers_.clear();
  max_batch_ = 0;
  std::size_t total = 0;
  for (const Layer& l : model.layers) total += padded(l.weight.size()) + padded(l.bias.size());
  weights_ = DeviceBuffer<float>(total);
  std::vector<DeviceLayer> layers;
  std::size_t offset = 0;
  for (const Layer& l : model.layers) {
    float* w = weights_.get() + offset;
    float* b = w + padded(l.weight.size());
    CUDA_CHECK(cudaMemcpy(w, l.weight.data(), l.weight.size() * sizeof(float), cudaMemcpyHostToDevice));
    CUDA_CHECK(cudaMemcpy(b, l.bias.data(), l.bias.size() * sizeof(float), cudaMemcpyHostToDevice));
    layers.push_back({w, b, l.in, l.out});
    offset += padded(l.weight.size()) + padded(l.bias.size());
  }
  const int widest = model.max_width();
  const std::size_t in = static_cast<std::size_t>(max_batch) * model.input_width();
  const std::size_t out = static_cast<std::size_t>(max_batch) * model.output_width();
  const std::size_t act = static_cast<std::size_t>(max_batch) * widest;
  for (auto& a : act_) a = DeviceBuffer<float>(model.layers.size() > 1 ? act : 0);
  int device = 0;
  CUDA_CHECK(cudaGetDevice(&device));
  d_in_ = DeviceBuffer<float>(in);
  const bool mapped_output = io_ != GpuIo::Copy && writes_mapped_output();
  d_out_ = DeviceBuffer<float>(mapped_output ? 0 : out);
  if (io_ == GpuIo::Copy) {
    h_in_ = PinnedBuffer<float>(in);
    h_out_ = PinnedBuffer<float>(out);
    host_in_ = h_in_.get(), host_out_ = h_out_.get();
  } else {
    int can_map = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&can_map, cudaDevAttrCanMapHostMemory, device));
    if (!can_map) throw RuntimeError(name() + ": this device can't map host memory (zero-copy I/O)");
    m_in_ = MappedBuffer<float>(in);
    m_out_ = MappedBuffer<float>(out);
    host_in_ = m_in_.get(), host_out_ = m_out_.get();
    map_in_dev_ = device_pointer(m_in_), map_out_dev_ = device_pointer(m_out_);
  }
  dev_out_ = mapped_output ? map_out_dev_ : d_out_.get();
  io_in_ = map_in_dev_, io_out_ = map_out_dev_;
  int major = 0, l2 = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&l2, cudaDevAttrL2CacheSize, device));
  // Twice the L2: Hopper's L2 is two partitions. (Our kernels' L2 prefetches are normal priority: nothing they
  // bring outlives the flush.)
  flush_ = DeviceBuffer<std::uint8_t>(2 * static_cast<std::size_t>(std::max(l2, 1)));
  CUDA_CHECK(cudaDeviceGetAttribute(&sms_, cudaDevAttrMultiProcessorCount, device));
  CUDA_CHECK(cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device));
  pdl_ = can_use_pdl() && major >= 9;
  layers_ = std::move(layers);
  max_width_ = widest;
  max_batch_ = max_batch;
  try {
    prepare_layers();
    CUDA_CHECK(cudaDeviceSynchronize());
  } catch (...) {
    layers_.clear();
    max_batch_ = 0;
    throw;
  }
}

const float* CudaBackend::layer_input(int li) const { return li == 0 ? d_in_.get() : act_[(li - 1) % 2].get(); }

float* CudaBackend::layer_output(int li) const { return li == static_cast<int>(layers_.size()) - 1 ? dev_out_ : act_[li % 2].get(); }

void CudaBackend::check_batch(int batch) const {
  if (layers_.empty()) throw RuntimeError(name() + ": forward before prepare");
  if (batch < 1 || batch > max_batch_) {
    throw InputError(name() + ": batch " + std::to_string(batch) + " outside [1, " + std::to_string(max_batch_) + "]");
  }
}

void CudaBackend::enqueue_copy_kernel(const float* src, float* dst, std::size_t n, cudaStream_t s) const {
  const int blocks = static_cast<int>(std::min<std::size_t>((std::max<std::size_t>(n / 4, 1) + 255) / 256, 4u * sms_));
  launch(copy_floats, dim3(blocks), dim3(256), s, false, false, reinterpret_cast<const float4*>(src), reinterpret_cast<float4*>(dst), n);
}

void CudaBackend::enqueue_h2d(int batch, cudaStream_t s) {
  const std::size_t n = static_cast<std::size_t>(batch) * layers_.front().in;
  // Zero-copy: a kernel reads the mapped input once, coalesced, into device memory; the layers may read their
  // input many times (every tile, every block), which must not each cross the host link.
  if (io_ != GpuIo::Copy) enqueue_copy_kernel(io_in_, d_in_.get(), n, s);
  else CUDA_CHECK(cudaMemcpyAsync(d_in_.get(), h_in_.get(), n * sizeof(float), cudaMemcpyHostToDevice, s));
}

void CudaBackend::enqueue_d2h(int batch, cudaStream_t s) {
  const std::size_t n = static_cast<std::size_t>(batch) * layers_.back().out;
  if (io_ == GpuIo::Copy) CUDA_CHECK(cudaMemcpyAsync(h_out_.get(), d_out_.get(), n * sizeof(float), cudaMemcpyDeviceToHost, s));
  else if (!writes_mapped_output()) enqueue_copy_kernel(d_out_.get(), io_out_, n, s);
  // else: the last layer wrote the mapped output itself, once per element
}

// Captures what `enqueue` puts on the stream into an instantiated graph; ends the capture on every path.
GraphExec CudaBackend::capture(const std::function<void(cudaStream_t)>& enqueue) {
  cudaStream_t s = stream_.get();
  CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  cudaGraph_t raw = nullptr;
  try {
    enqueue(s);
  } catch (...) {
    cudaStreamEndCapture(s, &raw);
    if (raw) cudaGraphDestroy(raw);
    cudaGetLastError();
    throw;
  }
  CUDA_CHECK(cudaStreamEndCapture(s, &raw));
  Graph graph(raw);
  cudaGraphExec_t exec = nullptr;
  CUDA_CHECK(cudaGraphInstantiate(&exec, graph.get(), 0));
  GraphExec owned(exec);
  CUDA_CHECK(cudaGraphUpload(exec, s));
  CUDA_CHECK(cudaStreamSynchronize(s));
  return owned;
}

void CudaBackend::plan(int batch) {
  check_batch(batch);
  if (planned_[batch]) return;
  plan_layers(batch);
  if (graph_) {
    // One eager run of the layers first, so that what a library does on its first call (cuBLASLt loads its
    // kernels, sizes its workspace) happens outside the capture.
    enqueue_layers(batch, stream_.get());
    CUDA_CHECK(cudaStreamSynchronize(stream_.get()));
    // One graph per forward: H2D, every layer, D2H (zero-copy: the layers alone). A second, layers only,
    // for the device-only timer.
    graphs_[batch] = capture([&](cudaStream_t s) { enqueue_forward(batch, s); });
    compute_graphs_[batch] = capture([&](cudaStream_t s) { enqueue_layers(batch, s); });
  }
  planned_[batch] = true;
}

void CudaBackend::enqueue_forward(int batch, cudaStream_t s) {
  enqueue_h2d(batch, s);
  enqueue_layers(batch, s);
  enqueue_d2h(batch, s);
}

void CudaBackend::forward(const float* x, float* y, int batch) {
  check_batch(batch);
  if (!planned_[batch]) plan(batch);
  const std::size_t in_bytes = static_cast<std::size_t>(batch) * layers_.front().in * sizeof(float);
  const std::size_t out_bytes = static_cast<std::size_t>(batch) * layers_.back().out * sizeof(float);
  if (io_ == GpuIo::Registered) {
    void* in = registered_device(x, in_bytes);
    void* out = registered_device(y, out_bytes);
    if (in && out) return forward_registered(static_cast<float*>(in), static_cast<float*>(out), batch);
    ++own_buffer_forwards_;
  }
  cudaStream_t s = stream_.get();
  std::memcpy(host_in_, x, in_bytes);
  if (graph_) CUDA_CHECK(cudaGraphLaunch(graphs_.at(batch).get(), s));
  else enqueue_forward(batch, s);
  CUDA_CHECK(cudaStreamSynchronize(s));
  std::memcpy(y, host_out_, out_bytes);
}

// The zero-copy forward with the caller's registered buffers in place of ours; with graphs, one graph per batch
// size and pair of buffers (captured the first time they come, as a server's fixed request buffers would be).
void CudaBackend::forward_registered(float* in, float* out, int batch) {
  constexpr std::size_t kMaxGraphs = 64;  // buffers that change at every call would capture a graph each
  struct Mapped {  // our own mapped buffers again on every path out
    CudaBackend& be;
    ~Mapped() { be.io_in_ = be.map_in_dev_, be.io_out_ = be.map_out_dev_, be.dev_out_ = be.writes_mapped_output() ? be.map_out_dev_ : be.d_out_.get(); }
  } restore{*this};
  io_in_ = in, io_out_ = out;
  if (writes_mapped_output()) dev_out_ = out;
  cudaStream_t s = stream_.get();
  if (graph_) {
    const auto key = std::make_tuple(batch, in, out);
    auto it = registered_graphs_.find(key);
    if (it == registered_graphs_.end()) {
      if (registered_graphs_.size() >= kMaxGraphs) registered_graphs_.clear();
      it = registered_graphs_.emplace(key, capture([&](cudaStream_t cs) { enqueue_forward(batch, cs); })).first;
    }
    CUDA_CHECK(cudaGraphLaunch(it->second.get(), s));
  } else {
    enqueue_forward(batch, s);
  }
  CUDA_CHECK(cudaStreamSynchronize(s));
}

std::shared_ptr<void> CudaBackend::register_host(void* p, std::size_t bytes) {
  if (io_ != GpuIo::Registered || !p || bytes == 0) return nullptr;
  const cudaError_t err = cudaHostRegister(p, bytes, cudaHostRegisterMapped);
  if (err != cudaSuccess) {
    cudaGetLastError();
    throw RuntimeError("cudaHostRegister of " + std::to_string(bytes) + " bytes of host memory failed: " + cudaGetErrorString(err) +
                       (err == cudaErrorHostMemoryAlreadyRegistered ? " (a page of it is registered already: give each buffer pages of its own)" : ""));
  }
  void* device = nullptr;
  if (const cudaError_t e = cudaHostGetDevicePointer(&device, p, 0); e != cudaSuccess) {
    cudaHostUnregister(p);
    throw_cuda_error(e, "cudaHostGetDevicePointer of registered host memory", __FILE__, __LINE__);
  }
  {
    std::lock_guard<std::mutex> lock(registry_mutex);
    registry[static_cast<const char*>(p)] = {bytes, static_cast<char*>(device)};
  }
  return std::shared_ptr<void>(p, [](void* q) {
    {
      std::lock_guard<std::mutex> lock(registry_mutex);
      registry.erase(static_cast<const char*>(q));
    }
    CUDA_CHECK_NOTHROW(cudaHostUnregister(q));
  });
}

void CudaBackend::evict_caches() {
  cudaStream_t s = stream_.get();
  CUDA_CHECK(cudaMemsetAsync(flush_.get(), static_cast<int>(++flushes_ & 0xffu), flush_.size(), s));
  CUDA_CHECK(cudaStreamSynchronize(s));
}

namespace {

// Holds the stream until the host has queued everything to be timed (nvbench's blocking kernel), so the
// events time the device's work, not the host's enqueueing. Gives up after ~0.2 s so that a launch
// queue that fills up can never deadlock it.
__global__ void hold_stream(const volatile int* release) {
  const long long start = clock64();
  while (*release == 0 && clock64() - start < 400000000LL) {
  }
}

}  // namespace

TimedRun CudaBackend::phase_timer(Phase phase, const float* x, int batch) {
  check_batch(batch);
  // Zero-copy where the last layer writes the mapped output itself: no output copy to time.
  if (io_ != GpuIo::Copy && writes_mapped_output() && phase == Phase::D2H) return {};
  if (!planned_[batch]) plan(batch);
  std::memcpy(host_in_, x, static_cast<std::size_t>(batch) * layers_.front().in * sizeof(float));
  // Shared by the returned timer, which must not outlive this backend.
  auto start = std::make_shared<Event>(), stop = std::make_shared<Event>();
  auto release = std::make_shared<PinnedBuffer<int>>(1);
  return [this, phase, batch, start, stop, release](int passes) {
    cudaStream_t s = stream_.get();
    volatile int* flag = release->get();
    *flag = 0;
    launch(hold_stream, dim3(1), dim3(1), s, false, false, static_cast<const volatile int*>(flag));
    struct Release {  // the stream is released on every path, exceptions included
      volatile int* flag;
      ~Release() { *flag = 1; }
    } guard{flag};
    CUDA_CHECK(cudaEventRecord(start->get(), s));
    for (int i = 0; i < passes; ++i) {
      switch (phase) {
        case Phase::H2D: enqueue_h2d(batch, s); break;
        case Phase::Compute:
          if (graph_) CUDA_CHECK(cudaGraphLaunch(compute_graphs_.at(batch).get(), s));
          else enqueue_layers(batch, s);
          break;
        case Phase::D2H: enqueue_d2h(batch, s); break;
      }
    }
    CUDA_CHECK(cudaEventRecord(stop->get(), s));
    *flag = 1;
    CUDA_CHECK(cudaEventSynchronize(stop->get()));
    float ms = 0;
    CUDA_CHECK(cudaEventElapsedTime(&ms, start->get(), stop->get()));
    return ms * 1e-3;
  };
}

}  // namespace mlpbench::cuda
