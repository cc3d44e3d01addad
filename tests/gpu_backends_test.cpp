// Every GPU backend against the CPU and the double-precision reference, at batch 1, 10, 100 and on odd
// shapes; graph and no-graph agree; repeated runs give identical outputs; precisions stay within their
// tolerances. Without a usable GPU every test skips, saying why (built without CUDA, no device, driver).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "mlpbench/backend.hpp"
#include "mlpbench/check.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/model.hpp"

using namespace mlpbench;

namespace {

const char* kBackends[] = {"cuda-naive", "cuda-naive+graph", "cuda-tiled", "cuda-tiled+graph",
                           "cuda-fused", "cuda-fused+graph", "cublaslt",   "cublaslt+graph"};

// The named backend at this precision; skips the test when there is no GPU.
std::unique_ptr<Backend> gpu_backend(const std::string& name, Precision p = Precision::FP32) {
  GpuBackends g = make_gpu_backends(p);
  for (auto& b : g.backends) {
    if (b->name() == name) return std::move(b);
  }
  return nullptr;
}

#define SKIP_WITHOUT_GPU()                                                                   \
  do {                                                                                       \
    const GpuBackends probe = make_gpu_backends();                                           \
    if (probe.backends.empty()) GTEST_SKIP() << "no usable GPU: " << probe.unavailable;      \
  } while (false)

// Runs `be` on a seeded model and input, and checks it against the CPU backend and the double reference.
void expect_correct(Backend& be, const std::vector<int>& widths, int batch, Tolerance tol) {
  const Model m = make_seeded_model(widths, 3);
  const std::vector<float> x = make_seeded_input(batch, m.input_width(), 4);
  be.prepare(m, batch);
  std::vector<float> y(static_cast<std::size_t>(batch) * m.output_width(), NAN);
  be.forward(x.data(), y.data(), batch);
  auto cpu = make_cpu_backend(0);
  cpu->prepare(m, batch);
  std::vector<float> expected(y.size());
  cpu->forward(x.data(), expected.data(), batch);
  const CheckResult vs_cpu = check_close(y.data(), expected.data(), y.size(), tol);
  EXPECT_TRUE(vs_cpu.ok) << be.name() << " batch " << batch << ": " << vs_cpu.mismatches << " mismatches, max abs error " << vs_cpu.max_abs_error
                         << ": " << vs_cpu.first_mismatches;
  const std::vector<double> ref = reference_forward(m, x.data(), batch);
  const CheckResult vs_ref = check_close(y.data(), ref.data(), ref.size(), tol);
  EXPECT_TRUE(vs_ref.ok) << be.name() << " vs double reference: " << vs_ref.first_mismatches;
}

}  // namespace

class GpuBackend : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    const GpuBackends probe = make_gpu_backends();
    if (probe.backends.empty()) GTEST_SKIP() << "no usable GPU: " << probe.unavailable;
    be_ = gpu_backend(GetParam());
    ASSERT_NE(be_, nullptr) << "the factory offers no backend named " << GetParam();
  }
  std::unique_ptr<Backend> be_;
};

TEST_P(GpuBackend, DefaultModelAtBatch1_10_100) {
  for (int batch : {1, 10, 100}) expect_correct(*be_, {784, 512, 512, 10}, batch, kToleranceF32);
}

TEST_P(GpuBackend, OddShapes) {
  expect_correct(*be_, {37, 129, 65, 3}, 1, kToleranceF32);
  expect_correct(*be_, {37, 129, 65, 3}, 7, kToleranceF32);
  expect_correct(*be_, {37, 129, 65, 3}, 100, kToleranceF32);
  expect_correct(*be_, {3, 17, 5}, 33, kToleranceF32);
  expect_correct(*be_, {1, 1}, 1, kToleranceF32);
  expect_correct(*be_, {33, 63, 128, 10}, 10, kToleranceF32);  // layer 2's weights at a 4-byte-aligned offset in a packed layout
  expect_correct(*be_, {1024, 2048, 2048, 1024}, 33, {1e-3, 1e-3});  // K = 2048: longer sums, looser atol
}

TEST_P(GpuBackend, SmallerBatchesThanPreparedAndEveryPlan) {
  const Model m = make_seeded_model({37, 129, 65, 3}, 1);
  be_->prepare(m, 64);
  auto cpu = make_cpu_backend(0);
  cpu->prepare(m, 64);
  for (int batch : {64, 1, 17, 64, 2}) {
    const std::vector<float> x = make_seeded_input(batch, 37, batch);
    std::vector<float> y(static_cast<std::size_t>(batch) * 3), e(y.size());
    be_->plan(batch);
    be_->forward(x.data(), y.data(), batch);
    cpu->forward(x.data(), e.data(), batch);
    const CheckResult c = check_close(y.data(), e.data(), y.size(), kToleranceF32);
    EXPECT_TRUE(c.ok) << "batch " << batch << ": " << c.first_mismatches;
  }
  std::vector<float> x(65 * 37), y(65 * 3);
  EXPECT_THROW(be_->forward(x.data(), y.data(), 65), InputError);
}

TEST_P(GpuBackend, RepeatedRunsGiveIdenticalOutputs) {
  const Model m = make_seeded_model({784, 512, 512, 10}, 1);
  const std::vector<float> x = make_seeded_input(100, 784, 1);
  be_->prepare(m, 100);
  std::vector<float> first(1000), again(1000);
  be_->forward(x.data(), first.data(), 100);
  for (int i = 0; i < 50; ++i) {
    be_->forward(x.data(), again.data(), 100);
    ASSERT_EQ(first, again) << "run " << i;
  }
}

TEST_P(GpuBackend, PhaseTimersMeasureEachPhase) {
  const Model m = make_seeded_model({784, 512, 512, 10}, 1);
  const std::vector<float> x = make_seeded_input(10, 784, 1);
  be_->prepare(m, 10);
  for (Phase p : {Phase::H2D, Phase::Compute, Phase::D2H}) {
    const TimedRun t = be_->phase_timer(p, x.data(), 10);
    ASSERT_TRUE(t);
    const double s = t(5);
    EXPECT_GT(s, 0.0);
    EXPECT_LT(s, 1.0);
  }
}

INSTANTIATE_TEST_SUITE_P(All, GpuBackend, ::testing::ValuesIn(kBackends), [](const auto& info) {
  std::string n = info.param;
  for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
});

TEST(GpuGraph, GraphAndStreamLaunchesAgreeBitForBit) {
  SKIP_WITHOUT_GPU();
  const Model m = make_seeded_model({784, 512, 512, 10}, 2);
  for (const char* k : {"cuda-naive", "cuda-tiled", "cuda-fused", "cublaslt"}) {
    auto plain = gpu_backend(k), graph = gpu_backend(std::string(k) + "+graph");
    ASSERT_TRUE(plain && graph) << k;
    for (int batch : {1, 10, 100}) {
      const std::vector<float> x = make_seeded_input(batch, 784, 9);
      plain->prepare(m, batch);
      graph->prepare(m, batch);
      std::vector<float> a(batch * 10), b(batch * 10);
      plain->forward(x.data(), a.data(), batch);
      graph->forward(x.data(), b.data(), batch);
      EXPECT_EQ(a, b) << k << " batch " << batch;
    }
  }
}

TEST(GpuPrecision, CublasLtTf32AndBf16StayWithinTheirTolerances) {
  SKIP_WITHOUT_GPU();
  for (Precision p : {Precision::TF32, Precision::BF16}) {
    for (const char* name : {"cublaslt", "cublaslt+graph"}) {
      auto be = gpu_backend(name, p);
      ASSERT_NE(be, nullptr) << name << " " << precision_name(p);
      EXPECT_EQ(be->config(), std::string("precision=") + precision_name(p));
      for (int batch : {1, 10, 100}) expect_correct(*be, {784, 512, 512, 10}, batch, tolerance_for(p));
    }
  }
}

TEST(GpuFactory, SaysWhyWhenThereIsNoGpu) {
  const GpuBackends g = make_gpu_backends();
  if (g.backends.empty()) {
    EXPECT_FALSE(g.unavailable.empty());
  } else {
    EXPECT_EQ(g.backends.size(), std::size(kBackends));
    EXPECT_FALSE(g.gpu_name.empty());
    EXPECT_FALSE(g.driver_version.empty());
  }
  // Our kernels are fp32 only: at tf32 the factory says so instead of offering them.
  const GpuBackends tf32 = make_gpu_backends(Precision::TF32);
  if (!tf32.backends.empty()) {
    EXPECT_EQ(tf32.backends.size(), 2u);
    ASSERT_EQ(tf32.skipped.size(), 3u);
    EXPECT_THAT(tf32.skipped[0], ::testing::HasSubstr("fp32 only"));
  }
}
