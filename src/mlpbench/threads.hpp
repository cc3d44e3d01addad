// What the CPU backends share: the cores this process may use (read once, at start-up, before any thread
// is pinned), pinning OpenMP thread t to the t-th of them, and OmpBackend: one parallel region per forward
// over ping-pong activation buffers, a barrier between layers; subclasses compute their share of a layer.
#pragma once

#include <string>
#include <vector>

#include "mlpbench/backend.hpp"

namespace mlpbench {

// The CPUs in this process's affinity mask when it started.
const std::vector<int>& process_cpus();
// How many: the cores this process may run on (at least 1).
int available_cores();

// Pins OpenMP thread t of a `threads`-wide team (the calling thread's) to process_cpus()[first_cpu + t], unless the
// user chose a binding (OMP_PROC_BIND or OMP_PLACES set) or the team would run past the last CPU (first_cpu +
// threads above the CPUs). Returns whether it pinned. `serve` gives each of its K workers its own range (first_cpu =
// k x T), so that K teams do not share cores.
bool pin_omp_threads(int threads, int first_cpu = 0);

// The buffer every CPU backend's evict_caches() reads and writes, one float per 64-byte line: twice every
// last-level cache of the machine together, allocated on first use and shared by the process.
std::vector<float>& cpu_eviction_buffer();

class OmpBackend : public Backend {
 public:
  explicit OmpBackend(int threads);  // threads <= 0: every core (resolve_threads)
  Device device() const override { return Device::CPU; }
  int threads() const override { return threads_; }
  std::string config() const override { return "threads=" + std::to_string(threads_) + (pinned_ ? ",pinned" : ""); }
  // x [batch, in] -> y [batch, out]: every thread runs run_layer for each layer, a barrier between layers.
  void forward(const float* x, float* y, int batch) final;
  // Each thread of the team (pinned to its core) reads and writes its share of one buffer twice the size of
  // every last-level cache of the machine together, shared by every CPU backend of the process and allocated
  // on first use.
  void evict_caches() final;

 protected:
  // The subclass's prepare() checks and packs its weights, then calls this: buffers, pinning.
  void prepare_threads(const Model& model, int max_batch);
  // Thread t of nt computes its share of layer li: in [batch, layer in] -> out [batch, layer out].
  virtual void run_layer(int li, const float* in, float* out, int batch, bool relu, int t, int nt) const = 0;

  int threads_;

 private:
  bool pinned_ = false;
  int max_batch_ = 0;
  int layers_ = 0;
  std::vector<float> buffers_[2];  // ping-pong activations [max_batch, max_width]
};

}  // namespace mlpbench
