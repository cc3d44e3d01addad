// The dynamic batcher between one generator and K workers, with Triton's rule: a free worker takes up to max_batch
// requests as soon as max_batch are queued or the oldest has waited max_queue_delay. Requests are the indexes
// 0..n-1 of a step's arrivals, in order, so the queue is the range [taken, issued): the generator publishes
// `issued` with one atomic store (no lock), workers decide and take under one mutex (as one scheduler would).
// A worker with nothing to take polls for worker_spin_us, then sleeps on a condition variable that the generator
// signals only when a sleeper could act: a request arrives at an empty queue (a new deadline) or fills a batch.
// Usage per step: reset(arrivals, start); the generator calls push() per arrival then close(); each worker calls
// take() until it returns an empty range; abort() (a failed worker) makes every take() return empty at once.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

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
    std::int64_t first = 0, count = 0;  // requests [first, first + count); count 0: nothing more (closed and drained, or aborted)
    std::int64_t dispatched_ns = 0;     // when it was taken, ns from the step's start
  };

  Batcher(int max_batch, double max_queue_delay_us, double worker_spin_us);

  // A new step: `arrival_ns` (scheduled, ns from `start`) outlives the step.
  void reset(const std::int64_t* arrival_ns, ServeClock::time_point start);

  // Generator: request issued() has arrived. Returns the requests it found waiting (not taken), itself not counted.
  std::int64_t push();
  // Generator: no more pushes; workers take what is left under the same rule, then get an empty take.
  void close();
  // Any thread: every take() returns empty from now on (what is queued stays untaken).
  void abort();

  // Worker: blocks until a batch is ready (Triton's rule above) and takes it.
  Take take();

  std::int64_t issued() const { return issued_.load(std::memory_order_acquire); }
  std::int64_t taken() const { return taken_.load(std::memory_order_acquire); }
  bool aborted() const { return aborted_.load(std::memory_order_acquire); }

 private:
  // Under the lock: the batch to take now, if one is ready (count 0 otherwise); `deadline_ns` gets when the oldest's
  // delay runs out (-1: the queue is empty).
  Take ready(std::int64_t issued, std::int64_t& deadline_ns);
  // Waits (spinning while `spin_until_ns` is ahead, then sleeping) until a push, close or abort, or `deadline_ns`.
  void wait(std::unique_lock<std::mutex>& lock, std::int64_t issued, std::int64_t deadline_ns, std::int64_t spin_until_ns);
  bool changed(std::int64_t issued) const;

  const std::int64_t max_batch_;
  const std::int64_t delay_ns_;
  const std::int64_t spin_ns_;
  const std::int64_t* arrival_ns_ = nullptr;
  ServeClock::time_point start_;
  std::atomic<std::int64_t> issued_{0};
  std::atomic<std::int64_t> taken_{0};  // written under mu_
  std::atomic<bool> closed_{false};
  std::atomic<bool> aborted_{false};
  std::atomic<int> sleepers_{0};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace mlpbench
