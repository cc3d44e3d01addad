// See serve_workers.hpp.
#include "mlpbench/serve_workers.hpp"

#include <algorithm>
#include <cstring>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "mlpbench/model.hpp"

namespace mlpbench {
namespace {

constexpr int kPoolRows = 64;  // distinct input rows the requests cycle through

// This thread's timer slack (Linux: how late the kernel may wake a sleeper, 50 us by default) set to `ns`, where it
// can be. 1 ns halves a sleep's overshoot on a VM (~70 to ~20 us at the median).
void set_timer_slack(unsigned long ns) {
#ifdef __linux__
  (void)prctl(PR_SET_TIMERSLACK, ns, 0, 0, 0);
#else
  (void)ns;
#endif
}

std::string exception_text(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return x.what();
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace

LiveServer::LiveServer(std::vector<Backend*> backends, int in_width, int out_width, const ServeConfig& config, const std::atomic<bool>* stop)
    : config_(config),
      in_(in_width),
      stop_(stop),
      rows_(make_seeded_input(kPoolRows, in_width, config.seed)),
      workers_(backends.size()),
      batcher_(config.max_batch, config.max_queue_delay_us, config.worker_spin_us) {
  if (backends.empty() || static_cast<int>(backends.size()) != config.workers) {
    throw InputError("serve: " + std::to_string(backends.size()) + " backends for --workers " + std::to_string(config.workers));
  }
  for (std::size_t k = 0; k < backends.size(); ++k) {
    workers_[k].backend = backends[k];
    workers_[k].x.assign(static_cast<std::size_t>(config.max_batch) * static_cast<std::size_t>(in_width), 0.0f);
    workers_[k].y.assign(static_cast<std::size_t>(config.max_batch) * static_cast<std::size_t>(out_width), 0.0f);
  }
  for (std::size_t k = 0; k < workers_.size(); ++k) workers_[k].thread = std::thread([this, k] { worker_main(static_cast<int>(k)); });
}

LiveServer::~LiveServer() {
  {
    std::lock_guard<std::mutex> g(step_mu_);
    quit_ = true;
  }
  step_cv_.notify_all();
  for (Worker& w : workers_) w.thread.join();
}

void LiveServer::worker_main(int k) {
  set_timer_slack(1);  // its own thread: wake-ups at a deadline as close to it as the kernel can
  int seen = 0;
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(step_mu_);
      step_cv_.wait(lock, [&] { return quit_ || generation_ != seen; });
      if (quit_) return;
      seen = generation_;
    }
    serve(workers_[static_cast<std::size_t>(k)], k);
    {
      std::lock_guard<std::mutex> g(step_mu_);
      ++done_;
    }
    step_cv_.notify_all();
  }
}

// x [count, in] <- the requests' rows; forward; one slot records the batch. A throw aborts the batcher.
void LiveServer::serve(Worker& w, int k) {
  const std::size_t in = static_cast<std::size_t>(in_);
  for (;;) {
    const Batcher::Take t = batcher_.take();
    if (t.count == 0) return;
    for (std::int64_t j = 0; j < t.count; ++j) {
      const float* row = rows_.data() + static_cast<std::size_t>((t.first + j) % kPoolRows) * in;
      std::memcpy(w.x.data() + static_cast<std::size_t>(j) * in, row, in * sizeof(float));
    }
    try {
      w.backend->forward(w.x.data(), w.y.data(), static_cast<int>(t.count));
    } catch (...) {
      w.error = std::current_exception();
      w.failed += t.count;
      batcher_.abort();
      return;
    }
    const std::int64_t done = ns_since(start_);
    slots_[static_cast<std::size_t>(next_slot_.fetch_add(1, std::memory_order_relaxed))] = {t.first, t.count, t.dispatched_ns, done, k};
    completed_.fetch_add(t.count, std::memory_order_release);
  }
}

// After drain_limit_s / 10 (at most 0.1 s) in: the waiting requests would take longer than drain_limit_s to clear at
// the rate completed so far (and are more than two full batches a worker).
bool LiveServer::backlog_too_long(std::int64_t issued) const {
  const double elapsed = static_cast<double>(ns_since(start_)) * 1e-9;
  if (elapsed < std::min(0.1, config_.drain_limit_s / 10)) return false;
  const std::int64_t completed = completed_.load(std::memory_order_acquire);
  const double backlog = static_cast<double>(issued - completed);
  const double floor = 2.0 * config_.workers * config_.max_batch;
  return backlog > floor && backlog > static_cast<double>(completed) / elapsed * config_.drain_limit_s;
}

// The caller's thread until every worker is done, a look each millisecond while arrivals remain: a stop or an
// overload ends them there.
void LiveServer::watch_step() {
  std::unique_lock<std::mutex> lock(step_mu_);
  bool cut = false;
  while (!step_cv_.wait_for(lock, std::chrono::milliseconds(1), [&] { return done_ == static_cast<int>(workers_.size()); })) {
    if (cut || batcher_.arrived_by(ns_since(start_)) >= batcher_.end()) continue;  // every arrival in: the step drains
    if (stop_ && stop_->load(std::memory_order_relaxed)) {
      trace_.interrupted = cut = true;
    } else if (backlog_too_long(batcher_.arrived_by(ns_since(start_)))) {
      trace_.overloaded = cut = true;
    }
    if (cut) batcher_.cut();
  }
}

// The workers' batches into the trace, in dispatch order; a worker's error thrown as ServeFailure.
void LiveServer::collect(std::int64_t issued) {
  const std::int64_t batches = next_slot_.load();
  trace_.batches.assign(slots_.begin(), slots_.begin() + batches);
  std::sort(trace_.batches.begin(), trace_.batches.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  const std::int64_t completed = completed_.load();
  std::int64_t failed = 0;
  std::string why;
  for (std::size_t k = 0; k < workers_.size(); ++k) {
    failed += workers_[k].failed;
    if (workers_[k].error && why.empty()) {
      why = "worker " + std::to_string(k) + " (" + workers_[k].backend->name() + ") failed: " + exception_text(workers_[k].error);
    }
  }
  const std::int64_t abandoned = issued - completed - failed;
  if (!why.empty()) {
    throw ServeFailure("serve: " + why + "; of " + std::to_string(issued) + " requests issued, " + std::to_string(completed) + " completed, " +
                           std::to_string(failed) + " failed in the batch that threw, " + std::to_string(abandoned) + " left in the queue",
                       issued, completed, failed, abandoned);
  }
  if (completed != issued) {
    throw RuntimeError("serve: " + std::to_string(issued) + " requests issued but " + std::to_string(completed) + " completed (a bug in the server)");
  }
}

StepResult LiveServer::step(double qps) {
  arrivals_ = poisson_arrivals_ns(qps, config_.min_requests, config_.min_step_s, config_.seed);
  trace_ = StepTrace{};
  slots_.assign(arrivals_.size(), StepTrace::Batch{});
  next_slot_.store(0);
  completed_.store(0);
  for (Worker& w : workers_) w.error = nullptr, w.failed = 0;
  start_ = ServeClock::now();
  batcher_.reset(arrivals_.data(), static_cast<std::int64_t>(arrivals_.size()), start_);
  {
    std::lock_guard<std::mutex> g(step_mu_);
    ++generation_;
    done_ = 0;
  }
  step_cv_.notify_all();
  watch_step();
  const std::int64_t issued = batcher_.end();
  trace_.arrival_ns.assign(arrivals_.begin(), arrivals_.begin() + issued);
  trace_.lag_ns = batcher_.lag_ns();
  collect(issued);
  set_queue_depths(trace_);
  return summarize_step(trace_, qps, config_);
}

}  // namespace mlpbench
