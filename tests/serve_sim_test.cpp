// The serving simulator (serve_sim): its service table (log-log interpolation, the extrapolation beyond), the batcher's
// rule held exactly, queueing theory (M/D/1's mean wait by Pollaczek-Khinchine; Little's law with PASTA for the queue
// depths), K servers, overload, and the label: every result says simulated. Deterministic: seeded arrivals, no clock.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "mlpbench/serve_sim.hpp"
#include "test_util.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;

TEST(ServiceTable, InterpolatesOnLogAxesAndExtrapolatesAsItSays) {
  const ServiceTable t({{100, 10.0}, {1, 1.0}});
  EXPECT_DOUBLE_EQ(t.ms(1), 1.0);
  EXPECT_DOUBLE_EQ(t.ms(100), 10.0);
  EXPECT_NEAR(t.ms(10), std::sqrt(10.0), 1e-12);  // halfway on log batch: the geometric mean
  EXPECT_NEAR(t.ms(50), std::exp(std::log(10.0) * std::log(50.0) / std::log(100.0)), 1e-12);
  EXPECT_DOUBLE_EQ(t.ms(200), 20.0);  // above the largest: proportional to the batch
  const ServiceTable one({{8, 2.0}});
  EXPECT_DOUBLE_EQ(one.ms(1), 2.0);  // below the smallest: its time
  EXPECT_DOUBLE_EQ(one.ms(16), 4.0);
  EXPECT_THAT(ServiceTable::kExtrapolation, HasSubstr("log-log"));
}

TEST(ServiceTable, BadTablesThrowInputError) {
  using mlpbench::testing::input_error;
  EXPECT_THAT(input_error([] { ServiceTable({}); }), HasSubstr("no batch sizes"));
  EXPECT_THAT(input_error([] { ServiceTable({{0, 1.0}}); }), HasSubstr("batch size 0"));
  EXPECT_THAT(input_error([] { ServiceTable({{1, 0.0}}); }), HasSubstr("must be > 0 ms"));
  EXPECT_THAT(input_error([] { ServiceTable({{1, 1.0}, {1, 2.0}}); }), HasSubstr("twice"));
}

namespace {

// M/D/1: one server, no batching, deterministic service of `service_ms`.
ServeConfig md1(int requests) {
  ServeConfig c;
  c.max_batch = 1;
  c.max_queue_delay_us = 0;
  c.workers = 1;
  c.min_requests = requests;
  c.min_step_s = 0;
  c.drain_limit_s = 10;
  return c;
}

}  // namespace

// Pollaczek-Khinchine for M/D/1: Wq = rho S / (2 (1 - rho)); the simulator's mean wait (scheduled arrival to dispatch)
// within 5% at utilisation 0.5 and 0.8, and the queue its arrivals saw equals lambda Wq (Little's law, PASTA).
TEST(Simulator, ReproducesTheMD1MeanWait) {
  const double s_ms = 0.1;
  for (double rho : {0.5, 0.8}) {
    for (std::uint64_t seed : {1, 2}) {
      ServeConfig c = md1(400000);
      c.seed = seed;
      Simulator sim(ServiceTable({{1, s_ms}}), c);
      const double qps = rho / (s_ms * 1e-3);
      const StepResult r = sim.step(qps);
      const double wq_ms = rho * s_ms / (2 * (1 - rho));
      EXPECT_NEAR(r.mean_wait_ms, wq_ms, 0.05 * wq_ms) << "rho " << rho << " seed " << seed;
      EXPECT_NEAR(r.mean_ms, wq_ms + s_ms, 0.05 * wq_ms) << "rho " << rho;
      EXPECT_NEAR(r.mean_queue, qps * r.mean_wait_ms * 1e-3, 0.03 * r.mean_queue) << "rho " << rho;
      EXPECT_EQ(r.issued, r.completed);
      EXPECT_DOUBLE_EQ(r.mean_batch, 1.0);
      EXPECT_TRUE(r.simulated);
      EXPECT_FALSE(r.overloaded);
    }
  }
}

// Triton's rule exactly: at most max_batch, taken full or once the oldest waited the delay, never before a server is
// free (each server's batches one after another); at a light load no request waits beyond the delay plus the
// service of a full batch.
TEST(Simulator, KeepsTheBatcherRuleExactly) {
  ServeConfig c;
  c.max_batch = 8;
  c.max_queue_delay_us = 200;
  c.workers = 2;
  c.min_requests = 20000;
  c.min_step_s = 0;
  const ServiceTable table({{1, 0.1}, {8, 0.15}});
  Simulator sim(table, c);
  for (double qps : {4000.0, 30000.0}) {
    const StepResult r = sim.step(qps);
    const StepTrace& t = sim.trace();
    std::vector<std::int64_t> free_ns(2, 0);
    std::int64_t next = 0;
    for (const auto& b : t.batches) {
      EXPECT_EQ(b.first, next);
      next += b.count;
      EXPECT_LE(b.count, c.max_batch);
      const std::int64_t oldest_wait = b.dispatched_ns - t.arrival_ns[static_cast<std::size_t>(b.first)];
      EXPECT_TRUE(b.count == c.max_batch || oldest_wait >= 200'000);
      EXPECT_GE(b.dispatched_ns, free_ns[static_cast<std::size_t>(b.worker)]);
      free_ns[static_cast<std::size_t>(b.worker)] = b.completed_ns;
      EXPECT_EQ(b.completed_ns - b.dispatched_ns, std::llround(table.ms(static_cast<int>(b.count)) * 1e6));
      if (qps == 4000) {
        EXPECT_LE(b.dispatched_ns - t.arrival_ns[static_cast<std::size_t>(b.first)], 200'000 + 150'000);
      }
    }
    EXPECT_EQ(next, r.issued);
    EXPECT_EQ(r.issued, r.completed);
    EXPECT_GT(r.mean_batch, 1.0);
  }
}

TEST(Simulator, TwoServersWaitLessThanOneAtTheSameRate) {
  ServeConfig c = md1(100000);
  const StepResult one = Simulator(ServiceTable({{1, 0.1}}), c).step(8000);
  c.workers = 2;
  const StepResult two = Simulator(ServiceTable({{1, 0.1}}), c).step(8000);
  EXPECT_LT(two.mean_wait_ms, one.mean_wait_ms / 4);
}

// Twice the capacity: the backlog outlasts the drain limit. Overloaded, nothing dropped, the bound failed.
TEST(Simulator, AQueueThatCannotDrainIsOverloaded) {
  ServeConfig c = md1(20000);
  c.drain_limit_s = 0.5;
  const StepResult r = Simulator(ServiceTable({{1, 0.1}}), c).step(20000);  // 1 s of arrivals, 2 s of work
  EXPECT_TRUE(r.overloaded);
  EXPECT_GT(r.drain_s, 0.5);
  EXPECT_EQ(r.issued, r.completed);
  EXPECT_FALSE(r.meets(1e9));
}

// The search runs on the simulator as on the live server; every result says simulated. M/D/1 with S = 0.1 ms under a
// 1 ms p99 bound: the rate found meets it, and one 5% higher does not.
TEST(Simulator, SearchFindsTheHighestRateMeetingTheBoundLabelledSimulated) {
  ServeConfig c = md1(20000);
  c.slo_ms = 1;
  Simulator sim(ServiceTable({{1, 0.1}}), c);
  const SearchResult s = search_rate([&](double q) { return sim.step(q); }, c);
  EXPECT_TRUE(s.simulated);
  ASSERT_GT(s.best_qps, 0);
  EXPECT_LT(s.best_qps, 10000);  // below the server's capacity
  EXPECT_TRUE(sim.step(s.best_qps).meets(c.slo_ms));
  EXPECT_FALSE(sim.step(s.best_qps * (1 + c.search_tolerance)).meets(c.slo_ms));
}
