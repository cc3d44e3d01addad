// The dynamic batcher between a step's arrival schedule and K workers, with Triton's rule: a free worker takes up to
// max_batch requests as soon as max_batch have arrived or the oldest has waited max_queue_delay. Requests are the
// indexes 0..n-1 of a step's scheduled arrivals, and request i has arrived once the steady clock passes its time: the
// workers read the schedule themselves, so no generator thread competes with them for the cores (on a 2-core VM a
// generator thread polling the clock cut the live best rate several-fold, even from the other vCPU). The queue is the
// range [taken, arrived); workers decide and take under one mutex (as one scheduler would). Of the free workers one
// watches the clock (leader/followers): it sleeps until worker_spin_us before the next event (an arrival, or the
// oldest's deadline), polls the clock the rest of the way, takes the batch and wakes a follower to watch next; the
// others sleep until woken. A worker back from a forward takes the watch over (its caches are the warmest: at a low
// rate one worker serves nearly every request). How late the watcher saw each event it waited for is the issue lag.
// Usage per step: reset(arrivals, n, start); each worker calls take() until it returns an empty range (every request
// up to the end taken); cut() ends the arrivals at those arrived by now (a stop, an overload); abort() (a failed
// worker) cuts them too and makes every take() return empty at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <vector>

namespace mlpbench {

using ServeClock = std::chrono::steady_clock;

// ns since `start` on the steady clock.
inline std::int64_t ns_since(ServeClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(ServeClock::now() - start).count();
}

// One spin-wait step: the CPU's pause hint where it has one.
void cpu_relax();

class Batcher {
 public:
  struct Take {
    std::int64_t first = 0, count = 0;  // requests [first, first + count); count 0: nothing more (all taken, or aborted)
    std::int64_t dispatched_ns = 0;     // when it was taken, ns from the step's start
  };

  Batcher(int max_batch, double max_queue_delay_us, double worker_spin_us);

  // A new step: `n` arrivals at `arrival_ns` (scheduled, ns from `start`, non-decreasing), which outlive the step.
  void reset(const std::int64_t* arrival_ns, std::int64_t n, ServeClock::time_point start);
  // Any thread: no arrivals after those that have arrived by now; returns how many that is (the step's issued).
  std::int64_t cut();
  // Any thread: cut(), and every take() returns empty from now on (what is queued stays untaken).
  void abort();

  // Worker: blocks until a batch is ready (Triton's rule above) and takes it.
  Take take();

  // Requests that have arrived by `now_ns` (at most the end): what a generator would have issued by then.
  std::int64_t arrived_by(std::int64_t now_ns) const;
  std::int64_t end() const { return end_.load(std::memory_order_acquire); }
  // After the step: how late the watching worker saw each event it waited for, ns (at most 2n + 16 kept).
  const std::vector<std::int64_t>& lag_ns() const { return lag_ns_; }

 private:
  // Under the lock: arrived_ counts the arrivals up to `now`.
  void advance(std::int64_t now);
  // Under the lock: the arrivals end at those in by now; the followers wake to see it.
  void end_here();
  // Under the lock: advance(now); the batch to take now if one is ready (count 0 otherwise); `event_ns`
  // gets the next time that could make one ready (-1: none, every request taken).
  Take ready(std::int64_t now, std::int64_t& event_ns);
  // The watcher: sleeps (the lock released) until spin_ns_ before `event_ns`, or polls the clock up to it; returns
  // early on cut() or abort().
  void watch(std::unique_lock<std::mutex>& lock, std::int64_t event_ns);

  const std::int64_t max_batch_;
  const std::int64_t delay_ns_;
  const std::int64_t spin_ns_;
  const std::int64_t* arrival_ns_ = nullptr;
  ServeClock::time_point start_;
  std::int64_t arrived_ = 0, taken_ = 0;  // under mu_
  bool watched_ = false;                  // under mu_: a worker is watching the clock
  std::atomic<std::int64_t> ticket_{0};   // written under mu_: the watcher's (a worker back from a forward takes the watch)
  std::atomic<std::int64_t> end_{0};      // written under mu_
  std::atomic<bool> aborted_{false};      // written under mu_
  std::vector<std::int64_t> lag_ns_;      // under mu_, reserved at reset
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace mlpbench
