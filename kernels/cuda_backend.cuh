// CudaBackend: what every GPU backend shares. prepare() uploads the weights once and allocates device
// activations and the host staging buffers; forward() copies the input into the staging buffer, runs
// H2D copy -> every layer -> D2H copy on one stream (or as one CUDA graph launch), synchronizes and copies
// the output out: end-to-end wall time as an application sees it. With zero-copy I/O the staging buffers
// are mapped pinned memory: a kernel reads the input from it into device memory (no copy engine, so a
// forward in a graph is kernels only) and the last layer writes the output straight into it (no D2H), or,
// for a backend whose last layer must write device memory (cuBLASLt), a kernel copies the output there.
// Registered I/O is zero-copy in the caller's own buffers (registered once through register_host): forward()
// copies nothing on the host; given buffers that are not registered, it goes the zero-copy way.
// Subclasses only enqueue the layers.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "cuda_raii.cuh"
#include "mlpbench/backend.hpp"

namespace mlpbench::cuda {

// A layer's weights on the device: w [out, in] row-major, b [out].
struct DeviceLayer {
  const float* w = nullptr;
  const float* b = nullptr;
  int in = 0;
  int out = 0;
};

class CudaBackend : public Backend {
 public:
  CudaBackend(std::string kernel, bool graph, Precision precision, GpuIo io);
  // e.g. "cuda-gemv", "cuda-gemv+graph", "cuda-gemv+graph+zerocopy", "cuda-gemv+graph+registered"
  std::string name() const override;
  Device device() const override { return Device::GPU; }
  // e.g. "precision=fp32,io=copy", and ",pdl=on|off" for kernels that can use programmatic dependent launch;
  // with registered I/O, how many forwards since prepare() were given buffers that were not registered
  std::string config() const override;
  Precision precision() const override { return precision_; }
  std::string io() const override { return gpu_io_name(io_); }
  std::shared_ptr<void> register_host(void* p, std::size_t bytes) override;
  void prepare(const Model& model, int max_batch) override;
  void plan(int batch) override;
  void forward(const float* x, float* y, int batch) override;
  // Sets a buffer twice the L2's size on the stream and waits for it (nvbench's L2 flush, a buffer allocated
  // once in prepare): the next forward reads its weights from HBM. The pinned host input is rewritten by that
  // forward itself (its memcpy from x, timed, as in every forward).
  void evict_caches() override;
  TimedRun phase_timer(Phase phase, const float* x, int batch) override;

 protected:
  // Subclass hooks. enqueue_layers: d_in [batch, in] -> d_out [batch, out] on `stream`, every launch
  // followed by CUDA_CHECK_LAUNCH(); it may be captured into a graph, so it must not synchronize.
  virtual void enqueue_layers(int batch, cudaStream_t stream) = 0;
  virtual void prepare_layers() {}       // after the weights are on the device
  virtual void plan_layers(int batch) { (void)batch; }  // per batch size, before any enqueue of it
  virtual bool can_use_pdl() const { return false; }    // launches with programmatic dependent launch (pdl_)
  // Zero-copy: may the last layer write the mapped host output directly? (Our kernels write each element once.)
  virtual bool writes_mapped_output() const { return true; }

  // Layer li reads layer_input(li) and writes layer_output(li): d_in, ping-pong activations, d_out.
  const float* layer_input(int li) const;
  float* layer_output(int li) const;

  Precision precision_;
  std::vector<DeviceLayer> layers_;
  int max_batch_ = 0;
  int max_width_ = 0;
  int sms_ = 0;       // the device's multiprocessors
  bool pdl_ = false;  // can_use_pdl() on a device that has it (sm_90+): layer kernels after the first may
                      // start while the previous one ends (linear_device.cuh's pdl_wait)

 private:
  void enqueue_copy_kernel(const float* src, float* dst, std::size_t n, cudaStream_t s) const;
  void enqueue_h2d(int batch, cudaStream_t s);
  void enqueue_d2h(int batch, cudaStream_t s);
  void enqueue_forward(int batch, cudaStream_t s);  // H2D, layers, D2H
  void forward_registered(float* in, float* out, int batch);
  void check_batch(int batch) const;
  GraphExec capture(const std::function<void(cudaStream_t)>& enqueue);

  std::string kernel_;
  bool graph_;
  GpuIo io_;
  Stream stream_;
  DeviceBuffer<float> weights_;  // every layer's w and b, one allocation
  DeviceBuffer<std::uint8_t> flush_;  // evict_caches(): twice as large as the L2
  unsigned flushes_ = 0;
  DeviceBuffer<float> d_in_, d_out_, act_[2];
  PinnedBuffer<float> h_in_, h_out_;   // copy I/O: staging for the H2D and D2H copies
  MappedBuffer<float> m_in_, m_out_;   // zero-copy I/O: read and written by the kernels themselves
  float* host_in_ = nullptr;           // where forward() puts the input and finds the output (h_ or m_)
  float* host_out_ = nullptr;
  float* map_in_dev_ = nullptr;        // zero-copy: the device's addresses of m_in_ and m_out_
  float* map_out_dev_ = nullptr;
  float* dev_out_ = nullptr;           // what the last layer writes: d_out_, or map_out_dev_
  float* io_in_ = nullptr;             // mapped I/O: where the input is read and the output written (the
  float* io_out_ = nullptr;            // device's addresses of m_in_/m_out_, or of the caller's registered buffers)
  std::map<int, GraphExec> graphs_;          // by batch size: H2D, layers, D2H
  std::map<int, GraphExec> compute_graphs_;  // by batch size: layers only (device-only timer)
  std::map<std::tuple<int, float*, float*>, GraphExec> registered_graphs_;  // by batch size, input and output
  long long own_buffer_forwards_ = 0;  // registered I/O: forwards given buffers not registered (config() says so)
  std::map<int, bool> planned_;
};

// The factories of kernels/mlp_kernels.cu and kernels/cublaslt_backend.cu.
std::unique_ptr<Backend> make_naive_backend(bool graph, GpuIo io);
std::unique_ptr<Backend> make_tiled_backend(bool graph, GpuIo io);
std::unique_ptr<Backend> make_gemv_backend(bool graph, GpuIo io);
std::unique_ptr<Backend> make_fused_backend(bool graph, GpuIo io);
std::unique_ptr<Backend> make_cublaslt_backend(bool graph, Precision precision, GpuIo io);

}  // namespace mlpbench::cuda
