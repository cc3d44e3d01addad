// The serving core (serve_load, serve_batcher, serve_workers) for correctness, not speed: the options, the Poisson
// arrivals, the search on a step of known p99, and the live server on fake backends whose service time per batch size
// is known (spun on the clock): the batcher's rule, nothing dropped on any path (a stop, a backend that throws), and a
// stall that the p99 cannot hide (no coordinated omission). Steps are short (~0.1 s) and service times microseconds.
// Timing bounds on the live server leave room for a shared 2-core VM (a thread can lose its core for milliseconds);
// tests/serve_sim_test.cpp checks the same rule exactly on the simulator.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <memory>
#include <thread>

#include "mlpbench/serve_load.hpp"
#include "mlpbench/serve_workers.hpp"
#include "test_util.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;

namespace {

// What a fake backend does: each forward spins base_us + per_row_us * batch on the steady clock, and may stall once,
// throw once, or set a stop flag once, at a given forward (counted from 0).
struct FakeService {
  double base_us = 20, per_row_us = 1;
  bool sleeps = false;  // sleep through the service time instead of spinning (workers beyond the cores don't compete)
  int stall_at = -1;
  double stall_ms = 0;
  int throw_at = -1;
  int stop_at = -1;
  std::atomic<bool>* stop = nullptr;
  double service_us(int batch) const { return base_us + per_row_us * batch; }
};

class ServiceFake final : public Backend {
 public:
  explicit ServiceFake(FakeService f) : f_(f) {}
  std::string name() const override { return "fake-service"; }
  Device device() const override { return Device::CPU; }
  void prepare(const Model&, int max_batch) override { max_batch_ = max_batch; }
  void evict_caches() override {}
  void forward(const float* x, float* y, int batch) override {
    const int call = calls++;
    if (batch < 1 || (max_batch_ > 0 && batch > max_batch_)) bad_batch = true;
    if (call == f_.throw_at) throw RuntimeError("fake: injected failure");
    if (call == f_.stop_at && f_.stop) f_.stop->store(true);
    double us = f_.service_us(batch);
    if (call == f_.stall_at) us += f_.stall_ms * 1e3;
    const auto end = ServeClock::now() + std::chrono::nanoseconds(static_cast<std::int64_t>(us * 1e3));
    if (f_.sleeps) std::this_thread::sleep_until(end);
    while (ServeClock::now() < end) cpu_relax();
    y[0] = x[0];
  }
  int calls = 0;
  bool bad_batch = false;

 private:
  FakeService f_;
  int max_batch_ = 0;
};

constexpr int kIn = 16, kOut = 4;

ServeConfig short_steps() {
  ServeConfig c;
  c.min_requests = 1000;
  c.min_step_s = 0.05;
  c.max_batch = 8;
  c.max_queue_delay_us = 200;
  return c;
}

// K fakes, prepared for the config's max batch.
std::vector<std::unique_ptr<ServiceFake>> fakes(const ServeConfig& c, FakeService f) {
  std::vector<std::unique_ptr<ServiceFake>> out;
  for (int k = 0; k < c.workers; ++k) {
    out.push_back(std::make_unique<ServiceFake>(f));
    out.back()->prepare(make_seeded_model({kIn, kOut}, 1), c.max_batch);
  }
  return out;
}
std::vector<Backend*> raw(const std::vector<std::unique_ptr<ServiceFake>>& v) {
  std::vector<Backend*> out;
  for (const auto& b : v) out.push_back(b.get());
  return out;
}

// Every issued request in exactly one batch: batches tile [0, issued) in order.
void expect_every_request_once(const StepTrace& t) {
  std::int64_t next = 0;
  for (const auto& b : t.batches) {
    EXPECT_EQ(b.first, next);
    next = b.first + b.count;
  }
  EXPECT_EQ(next, static_cast<std::int64_t>(t.arrival_ns.size()));
}

}  // namespace

TEST(ServeConfig, BadOptionsThrowOneLineNamingTheOption) {
  const auto msg = [](auto change, int cores = 2) {
    ServeConfig c;
    change(c);
    return mlpbench::testing::input_error([&] { validate_serve_config(c, cores); });
  };
  const std::vector<std::pair<std::string, std::string>> cases = {
      {msg([](ServeConfig& c) { c.qps = {100, 0}; }), "--qps"},
      {msg([](ServeConfig& c) { c.qps = {-5}; }), "--qps"},
      {msg([](ServeConfig& c) { c.slo_ms = 0; }), "--slo-ms"},
      {msg([](ServeConfig& c) { c.slo_ms = -1; }), "--slo-ms"},
      {msg([](ServeConfig& c) { c.max_batch = 0; }), "--max-batch"},
      {msg([](ServeConfig& c) { c.workers = 2, c.threads = 2; }), "--workers x --threads is 2 x 2 = 4 threads, above the 2 cores"},
      {msg([](ServeConfig& c) { c.workers = 0; }), "--workers"},
      {msg([](ServeConfig& c) { c.max_queue_delay_us = -1; }), "--max-queue-delay-us"},
      {msg([](ServeConfig& c) { c.drain_limit_s = 0; }), "--drain-limit-s"},
  };
  for (const auto& [m, option] : cases) {
    EXPECT_THAT(m, HasSubstr(option));
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
  ServeConfig ok;
  ok.workers = 2;
  EXPECT_NO_THROW(validate_serve_config(ok, 2));
}

// One-sample Kolmogorov-Smirnov against Exp(qps): D_n below the 1% critical value 1.628 / sqrt(n) (n large).
TEST(ServeArrivals, GapsPassKolmogorovSmirnovAgainstTheExponentialAtTheRate) {
  for (std::uint64_t seed : {1, 2, 7}) {
    const double qps = 5000;
    const auto at = poisson_arrivals_ns(qps, 20000, 0, seed);
    ASSERT_EQ(at.size(), 20000u);
    std::vector<double> gaps(at.size());
    for (std::size_t i = 0; i < at.size(); ++i) gaps[i] = static_cast<double>(at[i] - (i ? at[i - 1] : 0)) * 1e-9;
    std::sort(gaps.begin(), gaps.end());
    double d = 0;
    const double n = static_cast<double>(gaps.size());
    for (std::size_t i = 0; i < gaps.size(); ++i) {
      const double f = 1 - std::exp(-qps * gaps[i]);
      d = std::max({d, (static_cast<double>(i) + 1) / n - f, f - static_cast<double>(i) / n});
    }
    EXPECT_LT(d, 1.628 / std::sqrt(n)) << "seed " << seed;
    EXPECT_NEAR(static_cast<double>(at.back()) * 1e-9, n / qps, 0.03 * n / qps) << "seed " << seed;
  }
  EXPECT_EQ(poisson_arrivals_ns(1000, 10, 0, 3), poisson_arrivals_ns(1000, 10, 0, 3));
  EXPECT_NE(poisson_arrivals_ns(1000, 10, 0, 3), poisson_arrivals_ns(1000, 10, 0, 4));
  // At least min_requests, and spanning at least min_step_s.
  const auto span = poisson_arrivals_ns(1000, 10, 0.5, 1);
  EXPECT_GE(span.back(), 500'000'000);
  EXPECT_GT(span.size(), 400u);
}

namespace {

// A step of known p99: 0.1 ms / (1 - q / 10000) below 10000 requests/s, overloaded from there.
StepResult known_step(double q) {
  StepResult r;
  r.offered_qps = r.achieved_qps = q;
  r.issued = r.completed = 100;
  r.overloaded = q >= 10000;
  r.p99_ms = r.overloaded ? 1e3 : 0.1 / (1 - q / 10000);
  return r;
}

}  // namespace

// p99 <= 1 ms holds below 9000 requests/s.
TEST(ServeSearch, DoublesThenBisectsToWithinTheTolerance) {
  ServeConfig c;
  c.search_start_qps = 1000;
  const SearchResult s = search_rate(known_step, c);
  EXPECT_TRUE(s.searched);
  EXPECT_FALSE(s.interrupted);
  ASSERT_GE(s.steps.size(), 5u);
  EXPECT_EQ(s.steps[0].offered_qps, 1000);
  EXPECT_EQ(s.steps[1].offered_qps, 2000);
  EXPECT_EQ(s.steps[3].offered_qps, 8000);
  EXPECT_EQ(s.steps[4].offered_qps, 16000);  // overloaded: the bracket closes
  EXPECT_LE(s.best_qps, 9000);
  EXPECT_GE(s.best_qps, 9000 / 1.05);
  double lowest_fail = 1e99;
  for (const StepResult& r : s.steps) {
    if (!r.meets(c.slo_ms)) lowest_fail = std::min(lowest_fail, r.offered_qps);
  }
  EXPECT_LE((lowest_fail - s.best_qps) / s.best_qps, c.search_tolerance);
}

TEST(ServeSearch, HalvesWhenTheStartFailsAndReportsNoneWhenNothingMeets) {
  ServeConfig c;
  c.search_start_qps = 40000;
  const SearchResult s = search_rate(known_step, c);
  EXPECT_EQ(s.steps[1].offered_qps, 20000);
  EXPECT_EQ(s.steps[2].offered_qps, 10000);
  EXPECT_GE(s.best_qps, 9000 / 1.05);
  EXPECT_LE(s.best_qps, 9000);
  c.slo_ms = 0.01;  // below every p99
  const SearchResult none = search_rate(known_step, c);
  EXPECT_EQ(none.best_qps, 0);
  EXPECT_EQ(none.steps.size(), 11u);  // 40000 down to 40000 / 1024
  c.search_floor_qps = 5000;  // a floor ends the halving sooner: 40000, 20000, 10000, 5000
  const SearchResult floored = search_rate(known_step, c);
  EXPECT_EQ(floored.best_qps, 0);
  ASSERT_EQ(floored.steps.size(), 4u);
  EXPECT_EQ(floored.steps.back().offered_qps, 5000);
}

TEST(ServeSearch, GivenRatesAreMeasuredInOrderAndAStopEndsEither) {
  ServeConfig c;
  c.qps = {5000, 12000, 8000};
  SearchResult s = run_serve(known_step, c);
  EXPECT_FALSE(s.searched);
  ASSERT_EQ(s.steps.size(), 3u);
  EXPECT_EQ(s.steps[1].offered_qps, 12000);
  EXPECT_EQ(s.best_qps, 8000);  // 12000 is overloaded
  std::atomic<bool> stop{false};
  int runs = 0;
  const StepFn stopping = [&](double q) {
    if (++runs == 2) stop = true;
    return known_step(q);
  };
  s = search_rate(stopping, ServeConfig{}, &stop);
  EXPECT_TRUE(s.interrupted);
  EXPECT_EQ(s.steps.size(), 2u);
}

// Triton's rule, on every batch: at most max_batch, and taken either full or once the oldest had waited the queue
// delay (exactly: the worker's own clock read decides). No request waits beyond the delay plus one service time of a
// full batch (plus the VM's scheduling slack) at this light load.
TEST(ServeLive, BatchesNeverExceedTheMaximumNorWaitBeyondTheDelayPlusOneService) {
  for (int workers : {1, 2}) {
    ServeConfig c = short_steps();
    c.workers = workers;
    const FakeService f{100, 5};
    auto backends = fakes(c, f);
    LiveServer server(raw(backends), kIn, kOut, c);
    const StepResult r = server.step(4000);
    const StepTrace& t = server.trace();
    EXPECT_EQ(r.issued, r.completed);
    expect_every_request_once(t);
    const std::int64_t delay_ns = 200'000;
    const double bound_ns = delay_ns + f.service_us(c.max_batch) * 1e3 + 10e6;  // 10 ms slack: a busy shared VM
    for (const auto& b : t.batches) {
      EXPECT_LE(b.count, c.max_batch);
      const std::int64_t oldest_wait = b.dispatched_ns - t.arrival_ns[static_cast<std::size_t>(b.first)];
      EXPECT_TRUE(b.count == c.max_batch || oldest_wait >= delay_ns) << "batch of " << b.count << " after " << oldest_wait << " ns";
      for (std::int64_t j = b.first; j < b.first + b.count; ++j) {
        EXPECT_LE(static_cast<double>(b.dispatched_ns - t.arrival_ns[static_cast<std::size_t>(j)]), bound_ns);
      }
    }
    EXPECT_GT(r.mean_batch, 1.0);  // the delay does batch requests at this rate
    for (const auto& b : backends) EXPECT_FALSE(b->bad_batch);
  }
}

TEST(ServeLive, StepRecordsRatesLatenciesAndQueue) {
  ServeConfig c = short_steps();
  auto backends = fakes(c, FakeService{});
  LiveServer server(raw(backends), kIn, kOut, c);
  const StepResult r = server.step(10000);
  EXPECT_EQ(r.offered_qps, 10000);
  EXPECT_GE(r.issued, 1000);
  EXPECT_EQ(r.issued, r.completed);
  EXPECT_FALSE(r.simulated);
  EXPECT_FALSE(r.overloaded);
  EXPECT_GT(r.achieved_qps, 5000);
  EXPECT_LE(r.p50_ms, r.p90_ms);
  EXPECT_LE(r.p90_ms, r.p99_ms);
  EXPECT_LE(r.p99_ms, r.p999_ms);
  EXPECT_LE(r.p999_ms, r.max_ms);
  EXPECT_GT(r.p50_ms, 0);
  EXPECT_LE(r.mean_wait_ms, r.mean_ms);
  EXPECT_GE(r.mean_batch, 1);
  EXPECT_LE(r.mean_batch, c.max_batch);
  EXPECT_GE(static_cast<double>(r.max_queue), r.mean_queue);
  // The server is reused: a second step on the same workers.
  const StepResult again = server.step(2000);
  EXPECT_EQ(again.issued, again.completed);
}

// A stop (as SIGINT's handler would set it) during a step: issuing ends, everything issued completes, the step says
// interrupted and never counts as meeting the bound; a search ends with it.
TEST(ServeLive, AStopDrainsWhatWasIssuedAndEndsTheSearch) {
  ServeConfig c = short_steps();
  std::atomic<bool> stop{false};
  c.search_start_qps = 10000;
  FakeService f;
  f.stop_at = 50, f.stop = &stop;
  auto backends = fakes(c, f);
  LiveServer server(raw(backends), kIn, kOut, c, &stop);
  const SearchResult s = search_rate([&](double q) { return server.step(q); }, c, &stop);
  EXPECT_TRUE(s.interrupted);
  ASSERT_EQ(s.steps.size(), 1u);
  const StepResult& r = s.steps[0];
  EXPECT_TRUE(r.interrupted);
  EXPECT_FALSE(r.meets(c.slo_ms));
  EXPECT_EQ(r.issued, r.completed);
  EXPECT_LT(r.issued, 1000);
  EXPECT_GE(r.issued, 50);
  EXPECT_EQ(s.best_qps, 0);
}

// A backend that throws: the step throws ServeFailure (a RuntimeError: exit 3) once every worker has stopped, and every
// issued request is accounted for: completed, failed in the batch that threw, or left in the queue.
TEST(ServeLive, ABackendThatThrowsEndsTheStepWithEveryRequestAccountedFor) {
  ServeConfig c = short_steps();
  c.workers = 2;
  // Batches of 200 us and more at 20000/s keep worker 0 busy often enough that worker 1 (the one that throws) serves
  // too: a worker back from a forward takes the watch, so at a light load one worker serves nearly everything.
  const FakeService service{200, 5};
  auto backends = fakes(c, service);
  FakeService bad = service;
  bad.throw_at = 5;
  backends[1] = std::make_unique<ServiceFake>(bad);
  LiveServer server(raw(backends), kIn, kOut, c);
  try {
    server.step(20000);
    FAIL() << "no ServeFailure";
  } catch (const ServeFailure& e) {
    EXPECT_THAT(e.what(), HasSubstr("worker 1 (fake-service) failed: fake: injected failure"));
    EXPECT_GE(e.failed, 1);
    EXPECT_LE(e.failed, c.max_batch);
    EXPECT_GT(e.completed, 0);
    EXPECT_EQ(e.issued, e.completed + e.failed + e.abandoned);
    EXPECT_LT(e.issued, 1000);  // the generator stopped
    const RuntimeError& as_runtime = e;
    EXPECT_THAT(as_runtime.what(), HasSubstr("requests issued"));
  }
  // The workers are back, waiting: the next step runs (the fake throws once).
  const StepResult r = server.step(2000);
  EXPECT_EQ(r.issued, r.completed);
}

// Coordinated omission is not hidden: one forward stalls D; every request arriving during the stall waits for it, from
// its *scheduled* arrival. Those arriving in its first D - x wait at least x, so with n requests at rate q the p99 is
// at least D - n / q / 100 (the top 1% of requests fit in that span of the stall).
TEST(ServeLive, AStallRaisesTheP99ByTheStallLessOnePercentOfTheStep) {
  ServeConfig c = short_steps();
  c.max_batch = 32;
  c.max_queue_delay_us = 0;
  c.min_requests = 2000;
  c.min_step_s = 0;
  const double qps = 20000, stall_ms = 40;
  auto clean = fakes(c, FakeService{});
  const StepResult base = LiveServer(raw(clean), kIn, kOut, c).step(qps);
  FakeService f;
  f.stall_at = 200, f.stall_ms = stall_ms;
  auto stalled = fakes(c, f);
  const StepResult r = LiveServer(raw(stalled), kIn, kOut, c).step(qps);
  EXPECT_EQ(r.issued, r.completed);
  const double span_ms = static_cast<double>(r.issued) / qps * 1e3;
  EXPECT_GE(r.p99_ms, std::max(base.p99_ms, stall_ms - span_ms / 100 * 1.5)) << "clean p99 " << base.p99_ms << " ms";
  EXPECT_GE(r.max_ms, stall_ms);
}

// A rate the backend cannot serve: the queue grows, the generator stops issuing once the backlog would take longer
// than the drain limit, every issued request still completes, and the step is overloaded (fails the bound).
TEST(ServeLive, AQueueThatCannotDrainIsOverloadedNotDropped) {
  ServeConfig c = short_steps();
  c.max_batch = 4;
  c.drain_limit_s = 0.02;
  c.min_step_s = 0.2;
  auto backends = fakes(c, FakeService{200, 50});  // 400 us for 4: 10000 requests/s at most
  LiveServer server(raw(backends), kIn, kOut, c);
  const StepResult r = server.step(40000);
  EXPECT_TRUE(r.overloaded);
  EXPECT_FALSE(r.meets(1e9));
  EXPECT_EQ(r.issued, r.completed);
  EXPECT_LT(r.issued, 40000 * 0.2);  // stopped issuing early
  EXPECT_GT(r.max_queue, 8);
}

// Workers that never poll (worker_spin_us 0) sleep on the batcher's condition variable between batches: each arrival
// that can start a batch (one at an empty queue, or the one that fills a batch) must wake one of them. A lost wake-up
// would leave a request queued until some later arrival or the step's end.
TEST(ServeLive, SleepingWorkersAreWokenForEveryBatch) {
  for (double delay_us : {0.0, 300.0}) {
    ServeConfig c = short_steps();
    c.workers = 2;
    c.worker_spin_us = 0;
    c.max_queue_delay_us = delay_us;
    auto backends = fakes(c, FakeService{});
    LiveServer server(raw(backends), kIn, kOut, c);
    for (double qps : {3000.0, 30000.0}) {
      const StepResult r = server.step(qps);
      const StepTrace& t = server.trace();
      EXPECT_EQ(r.issued, r.completed);
      expect_every_request_once(t);
      for (const auto& b : t.batches) {
        const double waited_ns = static_cast<double>(b.dispatched_ns - t.arrival_ns[static_cast<std::size_t>(b.first)]);
        EXPECT_LE(waited_ns, delay_us * 1e3 + 10e6) << "delay " << delay_us << " us, " << qps << " requests/s";
      }
    }
  }
}

// The watching worker records how late it saw each arrival or deadline it waited for: at a light load it waits for
// nearly every one, asleep (worker_spin_us 0) or polling.
TEST(ServeLive, TheWatchingWorkerRecordsHowLateItSawTheEvents) {
  for (double spin_us : {0.0, 100.0}) {
    ServeConfig c = short_steps();
    c.worker_spin_us = spin_us;
    auto backends = fakes(c, FakeService{});
    LiveServer server(raw(backends), kIn, kOut, c);
    const StepResult r = server.step(2000);
    const StepTrace& t = server.trace();
    EXPECT_GE(t.lag_ns.size(), t.arrival_ns.size() / 2) << "spin " << spin_us << " us";
    for (std::int64_t lag : t.lag_ns) EXPECT_GE(lag, 0);
    EXPECT_GT(r.issue_lag_max_us, 0);
    EXPECT_LE(r.issue_lag_p99_us, r.issue_lag_max_us);
  }
}

// No request waits while a worker is free: with K = 3 sleeping workers of 40 ms, a request that arrives when fewer than
// three batches are in service is taken at once (however many free workers sleep as followers), never left until a
// busy one comes back (up to 40 ms). The bound allows 15 ms of scheduling delay beyond the watcher's own lateness.
TEST(ServeLive, ARequestNeverWaitsForABusyWorkerWhileAnotherIsFree) {
  ServeConfig c = short_steps();
  c.workers = 3;
  c.max_batch = 1;
  c.max_queue_delay_us = 0;
  c.min_requests = 80;
  c.min_step_s = 0.5;
  FakeService f{40000, 0};
  f.sleeps = true;
  auto backends = fakes(c, f);
  LiveServer server(raw(backends), kIn, kOut, c);
  const StepResult r = server.step(37.5);  // half the workers busy on average: bursts find one free, often after two
  const StepTrace& t = server.trace();
  EXPECT_EQ(r.issued, r.completed);
  const double bound_ns = 15e6 + r.issue_lag_max_us * 1e3;
  int checked = 0;
  for (const auto& b : t.batches) {
    const std::int64_t a = t.arrival_ns[static_cast<std::size_t>(b.first)];
    int busy = 0;
    for (const auto& o : t.batches) busy += o.dispatched_ns <= a && a < o.completed_ns;
    if (busy >= c.workers) continue;
    ++checked;
    EXPECT_LE(static_cast<double>(b.dispatched_ns - a), bound_ns) << "request " << b.first << " waited with " << busy << " of 3 workers busy";
  }
  EXPECT_GT(checked, 30);
}
