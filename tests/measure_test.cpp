// The timing core on synthetic clocks: statistics are right, calibration batches short passes, sampling
// stops when the median is known or the budget is spent. No real timing is asserted.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <optional>
#include <thread>

#include "mlpbench/measure.hpp"

using namespace mlpbench;

TEST(Summarize, StatisticsOfKnownSamples) {
  // 1..10 ms in shuffled order.
  const Stats s = summarize({7, 3, 10, 1, 5, 2, 9, 4, 8, 6}, 4);
  EXPECT_DOUBLE_EQ(s.median_ms, 5.5);
  EXPECT_DOUBLE_EQ(s.min_ms, 1);
  EXPECT_DOUBLE_EQ(s.max_ms, 10);
  EXPECT_DOUBLE_EQ(s.mean_ms, 5.5);
  EXPECT_NEAR(s.p90_ms, 9.1, 1e-12);   // numpy.percentile(range(1, 11), 90)
  EXPECT_NEAR(s.p99_ms, 9.91, 1e-12);
  EXPECT_NEAR(s.stddev_ms, std::sqrt(82.5 / 9), 1e-12);
  EXPECT_NEAR(s.cv, std::sqrt(82.5 / 9) / 5.5, 1e-12);
  // IQR = 7.75 - 3.25 = 4.5; ci_rel = 1.57 * 4.5 / sqrt(10) / 5.5
  EXPECT_NEAR(s.ci_rel, 1.57 * 4.5 / std::sqrt(10.0) / 5.5, 1e-12);
  EXPECT_EQ(s.samples, 10);
  EXPECT_EQ(s.passes_per_sample, 4);
  EXPECT_EQ(s.samples_ms.front(), 7);  // kept in the order taken
}

TEST(Summarize, SingleSample) {
  const Stats s = summarize({2.5}, 1);
  EXPECT_EQ(s.median_ms, 2.5);
  EXPECT_EQ(s.p99_ms, 2.5);
  EXPECT_EQ(s.stddev_ms, 0);
  EXPECT_THROW(summarize({}, 1), std::invalid_argument);
}

TEST(Calibrate, BatchesPassesShorterThanTheMinimumSample) {
  // A synthetic pass of 1 us: a 50 us sample needs >= 50 passes.
  const TimedRun fake = [](int passes) { return passes * 1e-6; };
  const int p = calibrate_passes(fake, 50e-6);
  EXPECT_GE(p, 50);
  EXPECT_LE(p, 80);
  // A pass longer than the minimum is timed alone.
  EXPECT_EQ(calibrate_passes([](int passes) { return passes * 1e-3; }, 50e-6), 1);
}

TEST(Measure, ConstantPassesConvergeQuickly) {
  int calls = 0;
  const TimedRun fake = [&](int passes) {
    ++calls;
    return passes * 2e-3;  // exactly 2 ms a pass
  };
  MeasureConfig c;
  c.warmup_s = 0;
  c.min_time_s = 0;
  const Stats s = measure(fake, c);
  EXPECT_TRUE(s.converged);
  EXPECT_DOUBLE_EQ(s.median_ms, 2.0);
  EXPECT_EQ(s.cv, 0);
  EXPECT_EQ(s.passes_per_sample, 1);
  EXPECT_GE(s.samples, c.min_samples);
  EXPECT_LE(s.samples, 16);  // checked at the first power of two past min_samples
}

TEST(Measure, NoisyPassesStopAtTheSampleCap) {
  // Alternating 1 ms / 3 ms: the IQR never shrinks, so only max_samples stops it.
  int i = 0;
  const TimedRun fake = [&](int passes) { return passes * ((i++ % 2) ? 3e-3 : 1e-3); };
  MeasureConfig c;
  c.warmup_s = 0;
  c.min_time_s = 0;
  c.max_samples = 300;
  c.target_rel_ci = 1e-6;
  const Stats s = measure(fake, c);
  EXPECT_FALSE(s.converged);
  EXPECT_EQ(s.samples, 300);
}

TEST(Measure, TimeBudgetStopsSampling) {
  // Real wall time spent per call (a busy wait), so the budget is what stops it.
  int i = 0;
  const TimedRun slow = [&](int passes) {
    const auto t0 = std::chrono::steady_clock::now();
    while (std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(2)) {
    }
    return passes * ((i++ % 2) ? 3.0 : 1.0);  // claims 1 s / 3 s a pass: never converges
  };
  MeasureConfig c;
  c.warmup_s = 0;
  c.min_time_s = 0;
  c.max_time_s = 0.05;
  c.target_rel_ci = 0;  // unreachable
  const Stats s = measure(slow, c);
  EXPECT_GE(s.total_s, 0.05);
  EXPECT_LT(s.total_s, 1.0);
  EXPECT_LT(s.samples, 50);
}

TEST(QuickConfig, FitsTheBudget) {
  const MeasureConfig c = quick_config(6, 3.0);
  EXPECT_LE(6 * (c.warmup_s + c.max_time_s), 3.0 + 1e-9);
  EXPECT_LE(c.min_time_s, c.max_time_s);
}

TEST(WallClock, RunsTheRequestedPasses) {
  int n = 0;
  const TimedRun t = wall_clock([&] { ++n; });
  EXPECT_GE(t(7), 0.0);
  EXPECT_EQ(n, 7);
}

TEST(Rounds, EveryItemIsSampledInEveryRoundWithItsOwnStatistics) {
  // Three items of 1, 2 and 3 ms a pass; each call is recorded so the interleaving can be seen.
  std::vector<int> calls;
  std::vector<TimedRun> items;
  for (int k = 1; k <= 3; ++k) items.push_back([&calls, k](int passes) { calls.push_back(k); return passes * k * 1e-3; });
  RoundsConfig c;
  c.per_item.warmup_s = 0;
  c.per_item.min_time_s = 0;
  c.per_item.min_samples = 12;
  c.rounds = 4;
  c.slice_warmup_s = 0;
  std::vector<int> rounds_seen;
  const std::vector<Stats> s = measure_rounds(items, c, [&](int r) { rounds_seen.push_back(r); });
  ASSERT_EQ(s.size(), 3u);
  for (int k = 1; k <= 3; ++k) {
    EXPECT_DOUBLE_EQ(s[k - 1].median_ms, k) << "item " << k << " keeps its own samples";
    EXPECT_GE(s[k - 1].samples, 12);
    EXPECT_TRUE(s[k - 1].converged);
  }
  EXPECT_EQ(rounds_seen, (std::vector<int>{0, 1, 2, 3})) << "converged items stop after the planned rounds";
  // Interleaved: each item's calls come in 4 separate runs (one slice a round), not one block.
  int switches = 0;
  for (std::size_t i = 1; i < calls.size(); ++i) switches += calls[i] != calls[i - 1];
  EXPECT_GE(switches, 4 * 3 - 1 - 3) << "the calibration calls come first, item by item";
}

// RoundsConfig::passes fixes an item's passes per sample (a cold item: 1) where calibration would batch many.
TEST(Rounds, GivenPassesPerSampleAreKeptAndTheOthersCalibrated) {
  std::vector<int> passes_asked;
  const TimedRun tiny = [&](int passes) { passes_asked.push_back(passes); return passes * 1e-7; };  // 0.1 us a pass
  RoundsConfig c;
  c.per_item.warmup_s = 0;
  c.per_item.min_time_s = 0;
  c.per_item.min_samples = 4;
  c.rounds = 2;
  c.slice_warmup_s = 0;
  c.passes = {1, 0};
  const std::vector<Stats> s = measure_rounds({tiny, tiny}, c);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].passes_per_sample, 1);
  EXPECT_GT(s[1].passes_per_sample, 100) << "calibrated: 0.1 us passes against a 50 us sample";
}

TEST(Rounds, TheOrderIsShuffledEachRoundAndTheSameEveryRun) {
  auto order_of_rounds = [](unsigned seed) {
    std::vector<int> firsts;
    std::vector<int>* log = &firsts;
    int last = 0;
    std::vector<TimedRun> items;
    for (int k = 0; k < 6; ++k) items.push_back([log, &last, k](int passes) { if (last != k) log->push_back(k); last = k; return passes * 1e-3; });
    RoundsConfig c;
    c.per_item.warmup_s = c.per_item.min_time_s = 0;
    c.per_item.min_samples = 8;
    c.rounds = 8;
    c.slice_warmup_s = 0;
    c.seed = seed;
    measure_rounds(items, c);
    return firsts;
  };
  const std::vector<int> a = order_of_rounds(1), b = order_of_rounds(1), other = order_of_rounds(2);
  EXPECT_EQ(a, b) << "a fixed seed: the same order every run";
  EXPECT_NE(a, other);
}

TEST(Rounds, AnItemThatNeverConvergesStopsAtItsBudget) {
  int i = 0;
  std::vector<TimedRun> items{[&](int passes) { return passes * ((i++ % 2) ? 3e-3 : 1e-3); }, [](int passes) { return passes * 1e-3; }};
  RoundsConfig c;
  c.per_item.warmup_s = c.per_item.min_time_s = 0;
  c.per_item.max_samples = 200;
  c.per_item.target_rel_ci = 1e-6;
  c.rounds = 2;
  c.slice_warmup_s = 0;
  const std::vector<Stats> s = measure_rounds(items, c);
  EXPECT_FALSE(s[0].converged);
  EXPECT_EQ(s[0].samples, 200);
  EXPECT_TRUE(s[1].converged);
}

// Each round's slice gives its item one median: the unit of independent evidence (issue 19) and what Google
// Benchmark's compare.py sees as a repetition.
TEST(Rounds, EachRoundGivesItsItemOneMedian) {
  int round_of_item0 = 0;
  std::vector<TimedRun> items{[&](int passes) { return passes * 1e-3 * (1 + round_of_item0); }, [](int passes) { return passes * 2e-3; }};
  RoundsConfig c;
  c.per_item.warmup_s = c.per_item.min_time_s = 0;
  c.per_item.min_samples = 6;
  c.per_item.target_rel_ci = 1;  // converged after the planned rounds
  c.rounds = 3;
  c.slice_warmup_s = 0;
  c.passes = {1, 1};
  const std::vector<Stats> s = measure_rounds(items, c, [&](int) { ++round_of_item0; });  // item 0 slows by 1 ms a round
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].round_medians_ms, (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(s[1].round_medians_ms, (std::vector<double>{2, 2, 2}));
  EXPECT_EQ(s[0].min_samples, 6);
}

// A cell whose passes are slow still gets its minimum samples past max_time_s; only the hard cap stops it short, and
// its Stats say so (samples < min_samples).
TEST(Rounds, TheMinimumSamplesAreTakenPastTheBudgetUpToTheCap) {
  const TimedRun slow = [](int passes) {  // 20 ms of wall time a pass: measure_rounds counts wall time spent
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return passes * 0.02;
  };
  RoundsConfig c;
  c.per_item.warmup_s = 0;
  c.per_item.min_time_s = 0;
  c.per_item.max_time_s = 0.01;  // one 20 ms sample already spends it
  c.per_item.min_samples = 5;
  c.rounds = 1;
  c.slice_warmup_s = 0;
  c.passes = {1};
  const Stats s = measure_rounds({slow}, c).front();
  EXPECT_GE(s.samples, 5) << "the minimum, though the budget ran out after the first";
  c.per_item.cap_time_s = 0.05;  // the cap: about 2 samples
  const Stats capped = measure_rounds({slow}, c).front();
  EXPECT_LT(capped.samples, 5);
  EXPECT_EQ(capped.min_samples, 5);
}

// A heartbeat while a slow item is sampled: the progress callback fires at least every `every_s`.
TEST(Rounds, ProgressReportsDuringASlowItem) {
  const TimedRun slow = [](int passes) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    return passes * 0.01;
  };
  RoundsConfig c;
  c.per_item.warmup_s = 0;
  c.per_item.min_time_s = 0.2;
  c.per_item.min_samples = 1;
  c.rounds = 1;
  c.slice_warmup_s = 0;
  c.passes = {1, 1};
  RoundsProgress progress;
  progress.every_s = 0.05;
  std::vector<std::pair<std::size_t, int>> reports;
  progress.report = [&](std::size_t item, int samples, double) { reports.emplace_back(item, samples); };
  measure_rounds({slow, slow}, c, {}, progress);
  EXPECT_GE(reports.size(), 4u) << "0.4 s of sampling, a report every 0.05 s at most";
  bool both = false;
  for (const auto& r : reports) both = both || r.first == 1;
  EXPECT_TRUE(both) << "each report names the item being sampled";
}

// Short passes reach max_samples long before the time budget. A slice holds at most max_samples / (2 rounds): the planned rounds all happen, and as many again for a cell that
// is not done by then (here min_time_s is never reached).
TEST(Rounds, ShortPassesGetEveryPlannedRoundAndAsManyAgainUntilDone) {
  const TimedRun tiny = [](int passes) { return passes * 1e-6; };
  RoundsConfig c;
  c.per_item.warmup_s = 0;
  c.per_item.min_time_s = 10;  // never reached: max_samples stops first
  c.per_item.max_samples = 60;
  c.rounds = 6;
  c.slice_warmup_s = 0;
  c.passes = {1};
  const Stats s = measure_rounds({tiny}, c).front();
  EXPECT_EQ(s.samples, 60);
  EXPECT_EQ(s.round_medians_ms.size(), 12u);
}

// Items of a device the others leave idle (a GPU among CPU items) warm up for idle_warmup_s after a slice of an
// item without one (or as the first slice), slice_warmup_s otherwise; slice_done follows every slice. Each call of
// a timer is logged with its item, each slice_done too, so every slice's warm-up passes can be counted.
TEST(Rounds, ADeviceLeftIdleWarmsUpLongerAfterAnotherDevicesSlice) {
  using Clock = std::chrono::steady_clock;
  struct Event {
    std::size_t item;
    bool slice_done;
    Clock::time_point at;
  };
  std::vector<Event> log;
  std::vector<TimedRun> items;
  for (std::size_t k = 0; k < 3; ++k) items.push_back([&log, k](int passes) { log.push_back({k, false, Clock::now()}); return passes * 1e-3; });
  RoundsConfig c;
  c.per_item.warmup_s = 0;
  c.per_item.min_time_s = 0;
  c.per_item.min_samples = 8;  // one sample a slice
  c.rounds = 8;
  c.slice_warmup_s = 0;
  c.passes = {1, 1, 1};
  c.idle_warmup_s = {0, 0.02, 0.02};  // item 0 a CPU item, items 1 and 2 GPU items
  RoundsProgress progress;
  progress.slice_done = [&](std::size_t item) { log.push_back({item, true, Clock::now()}); };
  measure_rounds(items, c, {}, progress);
  // The slices: calls from the first slice_done on (before it: each item's one untimed warm-up pass).
  std::size_t i = 0;
  for (std::size_t k = 0; k < 3; ++k) {  // skip the three warm-up calls of warm_item
    ASSERT_FALSE(log[i].slice_done);
    ++i;
  }
  int slices = 0, long_warmups = 0, gpu_after_gpu = 0;
  std::optional<std::size_t> prev;
  Clock::time_point prev_end = log[i].at;
  while (i < log.size()) {
    const std::size_t item = log[i].item;
    int calls = 0;
    for (; !log[i].slice_done; ++i, ++calls) ASSERT_EQ(log[i].item, item) << "a slice runs one item";
    ASSERT_EQ(log[i].item, item) << "slice_done names the item whose slice ended";
    const bool idle_before = !prev || *prev == 0;
    const int warmup_calls = calls - 1;  // one sample a slice
    if (item != 0 && idle_before) {
      EXPECT_GT(warmup_calls, 0) << "slice " << slices << ": a GPU slice after a CPU slice warms up";
      if (prev) {
        EXPECT_GE(std::chrono::duration<double>(log[i].at - prev_end).count(), 0.02) << "slice " << slices;
      }
      ++long_warmups;
    } else {
      EXPECT_EQ(warmup_calls, 0) << "slice " << slices << ": " << (item == 0 ? "a CPU item" : "a GPU slice after a GPU slice") << " keeps slice_warmup_s (0)";
      gpu_after_gpu += item != 0;
    }
    prev = item;
    prev_end = log[i].at;
    ++slices, ++i;
  }
  EXPECT_EQ(slices, 3 * 8);
  EXPECT_GT(long_warmups, 1) << "the shuffle put GPU slices after CPU ones";
  EXPECT_GT(gpu_after_gpu, 0) << "and GPU slices after GPU ones";
}
