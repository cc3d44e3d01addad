// Every GPU backend against the CPU: the default model at batch 1, 10, 100; odd shapes; widths that break
// vector paths (1, 3, 5, 1023, 4097) at batch sizes 1..17, 64, 100, 130; graph and stream launches bit-identical;
// zero-copy and copy I/O identical; repeated runs identical; precisions within their tolerances. Without a
// usable GPU every test skips, saying why (built without CUDA, no device, driver). In the emulated build
// (MLPBENCH_CUDA=EMU) they all run, on the CUDA emulator, in the thread order ctest sets (MLPBENCH_EMU_ORDER) and
// with its race check; cuBLASLt is not emulated, so its backends are not in that build's lists.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>

#include "mlpbench/backend.hpp"
#include "mlpbench/check.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/machine.hpp"
#include "mlpbench/model.hpp"

using namespace mlpbench;

namespace {

#if defined(MLPBENCH_GPU_EMULATED)
constexpr bool kCublasLt = false;
#else
constexpr bool kCublasLt = true;
#endif

// Our kernels, and cuBLASLt where it runs.
std::vector<const char*> kernels() {
  std::vector<const char*> k = {"cuda-naive", "cuda-tiled", "cuda-gemv", "cuda-fused"};
  if (kCublasLt) k.push_back("cublaslt");
  return k;
}
// Every kernel in every variant: stream launches, a graph per forward, a zero-copy graph.
std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const char* k : kernels()) {
    for (const char* variant : {"", "+graph", "+graph+zerocopy"}) names.push_back(std::string(k) + variant);
  }
  return names;
}

// The named backend at this precision, or nullptr.
std::unique_ptr<Backend> gpu_backend(const std::string& name, Precision p = Precision::FP32,
                                     const std::vector<GpuIo>& io = {GpuIo::Copy, GpuIo::ZeroCopy}) {
  GpuBackends g = make_gpu_backends(p, io);
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

// The CPU's output for a seeded model and input (the gate `run` uses), computed once per shape and batch.
const std::vector<float>& cpu_output(const std::vector<int>& widths, int batch) {
  static std::map<std::pair<std::vector<int>, int>, std::vector<float>> cache;
  auto [it, fresh] = cache.try_emplace({widths, batch});
  if (fresh) {
    const Model m = make_seeded_model(widths, 3);
    auto cpu = make_cpu_backend(0);
    cpu->prepare(m, batch);
    it->second.resize(static_cast<std::size_t>(batch) * m.output_width());
    cpu->forward(make_seeded_input(batch, m.input_width(), batch).data(), it->second.data(), batch);
  }
  return it->second;
}

// `be`, prepared for the largest batch, at each batch size (planned first) against the CPU.
void expect_correct(Backend& be, const std::vector<int>& widths, const std::vector<int>& batches, Tolerance tol = kToleranceF32) {
  const Model m = make_seeded_model(widths, 3);
  be.prepare(m, *std::max_element(batches.begin(), batches.end()));
  for (int batch : batches) {
    const std::vector<float> x = make_seeded_input(batch, m.input_width(), batch);
    std::vector<float> y(static_cast<std::size_t>(batch) * m.output_width(), NAN);
    be.plan(batch);
    be.forward(x.data(), y.data(), batch);
    const CheckResult c = check_close(y.data(), cpu_output(widths, batch).data(), y.size(), tol);
    EXPECT_TRUE(c.ok) << be.name() << " on " << ::testing::PrintToString(widths) << " at batch " << batch << ": " << c.mismatches
                      << " mismatches, max abs error " << c.max_abs_error << ": " << c.first_mismatches;
  }
}

// The outputs of `be` for a seeded model at each batch size.
std::vector<std::vector<float>> outputs(Backend& be, const std::vector<int>& widths, const std::vector<int>& batches) {
  const Model m = make_seeded_model(widths, 2);
  be.prepare(m, *std::max_element(batches.begin(), batches.end()));
  std::vector<std::vector<float>> ys;
  for (int batch : batches) {
    const std::vector<float> x = make_seeded_input(batch, m.input_width(), 9);
    ys.emplace_back(static_cast<std::size_t>(batch) * m.output_width(), NAN);
    be.forward(x.data(), ys.back().data(), batch);
  }
  return ys;
}

// Host memory on pages of its own (a page can be registered once), registered through `be` while it lives.
class RegisteredFloats {
 public:
  RegisteredFloats(Backend& be, std::size_t n) : n_(n) {
    const std::size_t bytes = (n * sizeof(float) + 4095) / 4096 * 4096;
    p_.reset(static_cast<float*>(std::aligned_alloc(4096, bytes)));
    std::fill(p_.get(), p_.get() + n, NAN);
    handle_ = be.register_host(p_.get(), bytes);
  }
  float* data() const { return p_.get(); }
  std::vector<float> values() const { return {p_.get(), p_.get() + n_}; }
  bool registered() const { return handle_ != nullptr; }

 private:
  std::size_t n_;
  std::unique_ptr<float, void (*)(void*)> p_{nullptr, std::free};
  std::shared_ptr<void> handle_;  // unregistered before p_ is freed
};

std::string test_name(std::string n) {  // "cuda-gemv+graph+zerocopy" -> "cuda_gemv_graph_zerocopy"
  for (char& c : n) c = std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return n;
}

}  // namespace

class GpuBackend : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    SKIP_WITHOUT_GPU();
    be_ = gpu_backend(GetParam());
    ASSERT_NE(be_, nullptr) << "the factory offers no backend named " << GetParam();
  }
  std::unique_ptr<Backend> be_;
};

TEST_P(GpuBackend, DefaultModelAtBatch1_10_100) { expect_correct(*be_, {784, 512, 512, 10}, {1, 10, 100}); }

// Small shapes (the sanitizer runs these): widths that are not multiples of 4, one wide, batches past a tile.
TEST_P(GpuBackend, OddShapes) {
  expect_correct(*be_, {37, 129, 65, 3}, {1, 7, 100});
  expect_correct(*be_, {3, 17, 5}, {33});
  expect_correct(*be_, {1, 1}, {1});
  expect_correct(*be_, {33, 63, 128, 10}, {10});  // layer 2's weights at a 4-byte-aligned offset in a packed layout
}

// Widths 1, 3, 5, 1023, 4097 as inputs and outputs (vector tails, unaligned weight rows, several staging chunks,
// split-K over a long K), every batch size from 1 to 17 (each GEMV row count, tile edges) and 64, 100, 130. Wide
// inputs meet narrow outputs there, so that each batch size is cheap (the emulated build runs this in three
// thread orders on the CPU, a warp-level shuffle per row and output); 4097 outputs, and wide against wide, at
// the batch sizes where the row count changes.
TEST_P(GpuBackend, BreaksVectorPaths) {
  std::vector<int> batches;
  for (int b = 1; b <= 17; ++b) batches.push_back(b);
  for (int b : {64, 100, 130}) batches.push_back(b);
  expect_correct(*be_, {37, 129, 65, 3}, batches);
  expect_correct(*be_, {4097, 3, 1023, 5}, batches);
  expect_correct(*be_, {1023, 5, 3, 1}, batches);
  expect_correct(*be_, {1, 3, 5, 1}, batches);
  expect_correct(*be_, {5, 4097, 1}, {1, 16, 17, 130});
  expect_correct(*be_, {1023, 4097, 5}, {3, 17});
  expect_correct(*be_, {4097, 1023, 1}, {1, 16});
}

TEST_P(GpuBackend, LargeModel) {
  expect_correct(*be_, {1024, 2048, 2048, 1024}, {33}, {1e-3, 1e-3});  // K = 2048: longer sums, looser atol
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
  // On a GPU 50 runs cost nothing; the emulator's runs are deterministic within a thread order (ctest runs three).
  const int runs = kCublasLt ? 50 : 1;
  for (int i = 0; i < runs; ++i) {
    be_->forward(x.data(), again.data(), 100);
    ASSERT_EQ(first, again) << "run " << i;
  }
}

// run --cache cold: the L2 flushed (a memset of an L2-sized buffer on the stream) before a forward changes no
// output bit.
TEST_P(GpuBackend, ColdAndHotOutputsAreIdentical) {
  const Model m = make_seeded_model({784, 512, 512, 10}, 1);
  const std::vector<float> x = make_seeded_input(10, 784, 1);
  be_->prepare(m, 10);
  std::vector<float> hot(100), cold(100);
  be_->forward(x.data(), hot.data(), 10);
  for (int i = 0; i < 5; ++i) {
    be_->evict_caches();
    be_->forward(x.data(), cold.data(), 10);
    ASSERT_EQ(cold, hot) << "eviction " << i;
  }
}

TEST_P(GpuBackend, PhaseTimersMeasureEachPhase) {
  const Model m = make_seeded_model({784, 512, 512, 10}, 1);
  const std::vector<float> x = make_seeded_input(10, 784, 1);
  be_->prepare(m, 10);
  const bool zero_copy = be_->io() == "zero-copy";
  for (Phase p : {Phase::H2D, Phase::Compute, Phase::D2H}) {
    const TimedRun t = be_->phase_timer(p, x.data(), 10);
    if (!t) {
      // Only a zero-copy backend whose last layer writes the mapped output itself has no output copy to time.
      EXPECT_TRUE(zero_copy && p == Phase::D2H) << "phase " << static_cast<int>(p);
      continue;
    }
    const double s = t(5);
    EXPECT_GT(s, 0.0);
    if (kCublasLt) {  // on a GPU; the emulator's time means nothing
      EXPECT_LT(s, 1.0);
    }
  }
}

TEST_P(GpuBackend, NameConfigAndIoAgree) {
  const std::string name = GetParam();
  const bool zero_copy = name.find("+zerocopy") != std::string::npos;
  EXPECT_EQ(be_->io(), zero_copy ? "zero-copy" : "copy");
  be_->prepare(make_seeded_model({8, 4}, 1), 2);
  EXPECT_THAT(be_->config(), ::testing::StartsWith(std::string("precision=fp32,io=") + (zero_copy ? "zero-copy" : "copy")));
  // Our multi-kernel backends say whether they launch with programmatic dependent launch (on sm_90+).
  if (name.rfind("cuda-tiled", 0) == 0 || name.rfind("cuda-gemv", 0) == 0) {
    EXPECT_THAT(be_->config(), ::testing::ContainsRegex(",pdl=(on|off)$"));
  }
}

INSTANTIATE_TEST_SUITE_P(All, GpuBackend, ::testing::ValuesIn(backend_names()), [](const auto& info) { return test_name(info.param); });

class GpuKernel : public ::testing::TestWithParam<const char*> {
 protected:
  void SetUp() override { SKIP_WITHOUT_GPU(); }
};

// A CUDA graph replays exactly what stream launches do: same kernels, same order, same bits.
TEST_P(GpuKernel, GraphAndStreamLaunchesAgreeBitForBit) {
  const std::string k = GetParam();
  auto plain = gpu_backend(k), graph = gpu_backend(k + "+graph");
  ASSERT_TRUE(plain && graph) << k;
  EXPECT_EQ(outputs(*plain, {784, 512, 512, 10}, {1, 10, 100}), outputs(*graph, {784, 512, 512, 10}, {1, 10, 100}));
  EXPECT_EQ(outputs(*plain, {37, 129, 65, 3}, {1, 5, 17}), outputs(*graph, {37, 129, 65, 3}, {1, 5, 17}));
}

// Zero-copy I/O changes where input and output live, never the arithmetic.
TEST_P(GpuKernel, ZeroCopyMatchesCopyBitForBit) {
  const std::string k = GetParam();
  auto copy = gpu_backend(k + "+graph"), zero = gpu_backend(k + "+graph+zerocopy");
  ASSERT_TRUE(copy && zero) << k;
  EXPECT_EQ(outputs(*copy, {784, 512, 512, 10}, {1, 10, 100}), outputs(*zero, {784, 512, 512, 10}, {1, 10, 100}));
  EXPECT_EQ(outputs(*copy, {37, 129, 65, 3}, {1, 5, 17}), outputs(*zero, {37, 129, 65, 3}, {1, 5, 17}));
}

// Registered I/O works in the caller's registered buffers, in place; the arithmetic is copy I/O's, bit for bit.
// Given buffers that are not registered it still gives the same bits, through its own mapped buffers, and its
// config() says how many forwards went that way (a run's cells would show it).
TEST_P(GpuKernel, RegisteredMatchesCopyBitForBit) {
  const std::string k = GetParam();
  auto copy = gpu_backend(k + "+graph");
  auto reg = gpu_backend(k + "+graph+registered", Precision::FP32, {GpuIo::Registered});
  ASSERT_TRUE(copy && reg) << k;
  EXPECT_EQ(reg->io(), "registered");
  // Each batch size a different kernel path (GEMV rows, tiles, split-K); the emulated build runs this three times.
  const std::vector<std::pair<std::vector<int>, std::vector<int>>> cases = {{{784, 512, 512, 10}, {1, 17}}, {{37, 129, 65, 3}, {5, 100}}};
  for (const auto& [widths, batches] : cases) {
    const std::vector<std::vector<float>> expected = outputs(*copy, widths, batches);
    const Model m = make_seeded_model(widths, 2);
    reg->prepare(m, batches.back());
    for (std::size_t i = 0; i < batches.size(); ++i) {
      const int batch = batches[i];
      RegisteredFloats x(*reg, static_cast<std::size_t>(batch) * m.input_width()), y(*reg, expected[i].size());
      ASSERT_TRUE(x.registered() && y.registered());
      const std::vector<float> input = make_seeded_input(batch, m.input_width(), 9);
      std::copy(input.begin(), input.end(), x.data());
      for (int run = 0; run < 2; ++run) {  // the second run replays the graph captured for these buffers
        reg->forward(x.data(), y.data(), batch);
        EXPECT_EQ(y.values(), expected[i]) << k << " at batch " << batch << ", run " << run;
      }
    }
    EXPECT_THAT(reg->config(), ::testing::Not(::testing::HasSubstr("own-buffers"))) << "every forward was in place";
    EXPECT_EQ(outputs(*reg, widths, batches), expected) << "not registered: through its own buffers";
    EXPECT_THAT(reg->config(), ::testing::HasSubstr(",own-buffers=" + std::to_string(batches.size()) + " forwards"));
  }
  // Copy I/O has nothing to register; a page registered twice is refused, saying why.
  EXPECT_EQ(copy->register_host(std::vector<float>(4).data(), 16), nullptr);
  RegisteredFloats once(*reg, 1024);
  EXPECT_THAT([&] { reg->register_host(once.data() + 1, 4); },
              ::testing::ThrowsMessage<RuntimeError>(::testing::HasSubstr("give each buffer pages of its own")));
}

INSTANTIATE_TEST_SUITE_P(All, GpuKernel, ::testing::ValuesIn(kernels()), [](const auto& info) { return test_name(info.param); });

#if !defined(MLPBENCH_GPU_EMULATED)
TEST(GpuPrecision, CublasLtTf32AndBf16StayWithinTheirTolerances) {
  SKIP_WITHOUT_GPU();
  for (Precision p : {Precision::TF32, Precision::BF16}) {
    for (const char* name : {"cublaslt", "cublaslt+graph", "cublaslt+graph+zerocopy"}) {
      auto be = gpu_backend(name, p);
      ASSERT_NE(be, nullptr) << name << " " << precision_name(p);
      expect_correct(*be, {784, 512, 512, 10}, {1, 10, 100}, tolerance_for(p));
      EXPECT_THAT(be->config(), ::testing::StartsWith(std::string("precision=") + precision_name(p)));
    }
  }
}
#endif

#if defined(MLPBENCH_GPU_EMULATED)
// A device that holds fewer blocks than the occupancy query said (as under compute-sanitizer; the emulator's
// MLPBENCH_EMU_COOP_BLOCKS_PER_SM) refuses the fused kernel's grid: it runs with fewer, right, and says so.
TEST(GpuFusedGrid, RetriesWithFewerBlocksWhenTheDeviceRefusesTheGrid) {
  for (const char* name : {"cuda-fused", "cuda-fused+graph"}) {
    setenv("MLPBENCH_EMU_COOP_BLOCKS_PER_SM", "1", 1);
    auto be = gpu_backend(name);
    ASSERT_NE(be, nullptr);
    expect_correct(*be, {37, 129, 65, 3}, {1, 7, 100});
    unsetenv("MLPBENCH_EMU_COOP_BLOCKS_PER_SM");
    EXPECT_THAT(be->config(), ::testing::HasSubstr(",grid=fewer (the device refused 264 co-resident blocks)")) << name;
  }
  auto fine = gpu_backend("cuda-fused");
  expect_correct(*fine, {37, 129, 65, 3}, {7});
  EXPECT_THAT(fine->config(), ::testing::Not(::testing::HasSubstr("grid=")));
}
#endif

TEST(GpuFactory, OffersEveryVariantOrSaysWhyNot) {
  const GpuBackends g = make_gpu_backends();
  if (g.backends.empty()) {
    EXPECT_FALSE(g.unavailable.empty());
    return;
  }
  std::vector<std::string> names;
  for (const auto& b : g.backends) names.push_back(b->name());
  std::vector<std::string> expected = backend_names();
  std::sort(names.begin(), names.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(names, expected);
  EXPECT_FALSE(g.gpu_name.empty());
  EXPECT_FALSE(g.driver_version.empty());
  // --gpu-io narrows the variants.
  for (const auto& b : make_gpu_backends(Precision::FP32, {GpuIo::ZeroCopy}).backends) EXPECT_EQ(b->io(), "zero-copy") << b->name();
  EXPECT_EQ(make_gpu_backends(Precision::FP32, {GpuIo::Copy}).backends.size(), 2 * kernels().size());
  // Our kernels are fp32 only: at tf32 the factory says so instead of offering them.
  const GpuBackends tf32 = make_gpu_backends(Precision::TF32);
  EXPECT_EQ(tf32.backends.size(), kCublasLt ? 3u : 0u);
  EXPECT_THAT(tf32.skipped, ::testing::Contains(::testing::HasSubstr("cuda-naive (every variant) left out: fp32 only")));
  EXPECT_EQ(tf32.skipped.size(), kCublasLt ? 4u : 5u);
  // The emulated build says so, and that cuBLASLt is not there.
  EXPECT_EQ(g.emulator.empty(), kCublasLt);
  if (!kCublasLt) {
    EXPECT_THAT(g.emulator, ::testing::HasSubstr("emulator"));
    EXPECT_THAT(g.skipped, ::testing::ElementsAre(::testing::HasSubstr("cublaslt (every variant) left out: the CUDA emulator does not emulate cuBLASLt")));
  }
}

TEST(GpuRoof, MeasuresEveryFigureOrIsAbsentWithoutAGpu) {
  const GpuBackends g = make_gpu_backends();
  const std::optional<GpuRoof> r = measure_gpu_roof();
  if (g.backends.empty() || !g.emulator.empty()) {
    EXPECT_FALSE(r) << "no GPU (or an emulated one), no roof";
    return;
  }
  ASSERT_TRUE(r);
  for (double v : {r->fp32_tflops, r->fp32_fma_tflops, r->l2_gbs, r->hbm_gbs, r->h2d_gbs, r->launch_us, r->graph_us}) EXPECT_GT(v, 0);
  EXPECT_EQ(r->name, g.gpu_name);
}
