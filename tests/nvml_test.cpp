// NVML through dlopen: clocks and the energy counter where a driver is, a reason where it is not; and the
// energy-per-inference arithmetic on a counter we control.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

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
  EXPECT_DOUBLE_EQ(e.watts, 2.0 * calls / e.window_s);
}

TEST(Energy, SaysWhyWithoutACounterOrWhenItDoesNotMove) {
  FakeCounter none(false);
  const Energy e = measure_energy(none, [] {}, 1, 0.001);
  EXPECT_EQ(e.unavailable, "no counter in this test");
  EXPECT_EQ(e.joules_per_inference, 0);
  FakeCounter still(true);
  EXPECT_THAT(measure_energy(still, [] {}, 1, 0.001).unavailable, HasSubstr("did not advance"));
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
