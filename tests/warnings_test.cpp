// Measurement warnings on synthetic cells: noisy cells, clock reads too large a share of a sample, more
// threads than cores, GPU clocks held back; quiet cells get none.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mlpbench/backend.hpp"
#include "mlpbench/threads.hpp"
#include "mlpbench/metadata.hpp"
#include "mlpbench/runner.hpp"
#include "mlpbench/warnings.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;

namespace {

Results with_cpu_cell(double median_ms, double cv, int passes = 1) {
  Results r;
  Cell c;
  c.source = Source::Measured;
  c.backend = "test";
  c.stats.median_ms = median_ms;
  c.stats.cv = cv;
  c.stats.passes_per_sample = passes;
  c.stats.converged = true;
  r.table.set("CPU", 10, c);
  Cell ref;
  ref.source = Source::Reference;
  ref.stats.median_ms = 1;
  ref.stats.cv = 0.5;  // never warned about: not measured here
  r.table.set("GPU", 10, ref);
  return r;
}

}  // namespace

TEST(Warnings, NoisyCellIsFlagged) {
  Results r = with_cpu_cell(1.0, 0.05);
  const auto lines = add_warnings(r, {1}, 25);
  ASSERT_EQ(r.table.find("CPU", 10)->warnings.size(), 1u);
  EXPECT_THAT(r.table.find("CPU", 10)->warnings[0], HasSubstr("cv 5.0% is above 2.0%"));
  EXPECT_TRUE(r.table.find("GPU", 10)->warnings.empty());
  EXPECT_THAT(lines, ::testing::Contains(HasSubstr("CPU batch 10: cv 5.0%")));
}

TEST(Warnings, QuietCellHasNone) {
  Results r = with_cpu_cell(1.0, 0.01);
  add_warnings(r, {1}, 25);
  EXPECT_TRUE(r.table.find("CPU", 10)->warnings.empty());
}

TEST(Warnings, ClockReadsTooLargeAShareOfASample) {
  // 2 reads x 25 ns against a 20 us sample = 0.25% > 0.1%.
  Results r = with_cpu_cell(0.01, 0.0, 2);
  add_warnings(r, {1}, 25);
  ASSERT_EQ(r.table.find("CPU", 10)->warnings.size(), 1u);
  EXPECT_THAT(r.table.find("CPU", 10)->warnings[0], HasSubstr("clock reads take 0.2% of a sample"));
  // The same cell timed 10 passes per sample: 0.025%, fine.
  Results ok = with_cpu_cell(0.01, 0.0, 10);
  add_warnings(ok, {1}, 25);
  EXPECT_TRUE(ok.table.find("CPU", 10)->warnings.empty());
}

TEST(Warnings, MoreThreadsThanCores) {
  Results r = with_cpu_cell(1.0, 0.0);
  add_warnings(r, {available_cores() + 1}, 25);
  EXPECT_THAT(r.warnings, ::testing::Contains(HasSubstr("threads on " + std::to_string(available_cores()) + " cores")));
  Results fine = with_cpu_cell(1.0, 0.0);
  add_warnings(fine, {0, 1}, 25);
  for (const std::string& w : fine.warnings) EXPECT_THAT(w, ::testing::Not(HasSubstr("threads on")));
}

// The SM clock is judged on the readings taken while timing, never on the idle reading before the rounds (an H200
// idles at 345 MHz): a low start with high readings while timing is fine; low readings while timing warn, and so
// does a slowdown reason seen then.
TEST(Warnings, GpuClockJudgedOnTheReadingsWhileTiming) {
  const auto with_clocks = [](unsigned start, std::vector<GpuClocks> timed) {
    Results r = with_cpu_cell(1.0, 0.0);
    r.machine.gpu_clocks_mhz = clock_readings({true, start, 1980, 0, ""}, timed, {true, 1980, 1980, 0, ""});
    add_warnings(r, {1}, 25);
    return r.warnings;
  };
  const GpuClocks busy{true, 1980, 1980, 0, ""}, slow{true, 1200, 1980, 0, ""}, hot{true, 1410, 1980, 0x40, "hw thermal slowdown"};
  for (const std::string& w : with_clocks(345, {busy, busy, slow})) EXPECT_THAT(w, ::testing::Not(HasSubstr("GPU"))) << "idle at the start only";
  EXPECT_THAT(with_clocks(1980, {slow, slow, busy}),
              ::testing::Contains("GPU SM clock while timing was 1200 MHz (the median of 3 readings, lowest 1200), below 75.0% of its 1980 MHz "
                                  "maximum: the GPU cells were timed at a low clock"));
  EXPECT_THAT(with_clocks(1980, {busy, hot, busy}), ::testing::Contains("GPU clock held back while timing: hw thermal slowdown"));
  // No readings while timing (no GPU slice, or a file from before them): nothing to judge.
  Results old = with_cpu_cell(1.0, 0.0);
  old.machine.gpu_clocks_mhz = GpuClockReadings{345, 345, 1980, std::nullopt};
  add_warnings(old, {1}, 25);
  for (const std::string& w : old.warnings) EXPECT_THAT(w, ::testing::Not(HasSubstr("GPU")));
}

TEST(Warnings, ClockReadingsKeepTheMedianRangeAndReasonsOfTheValidOnes) {
  const auto r = clock_readings({true, 345, 1980, 0, ""}, {{true, 1755, 1980, 0x4, ""}, {}, {true, 1980, 1980, 0x40, ""}, {true, 1905, 1980, 0, ""}},
                                {true, 1980, 1980, 0, ""});
  ASSERT_TRUE(r && r->timed);
  EXPECT_EQ(r->start, 345u);
  EXPECT_EQ(r->end, 1980u);
  EXPECT_EQ(r->max, 1980u);
  EXPECT_EQ(r->timed->readings, 3) << "the invalid reading is left out";
  EXPECT_EQ(r->timed->min, 1755u);
  EXPECT_EQ(r->timed->median, 1905u);
  EXPECT_EQ(r->timed->max, 1980u);
  EXPECT_EQ(r->timed->reasons, "sw power cap, hw thermal slowdown");
  EXPECT_FALSE(clock_readings({}, {{}, {}}, {})) << "no NVML: nothing recorded";
  EXPECT_FALSE(clock_readings({true, 345, 1980, 0, ""}, {}, {true, 345, 1980, 0, ""})->timed);
}

TEST(Warnings, GovernorIsReadWhereLinuxShowsIt) {
  const std::string g = cpu_governor();  // "" on machines (VMs) without cpufreq
  Results r = with_cpu_cell(1.0, 0.0);
  add_warnings(r, {1}, 25);
  const bool warned = std::any_of(r.warnings.begin(), r.warnings.end(), [](const std::string& w) { return w.find("governor") != std::string::npos; });
  EXPECT_EQ(warned, !g.empty() && g != "performance");
}

TEST(Warnings, ACellThatDidNotConvergeSaysSo) {
  Results r = with_cpu_cell(1.0, 0.0);
  r.table.cells["CPU"][10].stats.converged = false;
  r.table.cells["CPU"][10].stats.ci_rel = 0.034;
  Results quick = r;
  add_warnings(r, {1}, 25);
  EXPECT_THAT(r.table.find("CPU", 10)->warnings, ::testing::Contains(HasSubstr("did not converge: its median is known to +-3.4%")));
  EXPECT_THAT(r.table.find("CPU", 10)->warnings, ::testing::Contains(::testing::EndsWith("; a quieter machine gives a firmer number")));
  // Only a --quick run is told that a full run would help.
  quick.run.quick = true;
  add_warnings(quick, {1}, 25);
  EXPECT_THAT(quick.table.find("CPU", 10)->warnings, ::testing::Contains(HasSubstr("a run without --quick or a quieter machine")));
}

// A miss by a hair is printed with enough digits to be a miss, next to the target it missed.
TEST(Warnings, ANearMissOfTheTargetIsPrintedWithTheTarget) {
  Results r = with_cpu_cell(1.0, 0.0);
  Cell& c = r.table.cells["CPU"][10];
  c.stats.converged = false;
  c.stats.ci_rel = 0.00513;
  c.stats.target_rel_ci = 0.005;
  add_warnings(r, {1}, 25);
  EXPECT_THAT(r.table.find("CPU", 10)->warnings, ::testing::Contains(HasSubstr("known to +-0.513% (95% interval), the target +-0.5%")));
}

TEST(Warnings, AMedianUnderTheMinimumSamplesSaysSo) {
  Results r = with_cpu_cell(1.0, 0.0);
  Cell& c = r.table.cells["CPU"][10];
  c.stats.samples = 3;
  c.stats.min_samples = 5;
  add_warnings(r, {1}, 25);
  EXPECT_THAT(r.table.find("CPU", 10)->warnings, ::testing::Contains(HasSubstr("its median rests on 3 samples, fewer than the minimum of 5")));
  Results enough = with_cpu_cell(1.0, 0.0);
  enough.table.cells["CPU"][10].stats.samples = 5;
  enough.table.cells["CPU"][10].stats.min_samples = 5;
  add_warnings(enough, {1}, 25);
  for (const std::string& w : enough.table.find("CPU", 10)->warnings) EXPECT_THAT(w, ::testing::Not(HasSubstr("rests on")));
}

TEST(Warnings, SlowerThanALargerBatchBeyondNoiseIsFlagged) {
  Results r;
  Cell c;
  c.source = Source::Measured;
  c.backend = "eigen";
  c.stats.converged = true;
  c.stats.ci_rel = 0.01;
  c.stats.median_ms = 0.050;  // batch 8
  r.table.set("CPU", 8, c);
  c.stats.median_ms = 0.040;  // batch 10: faster with more rows, 20% apart, intervals 1%
  r.table.set("CPU", 10, c);
  c.stats.median_ms = 0.041;  // batch 16: slower than 10, as more rows should be
  r.table.set("CPU", 16, c);
  add_warnings(r, {1}, 25);
  EXPECT_THAT(r.table.find("CPU", 8)->warnings, ::testing::Contains(HasSubstr("slower than at batch 10")));
  for (int b : {10, 16}) {
    for (const std::string& w : r.table.find("CPU", b)->warnings) EXPECT_THAT(w, ::testing::Not(HasSubstr("slower than at batch"))) << b;
  }
  // Within both intervals: no warning.
  Results close;
  c.stats.ci_rel = 0.2;
  c.stats.median_ms = 0.050;
  close.table.set("CPU", 8, c);
  c.stats.median_ms = 0.046;
  close.table.set("CPU", 10, c);
  add_warnings(close, {1}, 25);
  for (const std::string& w : close.table.find("CPU", 8)->warnings) EXPECT_THAT(w, ::testing::Not(HasSubstr("slower than at batch")));
}

TEST(Warnings, ADriftProbeThatMovedIsARunWarning) {
  Results r = with_cpu_cell(1.0, 0.0);
  r.run.drift = drift_of({20.0, 20.2, 21.4});  // (21.4 - 20) / 20.2
  add_warnings(r, {1}, 25);
  EXPECT_THAT(r.warnings, ::testing::Contains(HasSubstr("the drift probe moved by 6.9%")));
  Results steady = with_cpu_cell(1.0, 0.0);
  steady.run.drift = drift_of({20.0, 20.2, 20.1});
  add_warnings(steady, {1}, 25);
  for (const std::string& w : steady.warnings) EXPECT_THAT(w, ::testing::Not(HasSubstr("drift")));
}

// The live probe (a run's 1-thread FMA peak and L2 read) against the cached roof: more than 15% below it warns,
// naming both figures of what fell short.
TEST(Warnings, ALiveProbeWellBelowTheRoofSaysTheMachineIsLoaded) {
  CpuRoof roof;
  roof.by_threads.push_back({1, 100, 200, 100, 20, 1.0, 0});
  EXPECT_EQ(live_probe_warning({90, 180, 50}, roof), "") << "10% below: within the roof's own spread";
  const std::string fma = live_probe_warning({80, 190, 50}, roof);
  EXPECT_EQ(fma, "the live probe on 1 thread is below the cached roof (FMA peak 80 against 100 GFLOP/s per core (20.0% below)): the "
                 "machine is loaded now; this run's numbers are suspect");
  const std::string both = live_probe_warning({50, 100, 50}, roof);
  EXPECT_THAT(both, HasSubstr("FMA peak 50 against 100 GFLOP/s per core (50.0% below), L2 read 100 against 200 GB/s (50.0% below)"));
  EXPECT_EQ(live_probe_warning({50, 100, 50}, CpuRoof{}), "") << "no 1-thread roof: nothing to compare with";
}
