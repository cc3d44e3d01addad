// The live server: a step's Poisson arrivals are a schedule on the steady clock that K worker threads read through the
// Batcher (a request arrives when the clock passes its time; no generator thread competes for the cores). The workers,
// started once and kept across steps, each with its own Backend (backends are single-caller), take batches, copy the
// requests' input rows (a seeded pool) into their batch buffer, call forward and stamp the completion. The caller's
// thread watches the step every millisecond: a stop or a backlog that could not drain ends the arrivals there. Nothing
// is dropped: a step ends when every request that arrived has completed. A backend that throws ends the step: the
// arrivals end, the other workers finish the batch in hand, and step() throws ServeFailure, accounting for every
// request issued.
// Usage: LiveServer server(backends, in, out, config, &stop); run_serve([&](double q) { return server.step(q); }, ...).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "mlpbench/backend.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/serve_batcher.hpp"
#include "mlpbench/serve_load.hpp"

namespace mlpbench {

// A step that a backend ended (exit 3): issued = completed + failed (in the batches that threw) + abandoned (queued,
// never taken). No result of the step is reported.
struct ServeFailure : RuntimeError {
  ServeFailure(const std::string& what, std::int64_t issued, std::int64_t completed, std::int64_t failed, std::int64_t abandoned)
      : RuntimeError(what), issued(issued), completed(completed), failed(failed), abandoned(abandoned) {}
  std::int64_t issued, completed, failed, abandoned;
};

class LiveServer {
 public:
  // `backends`: one per worker (config.workers of them), each prepared for config.max_batch rows, x [batch, in_width]
  // -> y [batch, out_width], and planned (Backend::plan) at every batch size 1..max_batch that should not plan inside a
  // step (a GPU backend captures a graph on first use); they outlive the server. A CPU backend's forward runs on its
  // worker's thread, not the thread that prepared it. `stop`, when given, is read every millisecond of a step (a SIGINT
  // handler sets it): the arrivals end there, the step drains what arrived and is marked interrupted.
  LiveServer(std::vector<Backend*> backends, int in_width, int out_width, const ServeConfig& config, const std::atomic<bool>* stop = nullptr);
  ~LiveServer();
  LiveServer(const LiveServer&) = delete;
  LiveServer& operator=(const LiveServer&) = delete;

  // One step at `qps` (poisson_arrivals_ns with the config's seed, min requests and min step). Throws ServeFailure.
  StepResult step(double qps);
  // The last step's record (arrivals as issued, batches in dispatch order).
  const StepTrace& trace() const { return trace_; }

 private:
  struct Worker {
    Backend* backend = nullptr;
    std::vector<float> x, y;  // [max_batch, in], [max_batch, out]
    std::exception_ptr error;
    std::int64_t failed = 0;  // requests in the batch that threw
    std::thread thread;
  };
  void worker_main(int k);
  void serve(Worker& w, int k);
  void watch_step();
  bool backlog_too_long(std::int64_t issued) const;
  void collect(std::int64_t issued);

  const ServeConfig config_;
  const int in_;
  const std::atomic<bool>* stop_;
  std::vector<float> rows_;  // the input pool [kPoolRows, in]: request i reads row i % kPoolRows
  std::vector<Worker> workers_;
  Batcher batcher_;
  std::vector<std::int64_t> arrivals_;
  ServeClock::time_point start_;
  std::vector<StepTrace::Batch> slots_;  // one per batch, claimed with next_slot_ (no allocation while serving)
  std::atomic<std::int64_t> next_slot_{0};
  std::atomic<std::int64_t> completed_{0};
  StepTrace trace_;
  std::mutex step_mu_;
  std::condition_variable step_cv_;
  int generation_ = 0, done_ = 0;
  bool quit_ = false;
};

}  // namespace mlpbench
