// `mlpbench serve` as a library call (issue 22): for each device, the workers built, checked and planned, their
// per-batch-size latencies measured (the simulator's service table), the live search (serve_workers) and the
// simulated one (serve_sim) beside it, gathered into Results::serving; and the answer lines.
//   default_cpu_shapes   the K x T configurations tried by default: 1 x all cores and all cores x 1
//   PinnedBackend        a CPU backend whose OpenMP team, on whichever thread calls forward, runs on its own cores
//   measure_service      a backend's median forward at batch sizes 1, 2, 4, ..., max_batch (the measure core)
//   serve_cpu / serve_gpu  one device's runs (live and simulated, or simulated from the reference without a GPU)
//   run_serving          all that `mlpbench serve` does; the CLI parses options into a ServeRunConfig and prints
// Usage: Results r = run_serving(model, config, GpuSide{make_gpu_backends, nullptr}, &stop); print serving_lines(r)
// (report.hpp: the answer lines).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mlpbench/backend.hpp"
#include "mlpbench/results.hpp"
#include "mlpbench/runner.hpp"
#include "mlpbench/serve_load.hpp"

namespace mlpbench {

// K workers of T threads each.
struct ServeShape {
  int workers = 1, threads = 1;
  bool operator==(const ServeShape& o) const { return workers == o.workers && threads == o.threads; }
};
std::string shape_text(const ServeShape& s);  // "workers=2,threads=1"

// 1 x cores and cores x 1 (one shape when cores is 1).
std::vector<ServeShape> default_cpu_shapes(int cores);

struct ServeRunConfig {
  ServeConfig serve;                    // the bound, the batcher, the steps (workers and threads: per shape, below)
  std::string device = "all";           // "cpu", "gpu" or "all"
  std::vector<ServeShape> cpu_shapes;   // the CPU configurations to serve; empty: default_cpu_shapes(available_cores())
  int gpu_streams = 1;                  // GPU workers, one stream (and one backend) each
  bool quick = false;                   // shorter measurement of the per-batch latencies
  std::string reference_file;           // the GPU column without a GPU; "": default_reference_file()
  std::string command;                  // the command line, recorded in the results
  std::optional<Prices> prices;         // for the cheaper line
  std::function<void(const std::string& line, bool lasting)> log;  // progress (may be empty)
};

// Throws InputError with one line: a shape above the cores (validate_serve_config), streams < 1 or above the cores, a
// max batch above kMaxBatch.
void validate_serve_run(const ServeRunConfig& config, int cores);

// Batch sizes 1, 2, 4, ... up to max_batch, max_batch itself last.
std::vector<int> service_batch_sizes(int max_batch);

// A CPU backend whose OpenMP team runs on process_cpus()[first_cpu, first_cpu + threads): pinned on the first forward
// from each calling thread (OpenMP gives every thread that opens a parallel region a team of its own, so the team a
// worker's thread runs is not the one prepare() pinned). Everything else is the wrapped backend's.
class PinnedBackend final : public Backend {
 public:
  PinnedBackend(std::unique_ptr<Backend> inner, int first_cpu);
  std::string name() const override { return inner_->name(); }
  Device device() const override { return inner_->device(); }
  std::string config() const override;  // the inner config with ",cpus=A-B"
  int threads() const override { return inner_->threads(); }
  void prepare(const Model& model, int max_batch) override { inner_->prepare(model, max_batch); }
  void plan(int batch) override { inner_->plan(batch); }
  void evict_caches() override { inner_->evict_caches(); }
  void forward(const float* x, float* y, int batch) override;
  int first_cpu() const { return first_cpu_; }

 private:
  std::unique_ptr<Backend> inner_;
  int first_cpu_;
  std::atomic<unsigned long long> pinned_for_{0};  // hash of the thread whose team was pinned last (0: none)
};

// The calling thread's affinity: every CPU of the process but [first, first + count) when that leaves any, else every
// CPU of the process.
void keep_off_cpus(int first, int count);

// The median forward of `backend` (prepared for at least the largest) at each of `batch_sizes`, in ms, in interleaved
// rounds (measure_rounds) with run's budget (quick or not): (batch, ms) pairs for ServiceTable.
std::vector<std::pair<int, double>> measure_service(Backend& backend, int in_width, int out_width, const std::vector<int>& batch_sizes, bool quick);

// Everything `mlpbench serve` does: the model checked once per CPU backend kind, each CPU shape served live and
// simulated from its own per-batch latencies; the GPU served live on `gpu` backends where one is usable (and
// simulated beside it), else simulated from the reference file's GPU column. `stop` (a SIGINT) ends the current step
// (it drains: every issued request completes) and the rest; the Results then say interrupted (serving's last search).
// Throws InputError or RuntimeError (a backend failed its check, a worker threw: ServeFailure).
Results run_serving(const Model& model, const ServeRunConfig& config, const GpuSide& gpu, const std::atomic<bool>* stop = nullptr);

// Whether any search of the results was interrupted.
bool serving_interrupted(const Results& results);

}  // namespace mlpbench
