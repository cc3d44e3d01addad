// The runner's steps one at a time, with fake backends: the gate, the GPU and CPU line-ups, measuring a
// backend and a cell, the reference column, and run_benchmark putting them together (a fake "GPU" included,
// so the GPU path runs here without one). Timings are never asserted; only which backend, which source, what
// was recorded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>

#include "mlpbench/errors.hpp"
#include "mlpbench/runner.hpp"
#include "mlpbench/warnings.hpp"
#include "test_util.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;
using ::testing::StartsWith;

namespace {

// What a backend did, kept apart from it: run_benchmark destroys the backends it is given.
struct Counts {
  int forwards = 0, evictions = 0, timer_passes = 0;
};

// What a fake backend does besides computing the right output.
struct Fake {
  Device device = Device::GPU;
  int wrong_at = 0;           // batch size whose output is off by 1
  bool throws = false;        // prepare() throws, as a backend without its device would
  int delay_us = 0;           // each forward sleeps this long first
  bool device_timer = false;  // a compute and an H2D timer, as a GPU backend has
  bool flaky = false;         // every other forward's output is one ulp off (within the gate's tolerance): not deterministic
  Counts* counts = nullptr;   // when set: what it did is counted there too
};

// A backend computed by the plain CPU backend, named and placed as asked, so every branch of the runner can be
// reached without a GPU.
class FakeBackend final : public Backend {
 public:
  FakeBackend(std::string name, Fake f) : name_(std::move(name)), f_(f), inner_(make_cpu_backend(1)) {}
  std::string name() const override { return name_; }
  Device device() const override { return f_.device; }
  std::string config() const override { return "fake"; }
  std::string io() const override { return f_.device == Device::GPU ? "copy" : ""; }
  void prepare(const Model& m, int max_batch) override {
    if (f_.throws) throw RuntimeError(name_ + ": no device for this fake");
    inner_->prepare(m, max_batch);
  }
  void forward(const float* x, float* y, int batch) override {
    if (f_.delay_us > 0) std::this_thread::sleep_for(std::chrono::microseconds(f_.delay_us));
    inner_->forward(x, y, batch);
    if (batch == f_.wrong_at) y[0] += 1.0f;
    if (f_.flaky && forwards % 2 == 1) y[0] = std::nextafter(y[0], INFINITY);
    ++forwards;
    if (f_.counts) ++f_.counts->forwards;
  }
  void evict_caches() override {
    ++evictions;
    if (f_.counts) ++f_.counts->evictions;
    if (evict_ms > 0) std::this_thread::sleep_for(std::chrono::milliseconds(evict_ms));
  }
  int evict_ms = 0;  // each eviction sleeps this long
  int forwards = 0, evictions = 0;
  TimedRun phase_timer(Phase phase, const float* x, int batch) override {
    (void)x, (void)batch;
    if (!f_.device_timer || phase == Phase::D2H) return {};
    return [counts = f_.counts](int passes) {  // 1 us a pass, as a device event timer would say
      if (counts) counts->timer_passes += passes;
      return passes * 1e-6;
    };
  }

 private:
  std::string name_;
  Fake f_;
  std::unique_ptr<Backend> inner_;
};

std::unique_ptr<Backend> fake(const std::string& name, Fake f = {}) { return std::make_unique<FakeBackend>(name, f); }

const Model& small_model() {
  static const Model m = make_seeded_model({37, 129, 65, 3}, 1);
  return m;
}

RunConfig quick_run(std::vector<int> batches) {
  RunConfig c;
  c.batch_sizes = normal_batch_sizes(std::move(batches));
  c.threads = {1};
  c.quick = true;
  c.reference_file = std::string(MLPBENCH_SOURCE_DIR) + "/results/reference.json";
  return c;
}

// 10 J a read: an energy counter that always moves.
class TickingCounter final : public EnergyCounter {
 public:
  std::optional<double> joules() override { return j_ += 10; }
  std::string unavailable() const override { return ""; }

 private:
  double j_ = 0;
};

}  // namespace

TEST(Gate, InputsAreSeededAndExpectedOutputsMatchTheDoubleReference) {
  const GateInputs g = make_gate_inputs(small_model(), {1, 7}, 5);
  ASSERT_EQ(g.batch_sizes, (std::vector<int>{1, 7}));
  ASSERT_EQ(g.inputs.size(), 2u);
  EXPECT_EQ(g.inputs[1], make_seeded_input(7, 37, 5));
  const std::vector<double> ref = reference_forward(small_model(), g.inputs[1].data(), 7);
  EXPECT_TRUE(check_close(g.expected[1].data(), ref.data(), ref.size(), kToleranceF32).ok);
}

// The gate every backend passes before it is timed (run, infer and bench/): a backend whose output is off
// by more than its precision's tolerance is named with the batch size and never passes.
TEST(Gate, RejectsAWrongBackendAndPassesARightOne) {
  const GateInputs g = make_gate_inputs(small_model(), {1, 10}, 1);
  FakeBackend wrong("off-by-one", Fake{Device::CPU, 10});
  EXPECT_THAT(check_backend(wrong, small_model(), g), StartsWith("wrong at batch 10 (max abs error 1"));
  auto right = make_cpu_packed_backend(1);
  EXPECT_EQ(check_backend(*right, small_model(), g), "");
}

TEST(GateGpu, LeavesOutWrongAndThrowingBackendsWithWhy) {
  const GateInputs g = make_gate_inputs(small_model(), {1, 10}, 1);
  std::vector<std::unique_ptr<Backend>> gpu;
  gpu.push_back(fake("good"));
  gpu.push_back(fake("wrong", Fake{Device::GPU, 10}));
  gpu.push_back(fake("absent", Fake{Device::GPU, 0, true}));
  std::vector<std::string> notes;
  const std::vector<Backend*> ok = gate_gpu_backends(gpu, small_model(), g, notes);
  ASSERT_EQ(ok.size(), 1u);
  EXPECT_EQ(ok[0]->name(), "good");
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_THAT(notes[0], StartsWith("GPU backend wrong left out, not timed: wrong at batch 10"));
  EXPECT_EQ(notes[1], "GPU backend absent left out, not timed: absent: no device for this fake");
}

TEST(CpuLineUp, EveryBackendAtEveryThreadCountAndTheCountTheMemoryCheckUses) {
  RunConfig c;
  c.threads = {1, 2};
  std::vector<std::string> notes;
  std::vector<std::string> names;
  for (const auto& b : make_cpu_backends(c, notes)) names.push_back(b->name() + "/" + std::to_string(b->threads()));
  EXPECT_EQ(names, (std::vector<std::string>{"eigen/1", "eigen-omp-packed/1", "eigen/2", "eigen-omp-packed/2"}));
  EXPECT_EQ(cpu_backend_count(c), 5) << "and the reference backend";
  c.precision = Precision::BF16;
  const auto bf16 = make_cpu_backends(c, notes);
  if (make_cpu_packed_bf16_backend(1)) {
    EXPECT_EQ(bf16.size(), 6u);
    EXPECT_EQ(bf16[2]->name(), "eigen-omp-packed-bf16");
  } else {
    EXPECT_EQ(bf16.size(), 4u);
    EXPECT_THAT(notes, ::testing::Contains(HasSubstr("no bf16 SIMD packets")));
  }
}

TEST(CpuLineUp, AWrongCpuBackendEndsTheRun) {
  const GateInputs g = make_gate_inputs(small_model(), {1}, 1);
  std::vector<std::unique_ptr<Backend>> cpu;
  cpu.push_back(fake("fine", Fake{Device::CPU}));
  cpu.push_back(fake("broken", Fake{Device::CPU, 1}));
  try {
    gate_cpu_backends(cpu, small_model(), g);
    FAIL() << "no exception";
  } catch (const RuntimeError& e) {
    EXPECT_THAT(e.what(), StartsWith("CPU backend broken (fake) is wrong at batch 1"));
  }
}

TEST(Measure, EveryBackendAtEveryBatchInRoundsWithItsDeviceSplitAndADriftProbePerRound) {
  const GateInputs g = make_gate_inputs(small_model(), {2, 4}, 1);
  FakeBackend gpu("timed", Fake{Device::GPU, 0, false, 0, true}), cpu("plain", Fake{Device::CPU});
  gpu.prepare(small_model(), 4);
  cpu.prepare(small_model(), 4);
  const MeasureBudget budget = measure_budget(/*quick=*/true, 4);
  std::vector<double> drift;
  int probes = 0;
  std::vector<std::pair<std::string, bool>> logged;
  const auto by_mode = measure_all({&cpu, &gpu}, g, 3, {CacheMode::Hot}, budget, [&] { return 10.0 + probes++; }, drift,
                                   [&](const std::string& l, bool lasting) { logged.emplace_back(l, lasting); });
  ASSERT_EQ(by_mode.size(), 1u);
  const auto& runs = by_mode[0];
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(cpu.evictions + gpu.evictions, 0) << "hot: no eviction";
  for (const auto& at_batch : runs) {
    ASSERT_EQ(at_batch.size(), 2u);
    EXPECT_EQ(at_batch[0].backend, "plain");
    EXPECT_FALSE(at_batch[0].split) << "no device timers: no split";
    const BackendRun& run = at_batch[1];
    EXPECT_EQ(run.backend, "timed");
    EXPECT_EQ(run.config, "fake");
    EXPECT_EQ(run.io, "copy");
    EXPECT_GT(run.stats.samples, 0);
    ASSERT_TRUE(run.split);
    EXPECT_DOUBLE_EQ(run.split->compute_ms, 1e-3);  // the fake device timer: 1 us a pass
    EXPECT_DOUBLE_EQ(run.split->h2d_ms, 1e-3);
    EXPECT_EQ(run.split->d2h_ms, 0) << "no D2H timer: nothing to time";
    EXPECT_EQ(run.cache, CacheMode::Hot);
  }
  EXPECT_EQ(static_cast<int>(drift.size()), probes);
  EXPECT_GE(probes, budget.rounds.rounds) << "one probe after every round";
  const auto rounds_logged = std::count_if(logged.begin(), logged.end(), [](const auto& l) { return l.second && l.first.rfind("round ", 0) == 0; });
  EXPECT_EQ(rounds_logged, probes) << "a lasting line per round";
}

TEST(Measure, TheCellsHeadlineIsTheFastestBackend) {
  const GateInputs g = make_gate_inputs(small_model(), {2}, 1);
  FakeBackend slow("slow", Fake{Device::CPU, 0, false, 2000}), fast("fast", Fake{Device::CPU});
  slow.prepare(small_model(), 2);
  fast.prepare(small_model(), 2);
  std::vector<double> drift;
  auto runs = measure_all({&slow, &fast}, g, 3, {CacheMode::Hot}, measure_budget(true, 2), nullptr, drift, nullptr);
  EXPECT_TRUE(drift.empty()) << "no probe given, none run";
  const Cell c = cell_of(std::move(runs[0][0]));
  EXPECT_EQ(c.backend, "fast");  // 2 ms of sleep against microseconds of arithmetic
  ASSERT_EQ(c.runs.size(), 2u);
  EXPECT_EQ(c.runs[0].backend, "slow");
}

TEST(Measure, BothCacheModesTimeEveryCellTwiceAndEvictBeforeEveryColdPassOnly) {
  const GateInputs g = make_gate_inputs(small_model(), {2, 4}, 1);
  FakeBackend gpu("timed", Fake{Device::GPU, 0, false, 0, true}), cpu("plain", Fake{Device::CPU});
  gpu.prepare(small_model(), 4);
  cpu.prepare(small_model(), 4);
  std::vector<double> drift;
  const auto runs = measure_all({&cpu, &gpu}, g, 3, {CacheMode::Hot, CacheMode::Cold}, measure_budget(true, 8), nullptr, drift, nullptr);
  ASSERT_EQ(runs.size(), 2u);
  int cold_samples = 0;
  for (std::size_t m = 0; m < 2; ++m) {
    ASSERT_EQ(runs[m].size(), 2u);
    for (const auto& at_batch : runs[m]) {
      ASSERT_EQ(at_batch.size(), 2u);
      for (const BackendRun& run : at_batch) {
        EXPECT_EQ(run.cache, m == 0 ? CacheMode::Hot : CacheMode::Cold);
        EXPECT_GT(run.stats.samples, 0);
        if (m == 1) cold_samples += run.stats.samples;
      }
      EXPECT_EQ(at_batch[1].split.has_value(), m == 0) << "the device split is of hot passes only";
    }
  }
  // Every cold pass (timed samples and warm-up alike) is preceded by one eviction; hot passes never are. A cold
  // sample is one eviction and one timed forward: never calibrated to more passes.
  for (const auto& at_batch : runs[1]) {
    for (const BackendRun& run : at_batch) EXPECT_EQ(run.stats.passes_per_sample, 1) << run.backend;
  }
  EXPECT_GE(cpu.evictions + gpu.evictions, cold_samples);
  EXPECT_LT(cpu.evictions, cpu.forwards);
  EXPECT_GT(cpu.evictions, 0);
  EXPECT_GT(gpu.evictions, 0);
}

TEST(Measure, AColdClockEvictsBeforeEachPassAndTimesOnlyThePass) {
  FakeBackend be("plain", Fake{Device::CPU});
  be.evict_ms = 100;
  int passes = 0;
  const TimedRun clock = cold_clock(be, [&] {
    ++passes;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  const double s = clock(3);
  EXPECT_EQ(passes, 3);
  EXPECT_EQ(be.evictions, 3);
  EXPECT_GE(s, 3e-3);
  EXPECT_LT(s, 0.3) << "the 3 x 100 ms of eviction are not in the time";
}

TEST(Floors, ACellThatBeatsTheRoofIsCountedAndItsFloorNeverExceedsIt) {
  Table t;
  Cell fast = mlpbench::testing::reference_cell(0.001);
  fast.source = Source::Measured;
  fast.threads = 1;
  t.set("CPU", 1, fast);
  t.set("GPU", 1, mlpbench::testing::reference_cell(30));  // reference cells get no floor
  MachineRoof slow_roof;
  slow_roof.cpu.cores = 1;
  slow_roof.cpu.l2_bytes_per_core = 1 << 20;
  slow_roof.cpu.l3_bytes = 8 << 20;
  slow_roof.cpu.by_threads.push_back({1, 0.001, 0.001, 0.001, 0.001, 0, 0});  // 1 MFLOP/s: every cell beats it
  EXPECT_EQ(cells_beating_floor(t, slow_roof, small_model(), Precision::FP32), 1);
  apply_floors(t, slow_roof, small_model(), Precision::FP32);
  EXPECT_EQ(t.find("CPU", 1)->efficiency(), 1.0);
  EXPECT_THAT(t.find("CPU", 1)->warnings, ::testing::Contains(HasSubstr("faster than its floor")));
  EXPECT_EQ(t.find("GPU", 1)->floor_ms, 0);
  MachineRoof fast_roof = slow_roof;
  fast_roof.cpu.by_threads[0] = {1, 1e6, 1e6, 1e6, 1e6, 0, 0};
  EXPECT_EQ(cells_beating_floor(t, fast_roof, small_model(), Precision::FP32), 0);
}

TEST(Reference, FillsOnlyTheBatchSizesItHoldsAsReferenceCellsWithWhy) {
  Results ref;
  ref.table.set("GPU", 1, mlpbench::testing::reference_cell(30));
  ref.table.set("GPU", 10, mlpbench::testing::reference_cell(100));
  Table t;
  fill_reference(t, "GPU", {1, 2, 10}, ref, "ref.json", "no GPU in this test");
  ASSERT_TRUE(t.find("GPU", 1) && t.find("GPU", 10));
  EXPECT_FALSE(t.find("GPU", 2));
  const Cell* c = t.find("GPU", 10);
  EXPECT_EQ(c->source, Source::Reference);
  EXPECT_EQ(c->median_ms(), 100);
  EXPECT_EQ(c->reference_file, "ref.json");
  EXPECT_EQ(c->backend, "illustrative");
  EXPECT_EQ(c->provenance.kind, "illustrative");
  EXPECT_EQ(c->why, "no GPU in this test");
}

TEST(Reference, AMeasuredRunAsTheReferenceCarriesWhereAndWhenItWasMeasured) {
  Results h200;
  Cell g = mlpbench::testing::reference_cell(0.012);
  g.source = Source::Measured;
  g.backend = "cuda-gemv+graph+zerocopy";
  h200.table.set("GPU", 10, g);
  h200.machine.gpu_recorded = true;
  h200.machine.gpu = GpuInfo{"NVIDIA H200", "13.0", "13.0", Json::object()};
  h200.build.git_commit = "0123456789abcdef";
  h200.run.started_utc = "2026-11-29T12:00:00Z";
  Table t;
  fill_reference(t, "GPU", {10}, h200, "results/h200.json", "no NVIDIA driver");
  const Cell* c = t.find("GPU", 10);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->source, Source::Reference);
  EXPECT_EQ(c->backend, "cuda-gemv+graph+zerocopy");
  EXPECT_EQ(c->provenance.kind, "measured");
  EXPECT_EQ(c->provenance.machine, "NVIDIA H200");
  EXPECT_EQ(c->provenance.commit, "0123456789abcdef");
  EXPECT_EQ(c->provenance.date, "2026-11-29T12:00:00Z");
  // Read back from our own results file: the reference's reference keeps its provenance.
  Results once;
  once.table = t;
  Table again;
  fill_reference(again, "GPU", {10}, once, "run.json", "still no driver");
  EXPECT_EQ(again.find("GPU", 10)->provenance.machine, "NVIDIA H200");
}

TEST(Reference, FitsOnlyTheSameModelAndPrecision) {
  Results ref;
  ref.model.layers = {37, 129, 65, 3};
  EXPECT_EQ(reference_misfit(ref, small_model(), Precision::FP32, "r.json"), "") << "no precision recorded: fp32";
  EXPECT_EQ(reference_misfit(ref, small_model(), Precision::BF16, "r.json"), "no reference for 37,129,65,3 at bf16 in r.json (it holds 37,129,65,3 at fp32)");
  ref.model.layers = {784, 512, 512, 10};
  EXPECT_EQ(reference_misfit(ref, small_model(), Precision::FP32, "r.json"), "no reference for 37,129,65,3 at fp32 in r.json (it holds 784,512,512,10 at fp32)");
  ref.model.layers = {37, 129, 65, 3};
  ref.run.precision = "bf16";
  EXPECT_EQ(reference_misfit(ref, small_model(), Precision::BF16, "r.json"), "");
  // A run measured with --cache cold never stands in for hot cells.
  Cell cold;
  cold.source = Source::Measured;
  cold.stats.median_ms = 1;
  cold.cache = CacheMode::Cold;
  ref.table.set("GPU", 1, cold);
  EXPECT_EQ(reference_misfit(ref, small_model(), Precision::BF16, "r.json"), "r.json holds cold cells (--cache cold), and a reference stands in for hot ones");
}

TEST(Reference, ReadWhenGivenOrNeededOnly) {
  RunConfig c = quick_run({1});
  EXPECT_TRUE(read_reference(c, false)) << "given: read, so a bad file fails at once";
  c.reference_file = "";
  EXPECT_FALSE(read_reference(c, false));
  c.reference_file = "/nonexistent/reference.json";
  EXPECT_THROW(read_reference(c, false), InputError);
}

TEST(RunBenchmark, AFakeGpuColumnIsMeasuredCheckedAndMeteredInTheSameRoundsAsTheCpu) {
  RunConfig config = quick_run({1, 3});
  std::vector<std::string> lasting;
  config.log = [&](const std::string& l, bool keep) {
    if (keep) lasting.push_back(l);
  };
  RunContext ctx;
  ctx.gpu.backends.push_back(fake("gpu-right", Fake{Device::GPU, 0, false, 0, true}));
  ctx.gpu.backends.push_back(fake("gpu-wrong", Fake{Device::GPU, 3}));
  ctx.gpu.gpu_name = "Fake GPU";
  TickingCounter counter;
  ctx.energy = &counter;
  const Results r = run_benchmark(small_model(), config, std::move(ctx));
  for (int b : {1, 3}) {
    const Cell* g = r.table.find("GPU", b);
    ASSERT_NE(g, nullptr);
    EXPECT_EQ(g->source, Source::Measured);
    EXPECT_EQ(g->backend, "gpu-right");
    ASSERT_EQ(g->runs.size(), 1u) << "the wrong backend is not timed";
    ASSERT_TRUE(g->split);
    ASSERT_TRUE(g->energy);
    EXPECT_GT(g->energy->joules_per_inference, 0);
    const Cell* c = r.table.find("CPU", b);
    ASSERT_NE(c, nullptr);
    EXPECT_EQ(c->source, Source::Measured);
  }
  EXPECT_THAT(r.notes, ::testing::Contains(StartsWith("GPU backend gpu-wrong left out, not timed: wrong at batch 3")));
  EXPECT_TRUE(r.not_measured.empty());
  EXPECT_EQ(gpu_text(r.machine), "Fake GPU");
  EXPECT_EQ(r.machine.threads, 1);
  ASSERT_TRUE(r.run.drift) << "the drift probe ran between rounds";
  EXPECT_GE(r.run.drift->rounds_ms.size(), 3u);
  EXPECT_GT(r.run.drift->median_ms, 0);
  // A log gets a line per round and one per finished cell.
  EXPECT_THAT(lasting, ::testing::Contains(StartsWith("round 1 done")));
  EXPECT_THAT(lasting, ::testing::Contains(StartsWith("GPU batch 3: ")));
  EXPECT_THAT(lasting, ::testing::Contains(StartsWith("CPU batch 1: ")));
}

// The GPU's clocks through a fake NVML: read after the gate (an idle 345 MHz here), then once right after each GPU
// slice (1980 MHz, the GPU busy), never after a CPU slice, and at the end. The clock warning judges the readings
// while timing, so the idle start does not warn.
TEST(RunBenchmark, GpuClocksAreReadAfterTheGateAndAfterEachGpuSlice) {
  RunConfig config = quick_run({1, 3});
  Counts gpu_counts;
  RunContext ctx;
  ctx.gpu.backends.push_back(fake("gpu-right", Fake{Device::GPU, 0, false, 0, false, false, &gpu_counts}));
  int reads = 0, forwards_at_first_read = -1;
  ctx.clocks = [&] {
    if (reads++ == 0) forwards_at_first_read = gpu_counts.forwards;
    return GpuClocks{true, reads == 1 ? 345u : 1980u, 1980, 0, ""};
  };
  Results r = run_benchmark(small_model(), config, std::move(ctx));
  EXPECT_GT(forwards_at_first_read, 0) << "the first reading comes after the gate ran the GPU backend";
  std::size_t gpu_slices = 0;
  for (int b : {1, 3}) gpu_slices += r.table.find("GPU", b)->runs.at(0).stats.round_medians_ms.size();
  ASSERT_TRUE(r.machine.gpu_clocks_mhz);
  const GpuClockReadings& c = *r.machine.gpu_clocks_mhz;
  EXPECT_EQ(c.start, 345u);
  EXPECT_EQ(c.end, 1980u);
  EXPECT_EQ(c.max, 1980u);
  ASSERT_TRUE(c.timed);
  EXPECT_EQ(static_cast<std::size_t>(c.timed->readings), gpu_slices) << "one reading a GPU slice, none after the CPU's";
  EXPECT_EQ(c.timed->median, 1980u);
  EXPECT_FALSE(c.timed->reasons);
  EXPECT_EQ(reads, c.timed->readings + 2) << "and one after the gate, one at the end";
  add_warnings(r, config.threads, 25);
  for (const std::string& w : r.warnings) EXPECT_THAT(w, ::testing::Not(HasSubstr("GPU SM clock")));
}

TEST(RunBenchmark, WithoutAGpuTheColumnComesFromTheReferenceWithTheReason) {
  const Model m = make_seeded_model(kDefaultLayers, 1);
  RunConfig config = quick_run({1, 10});
  RunContext ctx;
  ctx.gpu.unavailable = "no GPU in this test";
  const Results r = run_benchmark(m, config, std::move(ctx));
  EXPECT_EQ(r.table.find("CPU", 10)->source, Source::Measured);
  const Cell* g = r.table.find("GPU", 10);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->source, Source::Reference);
  EXPECT_EQ(g->reference_file, config.reference_file);
  EXPECT_EQ(g->why, "no GPU in this test");
  EXPECT_EQ(r.not_measured.at("GPU"), "no GPU in this test");
  EXPECT_EQ(gpu_text(r.machine), "none");
}

TEST(RunBenchmark, EveryGpuBackendWrongLeavesTheColumnToTheReferenceOrFailsWithDeviceGpu) {
  RunContext ctx;
  ctx.gpu.backends.push_back(fake("gpu-wrong", Fake{Device::GPU, 1}));
  RunConfig config = quick_run({1});
  config.batch_sizes = {1, 10};
  const Results r = run_benchmark(small_model(), config, std::move(ctx));
  EXPECT_THAT(r.not_measured.at("GPU"), StartsWith("every GPU backend failed its check against the CPU (the notes say how); no reference for"));
  EXPECT_THAT(r.notes, ::testing::Contains(StartsWith("GPU backend gpu-wrong left out, not timed: wrong at batch 1")));
  // The shipped reference holds 784-512-512-10, not this model: no GPU cells, and the reason says so.
  EXPECT_FALSE(r.table.find("GPU", 10));
  RunContext gpu_only;
  gpu_only.gpu.backends.push_back(fake("gpu-wrong", Fake{Device::GPU, 1}));
  config.device = "gpu";
  EXPECT_THROW(run_benchmark(small_model(), config, std::move(gpu_only)), RuntimeError);
}

TEST(RunBenchmark, AReferenceForAnotherModelLeavesTheColumnEmptyAndSaysWhy) {
  RunConfig config = quick_run({1, 10});
  RunContext ctx;
  ctx.gpu.unavailable = "no GPU in this test";
  const Results r = run_benchmark(small_model(), config, std::move(ctx));
  EXPECT_FALSE(r.table.find("GPU", 10));
  EXPECT_EQ(r.not_measured.at("GPU"), "no GPU in this test; no reference for 37,129,65,3 at fp32 in " + config.reference_file +
                                          " (it holds 784,512,512,10 at fp32)");
}

TEST(RunBenchmark, DeviceGpuTakesTheCpuColumnFromTheReference) {
  const Model m = make_seeded_model(kDefaultLayers, 1);
  RunConfig config = quick_run({1, 10, 100});
  config.device = "gpu";
  RunContext ctx;
  ctx.gpu.backends.push_back(fake("gpu"));
  const Results r = run_benchmark(m, config, std::move(ctx));
  EXPECT_EQ(r.table.find("CPU", 10)->source, Source::Reference);
  EXPECT_EQ(r.table.find("GPU", 10)->source, Source::Measured);
  EXPECT_EQ(r.not_measured.at("CPU"), "--device gpu");
}

// On a CUDA emulator every GPU backend is gated as always, then each that passed is run at every batch size in every
// cache mode, outside the timed rounds: two forwards (cold: an eviction before each) and one pass of each phase timer.
// The cells say emulated, hold every backend that ran and no time, no energy, no split.
TEST(RunBenchmark, EmulatedGpuBackendsAreGatedAndRunButNeverTimed) {
  RunConfig config = quick_run({1, 3});
  config.cache = {CacheMode::Hot, CacheMode::Cold};
  std::vector<std::string> lasting;
  config.log = [&](const std::string& l, bool keep) {
    if (keep) lasting.push_back(l);
  };
  RunContext ctx;
  Counts ca, cb;
  ctx.gpu.backends.push_back(fake("gpu-a", Fake{Device::GPU, 0, false, 0, true, false, &ca}));
  ctx.gpu.backends.push_back(fake("gpu-wrong", Fake{Device::GPU, 3}));
  ctx.gpu.backends.push_back(fake("gpu-b", Fake{Device::GPU, 0, false, 0, false, false, &cb}));
  ctx.gpu.gpu_name = "Fake GPU";
  ctx.gpu.emulator = mlpbench::testing::kEmulator;
  TickingCounter counter;
  ctx.energy = &counter;
  const Results r = run_benchmark(small_model(), config, std::move(ctx));
  ASSERT_TRUE(r.cold);
  for (const Table* t : tables_of(r)) {
    for (int batch : {1, 3}) {
      const Cell* g = t->find("GPU", batch);
      ASSERT_NE(g, nullptr);
      EXPECT_EQ(g->source, Source::Emulated);
      EXPECT_EQ(g->cache, t == &r.table ? CacheMode::Hot : CacheMode::Cold);
      EXPECT_EQ(g->backend, "gpu-a");
      EXPECT_EQ(g->emulator, mlpbench::testing::kEmulator);
      EXPECT_EQ(g->why, emulated_why(mlpbench::testing::kEmulator));
      ASSERT_EQ(g->runs.size(), 2u) << "every backend that passed, the wrong one left out";
      EXPECT_EQ(g->runs[0].backend, "gpu-a");
      EXPECT_EQ(g->runs[1].backend, "gpu-b");
      for (const BackendRun& run : g->runs) EXPECT_EQ(run.stats.samples, 0);
      EXPECT_EQ(g->stats.samples, 0);
      EXPECT_EQ(g->median_ms(), 0);
      EXPECT_FALSE(g->energy);
      EXPECT_FALSE(g->split);
      EXPECT_EQ(t->find("CPU", batch)->source, Source::Measured);
    }
  }
  // Per backend: the gate's forward per batch size, then two per batch size and mode; evictions only before cold ones.
  EXPECT_EQ(ca.forwards, 2 + 2 * 2 * 2) << "an emulated backend is never timed";
  EXPECT_EQ(cb.forwards, 2 + 2 * 2 * 2);
  EXPECT_EQ(ca.evictions, 2 * 2);
  EXPECT_EQ(cb.timer_passes, 0);
  EXPECT_EQ(ca.timer_passes, 2 * 2 * 2) << "its compute and H2D timers, one pass each, at each batch size and mode";
  EXPECT_THAT(r.notes, ::testing::Contains(StartsWith("GPU backend gpu-wrong left out, not timed: wrong at batch 3")));
  EXPECT_THAT(lasting, ::testing::Contains("GPU batch 3: emulated, not timed (2 backends ran)"));
  EXPECT_THAT(lasting, ::testing::Contains("GPU batch 1 cold: emulated, not timed (2 backends ran)"));
  EXPECT_THAT(lasting, ::testing::Contains(StartsWith("CPU batch 3: ")));
  EXPECT_EQ(gpu_text(r.machine), std::string("Fake GPU, emulated on the CPU (") + mlpbench::testing::kEmulator + ")");
  EXPECT_TRUE(r.not_measured.empty());
}

TEST(RunBenchmark, AnEmulatedBackendWhoseRerunGivesOtherBitsFailsTheRunNamingIt) {
  RunContext ctx;
  ctx.gpu.backends.push_back(fake("gpu-steady"));
  ctx.gpu.backends.push_back(fake("gpu-flaky", Fake{Device::GPU, 0, false, 0, false, true}));
  ctx.gpu.emulator = mlpbench::testing::kEmulator;
  try {
    run_benchmark(small_model(), quick_run({1, 3}), std::move(ctx));
    FAIL() << "a backend that gives other bits on a rerun must fail the run";
  } catch (const RuntimeError& e) {
    EXPECT_THAT(e.what(), HasSubstr("GPU backend gpu-flaky on the CUDA emulator gave other bits at batch 1 (hot)"));
  }
}

// --device gpu on an emulator: the CPU column from the reference as always, the GPU column emulated; nothing timed.
TEST(RunBenchmark, DeviceGpuOnAnEmulatorTakesTheCpuFromTheReferenceAndTimesNothing) {
  const Model m = make_seeded_model(kDefaultLayers, 1);
  RunConfig config = quick_run({1, 10});
  config.device = "gpu";
  RunContext ctx;
  Counts counts;
  ctx.gpu.backends.push_back(fake("gpu", Fake{Device::GPU, 0, false, 0, false, false, &counts}));
  ctx.gpu.emulator = mlpbench::testing::kEmulator;
  const Results r = run_benchmark(m, config, std::move(ctx));
  EXPECT_EQ(r.table.find("CPU", 10)->source, Source::Reference);
  EXPECT_EQ(r.table.find("GPU", 10)->source, Source::Emulated);
  EXPECT_EQ(r.not_measured.at("CPU"), "--device gpu");
  EXPECT_FALSE(r.run.drift) << "no rounds ran";
  EXPECT_EQ(counts.forwards, 2 + 2 * 2);
}

// Floors are for measured cells: an emulated one gets none, whatever the roof.
TEST(Floors, AnEmulatedCellGetsNoFloor) {
  Table t;
  t.set("GPU", 1, mlpbench::testing::emulated_test_cell());
  MachineRoof roof;
  GpuRoof g;
  g.fp32_tflops = g.fp32_fma_tflops = 2e-9;
  g.l2_bytes = 1;
  g.l2_gbs = g.hbm_gbs = g.h2d_gbs = 0.002;
  g.launch_us = 1;
  roof.gpu = g;
  EXPECT_EQ(cells_beating_floor(t, roof, small_model(), Precision::FP32), 0);
  apply_floors(t, roof, small_model(), Precision::FP32);
  EXPECT_EQ(t.find("GPU", 1)->floor_ms, 0);
  EXPECT_TRUE(t.find("GPU", 1)->warnings.empty());
}

// A run given as the reference lends no emulated cell: it has no time to stand in with.
TEST(Reference, AnEmulatedCellIsNeverFilledIn) {
  Results ref;
  ref.model = model_info(small_model());
  ref.table.set("GPU", 1, mlpbench::testing::emulated_test_cell());
  ref.table.set("GPU", 3, mlpbench::testing::reference_cell(2));
  Table t;
  fill_reference(t, "GPU", {1, 3}, ref, "emulated.json", "--device cpu");
  EXPECT_FALSE(t.find("GPU", 1));
  ASSERT_TRUE(t.find("GPU", 3));
}

namespace {

// run()'s fake sides: a GPU of one right backend, and roofs and a live probe whose next figures a test sets (the
// roofs counted when measured).
GpuBackends fake_gpu_side(Precision, const std::vector<GpuIo>&) {
  GpuBackends g;
  g.backends.push_back(fake("gpu-fake"));
  g.gpu_name = "Fake GPU";
  return g;
}
// The same GPU on a CUDA emulator.
GpuBackends fake_emulated_side(Precision p, const std::vector<GpuIo>& io) {
  GpuBackends g = fake_gpu_side(p, io);
  g.emulator = mlpbench::testing::kEmulator;
  return g;
}
int g_gpu_roofs_measured = 0;
CpuThreadsRoof g_cpu_roof;
GpuRoof g_gpu_roof;
LiveProbe g_live;
int g_roofs_measured = 0;
CpuRoof fake_cpu_roof(const std::vector<int>&) {
  ++g_roofs_measured;
  CpuRoof r;
  r.model = "fake";
  r.cores = 1;
  r.l2_bytes_per_core = 1 << 20;
  r.l3_bytes = 8 << 20;
  r.by_threads = {g_cpu_roof};
  return r;
}
std::optional<GpuRoof> fake_gpu_roof() {
  ++g_gpu_roofs_measured;
  return g_gpu_roof;
}
LiveProbe fake_live() { return g_live; }

}  // namespace

// Cells that beat their floor have the roof measured again: that measurement (on a loaded machine, lower) lowers
// no cached figure, and raises the one it beats; the live probe, well below the roof, warns and lowers nothing.
TEST(Run, TheRoofMeasuredAgainAfterACellBeatItsFloorIsNeverLowered) {
  mlpbench::testing::ScopedRoofCache cache;
  // A cached roof every cell beats: 2 MFLOP/s, 2 MB/s; a GPU alike.
  g_cpu_roof = {1, 0.002, 0.002, 0.002, 0.002, 0, 0};
  GpuRoof g;
  g.name = "Fake GPU";
  g.fp32_tflops = g.fp32_fma_tflops = 2e-9;
  g.l2_bytes = 1;
  g.l2_gbs = g.hbm_gbs = g.h2d_gbs = 0.002;
  g.launch_us = 1;
  g_gpu_roof = g;
  const RoofProbes probes{fake_cpu_roof, fake_gpu_roof};
  machine_roof({1}, "Fake GPU", probes, false);
  // What the re-measure finds: every figure lower, but for the L2 read (CPU) and HBM (GPU).
  g_cpu_roof = {1, 0.001, 0.003, 0.001, 0.001, 0, 0};
  g.fp32_fma_tflops = 1e-9;
  g.hbm_gbs = 0.003;
  g_gpu_roof = g;
  g_live = {0.001, 0.001, 50};
  const int measured = g_roofs_measured;
  const Results r = run(small_model(), quick_run({1}), GpuSide{fake_gpu_side, fake_gpu_roof}, CpuSide{fake_cpu_roof, fake_live});
  EXPECT_EQ(g_roofs_measured, measured + 1) << "measured again once";
  EXPECT_THAT(r.notes, ::testing::Contains(StartsWith("the machine's roof was measured again during this run")));
  ASSERT_EQ(r.table.find("GPU", 1)->source, Source::Measured);
  for (const MachineRoof& roof : {roof_from_json(r.machine.roof), machine_roof({1}, "Fake GPU", probes, false)}) {
    const CpuThreadsRoof* one = roof.cpu.find(1);
    ASSERT_NE(one, nullptr);
    EXPECT_EQ(one->fma_gflops_per_core, 0.002);
    EXPECT_EQ(one->l2_gbs, 0.003);
    EXPECT_EQ(one->dram_gbs, 0.002);
    ASSERT_TRUE(roof.gpu);
    EXPECT_EQ(roof.gpu->fp32_fma_tflops, 2e-9);
    EXPECT_EQ(roof.gpu->hbm_gbs, 0.003);
  }
  EXPECT_EQ(g_roofs_measured, measured + 1) << "the cache was read, not measured";
  // The live probe, in the results beside the roof, and its warning naming both figures.
  EXPECT_EQ(r.machine.roof["live"], live_probe_to_json(g_live));
  EXPECT_THAT(r.warnings, ::testing::Contains(HasSubstr("FMA peak 0.001 against 0.002 GFLOP/s per core (50.0% below), L2 read 0.001 against 0.003 "
                                                        "GB/s (66.7% below)): the machine is loaded now; this run's numbers are suspect")));
}

// run() on an emulator: --device gpu runs (no "no usable GPU"), the GPU name says emulated, and there is no GPU roof to
// measure, no clocks, no energy.
TEST(Run, OnAnEmulatorDeviceGpuRunsWithoutAGpuRoofClocksOrEnergy) {
  mlpbench::testing::ScopedRoofCache cache;
  g_cpu_roof = {1, 100, 100, 100, 100, 0, 0};
  g_live = {100, 100, 0};
  RunConfig config = quick_run({1});
  config.device = "gpu";
  const int gpu_roofs = g_gpu_roofs_measured;
  const Results r = run(small_model(), config, GpuSide{fake_emulated_side, fake_gpu_roof}, CpuSide{fake_cpu_roof, fake_live});
  const Cell* g = r.table.find("GPU", 1);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->source, Source::Emulated);
  EXPECT_FALSE(g->energy);
  EXPECT_EQ(g->floor_ms, 0);
  EXPECT_EQ(g_gpu_roofs_measured, gpu_roofs) << "an emulator has no GPU roof";
  EXPECT_FALSE(r.machine.gpu_clocks_mhz);
  EXPECT_FALSE(roof_from_json(r.machine.roof).gpu);
  EXPECT_THAT(gpu_text(r.machine), HasSubstr("emulated on the CPU"));
}
