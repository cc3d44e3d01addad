// The CPU backends (eigen, eigen-omp-packed, eigen-omp-packed-bf16) against the plain double-precision
// reference, on odd shapes and the default one, with several thread counts; the packed kernels (few-rows,
// tile) at every batch 1..7 on widths that break their vector paths; their config naming the kernel per
// batch size; and forward() allocates nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "mlpbench/backend.hpp"
#include "mlpbench/check.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/machine.hpp"
#include "mlpbench/model.hpp"
#include "mlpbench/runner.hpp"
#include "mlpbench/threads.hpp"

// Counts heap allocations made anywhere in the process (glibc: our malloc interposes the library's).
// Not under AddressSanitizer, which owns malloc itself: there the allocation test skips, saying so.
#if defined(__SANITIZE_ADDRESS__)
#define MLPBENCH_COUNT_MALLOC 0
#else
#define MLPBENCH_COUNT_MALLOC 1
#endif
static std::atomic<long> g_mallocs{0};
#if MLPBENCH_COUNT_MALLOC
extern "C" void* __libc_malloc(std::size_t);
extern "C" void* __libc_calloc(std::size_t, std::size_t);
extern "C" void* __libc_realloc(void*, std::size_t);
extern "C" void* malloc(std::size_t n) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(n);
}
extern "C" void* calloc(std::size_t n, std::size_t s) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(n, s);
}
extern "C" void* realloc(void* p, std::size_t n) {
  g_mallocs.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, n);
}
#endif

using namespace mlpbench;

namespace {

struct Case {
  std::vector<int> widths;
  int batch;
  int threads;
};

using Factory = std::unique_ptr<Backend> (*)(int);
const Factory kFactories[] = {make_cpu_backend, make_cpu_packed_backend};
// The bf16 backend is checked on its own tolerance (Bf16WeightsStayWithinTheBf16Tolerance) and for
// allocations (ForwardAllocatesNothing).

void expect_matches_reference(const Case& c, Factory make) {
  const Model m = make_seeded_model(c.widths, 7);
  const std::vector<float> x = make_seeded_input(c.batch, m.input_width(), 3);
  auto be = make(c.threads);
  be->prepare(m, c.batch);
  std::vector<float> y(static_cast<std::size_t>(c.batch) * m.output_width(), NAN);
  be->forward(x.data(), y.data(), c.batch);
  const std::vector<double> ref = reference_forward(m, x.data(), c.batch);
  const CheckResult r = check_close(y.data(), ref.data(), ref.size(), kToleranceF32);
  EXPECT_TRUE(r.ok) << be->name() << " threads=" << c.threads << " batch=" << c.batch << ": " << r.mismatches << " mismatches, " << r.first_mismatches;
}

}  // namespace

class CpuBackendShapes : public ::testing::TestWithParam<Case> {};

TEST_P(CpuBackendShapes, MatchesDoubleReference) {
  for (Factory make : kFactories) expect_matches_reference(GetParam(), make);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, CpuBackendShapes,
    ::testing::Values(Case{{3, 17, 5}, 7, 1}, Case{{3, 17, 5}, 7, 2}, Case{{3, 17, 5}, 7, 3}, Case{{37, 129, 65, 3}, 13, 2},
                      Case{{1, 1}, 1, 2}, Case{{5, 40, 33}, 1, 4}, Case{{784, 512, 512, 10}, 1, 2}, Case{{784, 512, 512, 10}, 10, 2},
                      Case{{784, 512, 512, 10}, 100, 2}, Case{{784, 512, 512, 10}, 100, 1},
                      // Packed panels: widths just under, at and over a panel (64 on AVX-512, 32 on AVX2), rows past
                      // a micro-kernel's 6, more threads than panels.
                      Case{{65, 63, 64, 65, 129}, 13, 2}, Case{{16, 200, 7}, 25, 3}, Case{{100, 33}, 1, 8}),
    [](const ::testing::TestParamInfo<Case>& info) {  // e.g. "w784_512_512_10_batch100_threads2"
      std::string n = "w";
      for (int w : info.param.widths) n += std::to_string(w) + "_";
      return n + "batch" + std::to_string(info.param.batch) + "_threads" + std::to_string(info.param.threads);
    });

namespace {

// Widths that break the packed kernels' vector paths (panels of 16 or 64 neurons, packets of 8 or 16,
// bf16 words of two k): 1, 3, 5, 15, 17, 1023 as inputs (K: odd, shorter than a partial-sum step) and as
// outputs (narrow last panels, panels side by side with one left over).
const std::vector<std::vector<int>> kOddWidths = {{1023, 17, 5}, {3, 15, 1, 1023, 17}, {5, 3, 17, 15}, {17, 1023, 1}, {1, 3}};

// Every batch 1..7: the few-rows kernel (1..4 rows, all of them per call) and the tile kernel past it.
void expect_rows_match_reference(Factory make, Tolerance tol) {
  for (const std::vector<int>& widths : kOddWidths) {
    const Model m = make_seeded_model(widths, 11);
    for (int threads : {1, 2, 3}) {
      auto be = make(threads);
      be->prepare(m, 7);
      for (int batch = 1; batch <= 7; ++batch) {
        const std::vector<float> x = make_seeded_input(batch, m.input_width(), batch);
        std::vector<float> y(static_cast<std::size_t>(batch) * m.output_width(), NAN);
        be->forward(x.data(), y.data(), batch);
        const std::vector<double> ref = reference_forward(m, x.data(), batch);
        const CheckResult r = check_close(y.data(), ref.data(), ref.size(), tol);
        EXPECT_TRUE(r.ok) << be->name() << " widths " << widths.front() << ".." << widths.back() << " (" << widths.size() << ") threads=" << threads
                          << " batch=" << batch << ": " << r.mismatches << " mismatches, " << r.first_mismatches;
      }
    }
  }
}

}  // namespace

TEST(PackedKernels, FewRowsAndTilesMatchTheReferenceOnOddWidths) { expect_rows_match_reference(make_cpu_packed_backend, kToleranceF32); }

TEST(PackedKernels, Bf16FewRowsAndTilesStayWithinTheBf16Tolerance) {
  const Factory make = make_cpu_packed_bf16_backend;
  ASSERT_NE(make(1), nullptr) << "this build has SIMD packets (AVX-512, AVX2, SSE or NEON)";
  expect_rows_match_reference(make, tolerance_for(Precision::BF16));
}

TEST(PackedKernels, ConfigNamesTheKernelOfEachBatchSize) {
  for (Factory make : {make_cpu_packed_backend, make_cpu_packed_bf16_backend}) {
    auto be = make(2);
    ASSERT_NE(be, nullptr);
    be->prepare(make_seeded_model({5, 3}, 1), 8);
    EXPECT_THAT(be->config(), ::testing::StartsWith("threads=2"));
    EXPECT_THAT(be->config(), ::testing::HasSubstr(",kernel[1-4]=few-rows,")) << be->name();
    EXPECT_THAT(be->config(), ::testing::ContainsRegex(",kernel\\[5\\+\\]=tile6x[0-9]+$")) << be->name();
  }
}

TEST(CpuBackend, SmallerBatchThanPreparedGivesTheSameRows) {
  for (Factory make : kFactories) {
  const Model m = make_seeded_model({20, 33, 4}, 1);
  const std::vector<float> x = make_seeded_input(9, 20, 1);
  auto be = make(2);
  be->prepare(m, 9);
  std::vector<float> all(9 * 4), first(3 * 4);
  be->forward(x.data(), all.data(), 9);
  be->forward(x.data(), first.data(), 3);
  // Eigen may pick another kernel for another row count: equal up to rounding, not bit for bit.
  for (int i = 0; i < 12; ++i) EXPECT_NEAR(all[i], first[i], 1e-5 * (1 + std::fabs(all[i]))) << be->name() << " " << i;
  }
}

TEST(CpuBackend, RejectsBatchBeyondPrepared) {
  for (Factory make : kFactories) {
    const Model m = make_seeded_model({4, 4}, 1);
    auto be = make(1);
    be->prepare(m, 2);
    std::vector<float> x(12), y(12);
    EXPECT_THROW(be->forward(x.data(), y.data(), 3), InputError) << be->name();
    EXPECT_THROW(be->forward(x.data(), y.data(), 0), InputError) << be->name();
  }
}

TEST(CpuBackend, NamesItselfAndItsThreads) {
  auto be = make_cpu_backend(3);
  EXPECT_EQ(be->name(), "eigen");
  EXPECT_EQ(be->device(), Device::CPU);
  EXPECT_EQ(be->config(), "threads=3");
  EXPECT_EQ(make_cpu_backend(0)->config(), "threads=" + std::to_string(available_cores()));
  auto packed = make_cpu_packed_backend(1);
  EXPECT_EQ(packed->name(), "eigen-omp-packed");
  EXPECT_EQ(packed->device(), Device::CPU);
  EXPECT_THAT(packed->config(), ::testing::StartsWith("threads=1"));
}

TEST(CpuBackend, Bf16WeightsStayWithinTheBf16Tolerance) {
  auto be = make_cpu_packed_bf16_backend(2);
  ASSERT_NE(be, nullptr) << "this build has bf16 SIMD packets (AVX-512, AVX2 or NEON)";
  EXPECT_EQ(be->name(), "eigen-omp-packed-bf16");
  for (const Case& c : {Case{{784, 512, 512, 10}, 1, 2}, Case{{784, 512, 512, 10}, 100, 2}, Case{{65, 63, 64, 65, 129}, 13, 2}}) {
    const Model m = make_seeded_model(c.widths, 7);
    const std::vector<float> x = make_seeded_input(c.batch, m.input_width(), 3);
    be->prepare(m, c.batch);
    std::vector<float> y(static_cast<std::size_t>(c.batch) * m.output_width(), NAN);
    be->forward(x.data(), y.data(), c.batch);
    const std::vector<double> ref = reference_forward(m, x.data(), c.batch);
    const CheckResult bf16 = check_close(y.data(), ref.data(), ref.size(), tolerance_for(Precision::BF16));
    EXPECT_TRUE(bf16.ok) << bf16.first_mismatches;
    // And it really is bf16: it differs from the fp32 result by more than fp32 rounding somewhere.
    const CheckResult f32 = check_close(y.data(), ref.data(), ref.size(), kToleranceF32);
    EXPECT_FALSE(f32.ok) << "bf16 weights should not match fp32 to 1e-4";
    EXPECT_GT(bf16.max_abs_error, 0.0);
  }
}

TEST(CpuBackend, ForwardAllocatesNothing) {
  if (!MLPBENCH_COUNT_MALLOC) GTEST_SKIP() << "AddressSanitizer owns malloc: allocations are counted in the plain build";
  struct Shape {
    std::vector<int> widths;
    int batch;
  };
  for (const Shape& s : {Shape{{784, 512, 512, 10}, 1}, Shape{{784, 512, 512, 10}, 10}, Shape{{784, 512, 512, 10}, 100},
                         Shape{{784, 512, 512, 10}, 1000}, Shape{{1024, 2048, 2048, 1024}, 100}}) {
    const Model m = make_seeded_model(s.widths, 1);
    const std::vector<float> x = make_seeded_input(s.batch, m.input_width(), 1);
    std::vector<float> y(static_cast<std::size_t>(s.batch) * m.output_width());
    for (Factory make : {make_cpu_backend, make_cpu_packed_backend, make_cpu_packed_bf16_backend}) {
      auto be = make(2);
      ASSERT_NE(be, nullptr);
      be->prepare(m, s.batch);
      be->forward(x.data(), y.data(), s.batch);  // first call: the OpenMP pool starts
      const long before = g_mallocs.load();
      for (int i = 0; i < 3; ++i) be->forward(x.data(), y.data(), s.batch);
      EXPECT_EQ(g_mallocs.load() - before, 0) << be->name() << " width " << s.widths[1] << " batch " << s.batch;
    }
  }
  // The counter itself works: an allocation is seen.
  const long before = g_mallocs.load();
  void* volatile p = std::malloc(64);
  std::free(p);
  EXPECT_GE(g_mallocs.load() - before, 1);
}

// run --cache cold: evict_caches() then a forward. What makes the forward cold is that the team reads and writes a
// buffer twice every last-level cache of the machine together, every 64-byte line of it, so whichever cores it runs
// on, their caches see twice their size go by. Checked here without a clock (how much slower a cold forward is
// depends on the machine: 5.6-6.9x on a Zen 1 VM, 1.2-1.4x on a Zen 3 VM whose L3 streams nearly as fast as its
// DRAM for one core; bench/ BM_forward/<backend>/<batch>/cold measures it): the buffer's size, and that one
// eviction by a team of 1 or 2 threads touches each line of it exactly once.
TEST(CpuEviction, EveryEvictionTouchesEveryLineOfABufferTwiceTheLastLevelCaches) {
  const double llc = all_last_level_caches_bytes();
  std::vector<float>& buffer = cpu_eviction_buffer();
  const double bytes = static_cast<double>(buffer.size()) * sizeof(float);
  if (llc > 0) EXPECT_GE(bytes, 2 * llc - 64) << "last-level caches together: " << llc << " bytes";
  else EXPECT_GE(bytes, 64.0 * (1 << 20)) << "no cache size known: the buffer is 64 MiB";
  const Model m = make_seeded_model({16, 8, 4}, 1);
  for (int threads : {1, 2}) {
    for (Factory make : kFactories) {
      auto be = make(threads);
      be->prepare(m, 1);
      const std::vector<float> before = buffer;
      be->evict_caches();
      std::size_t wrong = 0, first_wrong = buffer.size();
      for (std::size_t i = 0; i < buffer.size(); ++i) {
        const float want = before[i] + (i % 16 == 0 ? 1.0f : 0.0f);  // one float per 64-byte line
        if (buffer[i] != want && wrong++ == 0) first_wrong = i;
      }
      EXPECT_EQ(wrong, 0u) << be->name() << " threads=" << threads << ": first wrong float at " << first_wrong << " of " << buffer.size();
    }
  }
}

// Eviction moves data, never changes it: the outputs after an eviction are the hot ones, bit for bit, for every
// CPU backend and thread count.
TEST(CpuEviction, ColdAndHotOutputsAreIdentical) {
  const Model m = make_seeded_model({37, 129, 65, 3}, 2);
  const std::vector<float> x = make_seeded_input(7, 37, 2);
  std::vector<Factory> factories(std::begin(kFactories), std::end(kFactories));
  for (int threads : {1, 2}) {
    std::vector<std::unique_ptr<Backend>> backends;
    for (Factory make : factories) backends.push_back(make(threads));
    if (auto bf16 = make_cpu_packed_bf16_backend(threads)) backends.push_back(std::move(bf16));
    for (auto& be : backends) {
      be->prepare(m, 7);
      std::vector<float> hot(7 * 3), cold(7 * 3);
      be->forward(x.data(), hot.data(), 7);
      be->forward(x.data(), hot.data(), 7);
      be->evict_caches();
      be->forward(x.data(), cold.data(), 7);
      EXPECT_EQ(cold, hot) << be->name() << " threads=" << threads;
    }
  }
}
