// NVML through dlopen: clocks and the energy counter where a driver is, a reason where it is not; and the
// energy-per-inference arithmetic on a counter we control.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "mlpbench/backend.hpp"
#include "mlpbench/nvml.hpp"
#include "mlpbench/runner.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;

TEST(Nvml, ClocksWhereThereIsADriverNothingWhereNot) {
  const GpuClocks c = read_gpu_clocks();
  if (!c.valid) {
    EXPECT_EQ(c.sm_mhz, 0u);
    EXPECT_EQ(c.sm_max_mhz, 0u);
    EXPECT_TRUE(make_gpu_backends().backends.empty() || !GpuEnergyMeter().unavailable().empty())
        << "a usable GPU whose NVML gives no clocks should at least say why it gives no energy";
    return;
  }
  EXPECT_GT(c.sm_max_mhz, 0u);
  EXPECT_GT(c.sm_mhz, 0u);
}

TEST(Nvml, EnergyCounterOrWhyNot) {
  GpuEnergyMeter meter;
  const std::optional<double> j = meter.joules();
  if (!j) {
    EXPECT_FALSE(meter.unavailable().empty());
    if (!read_gpu_clocks().valid) {
      EXPECT_THAT(meter.unavailable(), HasSubstr("NVML"));
    }
    return;
  }
  EXPECT_GT(*j, 0) << "joules since the driver loaded";
  EXPECT_TRUE(meter.unavailable().empty()) << meter.unavailable();
  const std::optional<double> later = meter.joules();
  ASSERT_TRUE(later);
  EXPECT_GE(*later, *j) << "the counter never goes back";
}

namespace {

// 2 J per call of forward(); or no counter at all.
class FakeCounter final : public EnergyCounter {
 public:
  explicit FakeCounter(bool present) : present_(present) {}
  std::optional<double> joules() override { return present_ ? std::optional<double>(joules_) : std::nullopt; }
  std::string unavailable() const override { return present_ ? "" : "no counter in this test"; }
  void tick() { joules_ += 2; }

 private:
  bool present_;
  double joules_ = 100;
};

}  // namespace

TEST(Energy, JoulesPerInferenceAndWattsFromTheCounter) {
  FakeCounter counter(true);
  long long calls = 0;
  const Energy e = measure_energy(counter, [&] { counter.tick(), ++calls; }, 4, 0.01);
  ASSERT_TRUE(e.unavailable.empty()) << e.unavailable;
  ASSERT_GT(calls, 0);
  EXPECT_DOUBLE_EQ(e.joules_per_inference, 2.0 / 4);  // 2 J a forward of 4 rows
  EXPECT_GE(e.window_s, 0.01);
  EXPECT_GT(e.watts, 0);
  EXPECT_LT(e.watts, 2.0 * calls / e.window_s) << "the forwards before the counter's first step are not in the window";
}

namespace {

// A GPU whose forwards spend 10 mJ each (200 us of sleep), behind a counter that moves in steps: it shows the energy
// of the forwards finished by the last 100 ms step of the steady clock, as NVML's counter shows what it last
// sampled. Between steps it reads the same; so a window read at arbitrary times is off by up to a step at each end.
class SteppedCounter final : public EnergyCounter {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::chrono::milliseconds kStep{100};
  static constexpr double kJoulesPerForward = 0.01;
  std::optional<double> joules() override {
    const Clock::time_point step = origin_ + (Clock::now() - origin_) / kStep * kStep;
    const auto finished = std::lower_bound(done_.begin(), done_.end(), step) - done_.begin();
    return kJoulesPerForward * static_cast<double>(finished);
  }
  std::string unavailable() const override { return ""; }
  void forward() {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    done_.push_back(Clock::now());
  }

 private:
  Clock::time_point origin_ = Clock::now();
  std::vector<Clock::time_point> done_;
};

}  // namespace

// Started and stopped on the counter's steps, the window holds whole steps, and J per inference is the fake's truth
// (10 mJ a forward of 4 rows) to within the forward or two seen late at either end. A window of 0.25 s read at
// arbitrary times would hold 2 or 3 steps of 100 ms: 20% off either way.
TEST(Energy, ACounterThatMovesInStepsGivesWholeStepsAndTheTrueJoulesPerInference) {
  SteppedCounter counter;
  const Energy e = measure_energy(counter, [&] { counter.forward(); }, 4, 0.25);
  ASSERT_TRUE(e.unavailable.empty()) << e.unavailable;
  EXPECT_NEAR(e.joules_per_inference, SteppedCounter::kJoulesPerForward / 4, 0.03 * SteppedCounter::kJoulesPerForward / 4);
  EXPECT_GE(e.window_s, 0.25);
  EXPECT_LT(e.window_s, 0.25 + 0.2) << "stopped on the first step after the window (100 ms apart), with room for a loaded machine";
  EXPECT_GT(e.watts, 0);
}

TEST(Energy, TheWindowIsTwoSecondsQuickOrNot) {
  EXPECT_GE(measure_budget(/*quick=*/true, 30).energy_window_s, 2.0);
  EXPECT_GE(measure_budget(/*quick=*/false, 30).energy_window_s, 2.0);
}

TEST(Energy, SaysWhyWithoutACounterOrWhenItDoesNotMove) {
  FakeCounter none(false);
  const Energy e = measure_energy(none, [] {}, 1, 0.001);
  EXPECT_EQ(e.unavailable, "no counter in this test");
  EXPECT_EQ(e.joules_per_inference, 0);
  FakeCounter still(true);
  EXPECT_THAT(measure_energy(still, [] {}, 1, 0.001).unavailable, HasSubstr("did not advance"));
}

// A counter that moves once and then never again, or that fails partway: the cell says why, with no number.
TEST(Energy, ACounterThatStopsOrFailsAfterItsFirstStepSaysWhy) {
  struct Once final : EnergyCounter {
    int reads = 0;
    bool fail_later = false;
    std::optional<double> joules() override {
      if (fail_later && reads > 1) return std::nullopt;
      return reads++ == 0 ? 1.0 : 2.0;
    }
    std::string unavailable() const override { return "the counter went away"; }
  };
  Once once;
  const Energy e = measure_energy(once, [] {}, 1, 0.005);
  EXPECT_THAT(e.unavailable, HasSubstr("did not move forward over"));
  EXPECT_EQ(e.joules_per_inference, 0);
  Once failing;
  failing.fail_later = true;
  EXPECT_EQ(measure_energy(failing, [] {}, 1, 0.005).unavailable, "the counter went away");
}

TEST(Nvml, AClockMeterHeldOpenReadsAsAOneOffReadDoes) {
  const GpuClockMeter meter;
  const GpuClocks held = meter.read(), once = read_gpu_clocks();
  EXPECT_EQ(held.valid, once.valid);
  EXPECT_EQ(held.sm_max_mhz, once.sm_max_mhz);
  EXPECT_EQ(meter.read().valid, held.valid) << "and again";
}

TEST(Nvml, SlowdownReasonsByName) {
  EXPECT_EQ(clock_reasons_text(0), "");
  EXPECT_EQ(clock_reasons_text(0x4 | 0x40), "sw power cap, hw thermal slowdown");
  EXPECT_EQ(clock_reasons_text(0x1), "") << "idle is no slowdown";
}
