// See serve_batcher.hpp.
#include "mlpbench/serve_batcher.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

namespace mlpbench {

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#else
  std::this_thread::yield();
#endif
}

Batcher::Batcher(int max_batch, double max_queue_delay_us, double worker_spin_us)
    : max_batch_(max_batch), delay_ns_(std::llround(max_queue_delay_us * 1e3)), spin_ns_(std::llround(worker_spin_us * 1e3)) {}

void Batcher::reset(const std::int64_t* arrival_ns, ServeClock::time_point start) {
  arrival_ns_ = arrival_ns;
  start_ = start;
  issued_.store(0);
  taken_.store(0);
  closed_.store(false);
  aborted_.store(false);
}

std::int64_t Batcher::push() {
  const std::int64_t i = issued_.load(std::memory_order_relaxed);
  issued_.store(i + 1);  // seq_cst: against a worker's sleepers_ increment then issued_ check (no lost wake-up)
  // Read after the store: a sleeper we see has published its view of taken_, so `waiting` is exact for it.
  const bool sleeping = sleepers_.load() > 0;
  const std::int64_t waiting = i + 1 - taken_.load();  // itself included; 0 when a worker took it already
  if (sleeping && (waiting == 1 || waiting >= max_batch_)) {
    { std::lock_guard<std::mutex> g(mu_); }  // a sleeper between its check and its wait holds mu_: wait for it to sleep
    cv_.notify_one();
  }
  return std::max<std::int64_t>(0, waiting - 1);
}

void Batcher::close() {
  closed_.store(true);
  { std::lock_guard<std::mutex> g(mu_); }
  cv_.notify_all();
}

void Batcher::abort() {
  aborted_.store(true);
  { std::lock_guard<std::mutex> g(mu_); }
  cv_.notify_all();
}

bool Batcher::changed(std::int64_t issued) const { return issued_.load() != issued || closed_.load() || aborted_.load(); }

Batcher::Take Batcher::ready(std::int64_t issued, std::int64_t& deadline_ns) {
  const std::int64_t first = taken_.load(std::memory_order_relaxed);
  const std::int64_t waiting = issued - first;
  deadline_ns = -1;
  if (waiting <= 0) return {};
  deadline_ns = arrival_ns_[first] + delay_ns_;
  const std::int64_t now = ns_since(start_);
  if (waiting < max_batch_ && now < deadline_ns) return {};
  const std::int64_t count = std::min(waiting, max_batch_);
  taken_.store(first + count, std::memory_order_release);
  return {first, count, now};
}

void Batcher::wait(std::unique_lock<std::mutex>& lock, std::int64_t issued, std::int64_t deadline_ns, std::int64_t spin_until_ns) {
  const std::int64_t now = ns_since(start_);
  const bool deadline_near = deadline_ns >= 0 && deadline_ns - now <= spin_ns_;
  if (now < spin_until_ns || deadline_near) {  // poll without the lock: the generator never takes it to push
    const std::int64_t until = deadline_ns < 0 ? spin_until_ns : deadline_near ? deadline_ns : std::min(deadline_ns, spin_until_ns);
    lock.unlock();
    while (!changed(issued) && ns_since(start_) < until) cpu_relax();
    lock.lock();
    return;
  }
  sleepers_.fetch_add(1);  // seq_cst, then check: a push after this sees a sleeper and signals
  if (!changed(issued)) {
    if (deadline_ns < 0) cv_.wait(lock);
    else cv_.wait_until(lock, start_ + std::chrono::nanoseconds(deadline_ns - spin_ns_));  // wake early, poll the rest
  }
  sleepers_.fetch_sub(1);
}

Batcher::Take Batcher::take() {
  std::unique_lock<std::mutex> lock(mu_);
  const std::int64_t spin_until = ns_since(start_) + spin_ns_;
  for (;;) {
    if (aborted_.load()) return {};
    const std::int64_t issued = issued_.load();
    std::int64_t deadline = -1;
    const Take t = ready(issued, deadline);
    if (t.count > 0) return t;
    if (deadline < 0 && closed_.load() && issued_.load() == issued) return {};  // closed and drained
    wait(lock, issued, deadline, spin_until);
  }
}

}  // namespace mlpbench
