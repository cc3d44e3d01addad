// The roof and floors: floor arithmetic on a synthetic roof (compute-, L2-, L3- and DRAM-bound cells),
// the cache round trip, the cache keeping the best of each figure (fake measurements and live probes), and a real
// (short) measurement and live probe that must give positive figures.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>

#include <cstdlib>
#include <filesystem>

#include "mlpbench/errors.hpp"
#include "mlpbench/machine.hpp"
#include "test_util.hpp"

using namespace mlpbench;

namespace {

// 100 GFLOP/s per core, 1 MiB L2 per core, 32 MiB L3; L2 200 GB/s, L3 100 GB/s, DRAM 20 GB/s (2 threads);
// fork/join 1 us, barrier 0.5 us.
CpuRoof synthetic_cpu() {
  CpuRoof r;
  r.model = "test cpu";
  r.cores = 2;
  r.l2_bytes_per_core = 1 << 20;
  r.l3_bytes = 32 << 20;
  r.by_threads.push_back({2, 100, 200, 100, 20, 1.0, 0.5});
  return r;
}

}  // namespace

TEST(CpuFloor, ComputeBoundAtLargeBatch) {
  const Model m = make_seeded_model({784, 512, 512, 10}, 1);
  const auto f = cpu_floor(synthetic_cpu(), 2, m, 100);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bound, "compute");
  // 100 x 1.3396 MFLOP / 200 GFLOP/s = 669.8 us, + 1 us fork/join + 2 barriers x 0.5 us.
  EXPECT_NEAR(f->ms, (100 * m.flops_per_sample() / 200e9 + 2e-6) * 1e3, 1e-9);
}

TEST(CpuFloor, WeightsFromTheLevelTheyFit) {
  const CpuRoof roof = synthetic_cpu();
  // 0.42 MB of weights: within two 1 MiB L2s.
  const Model small = make_seeded_model({256, 256, 256, 10}, 1);
  auto f = cpu_floor(roof, 2, small, 1);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bound, "L2");
  const double bytes = 4.0 * small.parameter_count() + 4.0 * (256 + 10);
  EXPECT_NEAR(f->ms, (bytes / 200e9 + 2e-6) * 1e3, 1e-9);
  // 2.68 MB: 2 MiB from the two L2s, the rest from L3.
  const Model mid = make_seeded_model({784, 512, 512, 10}, 1);
  f = cpu_floor(roof, 2, mid, 1);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bound, "L3");
  const double mid_bytes = 4.0 * mid.parameter_count() + 4.0 * (784 + 10);
  EXPECT_NEAR(f->ms, ((2 << 20) / 200e9 + (mid_bytes - (2 << 20)) / 100e9 + 2e-6) * 1e3, 1e-9);
  // 40 MB: 2 MiB from L2, 30 MiB from L3, the rest from DRAM.
  const Model big = make_seeded_model({2500, 2000, 2500}, 1);
  f = cpu_floor(roof, 2, big, 1);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bound, "DRAM");
  const double big_bytes = 4.0 * big.parameter_count() + 4.0 * (2500 + 2500);
  EXPECT_NEAR(f->ms, ((2 << 20) / 200e9 + (30 << 20) / 100e9 + (big_bytes - (32 << 20)) / 20e9 + 1.5e-6) * 1e3, 1e-9);
  // bf16 weights halve the weight bytes.
  const auto half = cpu_floor(roof, 2, big, 1, 2.0);
  ASSERT_TRUE(half);
  EXPECT_LT(half->ms, f->ms);
}

// Cold (run --cache cold): the caches were evicted, so every byte comes from DRAM, whatever would fit.
TEST(CpuFloor, ColdCellsReadEverythingFromDram) {
  const CpuRoof roof = synthetic_cpu();
  const Model small = make_seeded_model({256, 256, 256, 10}, 1);
  const auto hot = cpu_floor(roof, 2, small, 1);
  const auto cold = cpu_floor(roof, 2, small, 1, 4.0, CacheMode::Cold);
  ASSERT_TRUE(hot && cold);
  EXPECT_EQ(hot->bound, "L2");
  EXPECT_EQ(cold->bound, "DRAM");
  const double bytes = 4.0 * small.parameter_count() + 4.0 * (256 + 10);
  EXPECT_NEAR(cold->ms, (bytes / 20e9 + 2e-6) * 1e3, 1e-9);
  // Compute-bound at a large batch either way: the floor is the same.
  const Model m = make_seeded_model({784, 512, 512, 10}, 1);
  EXPECT_EQ(cpu_floor(roof, 2, m, 100, 4.0, CacheMode::Cold)->bound, "compute");
}

TEST(CpuFloor, UnknownThreadCountHasNoFloor) { EXPECT_FALSE(cpu_floor(synthetic_cpu(), 3, make_seeded_model({4, 4}, 1), 1)); }

GpuRoof synthetic_gpu() {
  GpuRoof g;
  g.name = "test gpu";
  g.fp32_tflops = 50;
  g.fp32_fma_tflops = 40;
  g.tf32_tflops = 400;
  g.bf16_tflops = 800;
  g.l2_bytes = 50e6;
  g.l2_gbs = 10000;
  g.hbm_gbs = 4000;
  g.h2d_gbs = 50;
  g.launch_us = 1;
  g.graph_us = 8;
  return g;
}

TEST(GpuFloor, TheSlowestOfComputeWeightsAndHostLinkPlusTheLaunch) {
  GpuRoof g = synthetic_gpu();
  const Model m = make_seeded_model({784, 512, 512, 10}, 1);
  const double weights = 4.0 * m.parameter_count();
  // Batch 100: 134 MFLOP / 50 TFLOP/s = 2.7 us; 2.7 MB / 10 TB/s = 0.27 us; 318 KB / 50 GB/s = 6.4 us over the link.
  auto f = gpu_floor(g, Precision::FP32, m, 100);
  ASSERT_TRUE(f);
  EXPECT_EQ(f->bound, "host link");
  EXPECT_NEAR(f->ms, (4.0 * 100 * (784 + 10) / 50e9 + 1e-6) * 1e3, 1e-12);
  // A faster link: compute, at the larger of the spec and measured peaks.
  g.h2d_gbs = 5000;
  f = gpu_floor(g, Precision::FP32, m, 100);
  EXPECT_EQ(f->bound, "compute");
  EXPECT_NEAR(f->ms, (100 * m.flops_per_sample() / 50e12 + 1e-6) * 1e3, 1e-12);
  g.fp32_fma_tflops = 60;
  EXPECT_NEAR(gpu_floor(g, Precision::FP32, m, 100)->ms, (100 * m.flops_per_sample() / 60e12 + 1e-6) * 1e3, 1e-12);
  // Batch 1: 0.27 us of weights from L2 against 1 us to launch: the launch sets it.
  f = gpu_floor(g, Precision::FP32, m, 1);
  EXPECT_EQ(f->bound, "launch");
  EXPECT_NEAR(f->ms, (weights / 10000e9 + 1e-6) * 1e3, 1e-12);
  GpuRoof cheap_launch = g;
  cheap_launch.launch_us = 0.01;
  EXPECT_EQ(gpu_floor(cheap_launch, Precision::FP32, m, 1)->bound, "L2");
  cheap_launch.l2_bytes = 1e6;  // the weights don't fit: HBM
  EXPECT_EQ(gpu_floor(cheap_launch, Precision::FP32, m, 1)->bound, "HBM");
  const auto bf16 = gpu_floor(g, Precision::BF16, m, 100);
  ASSERT_TRUE(bf16);
  EXPECT_LE(bf16->ms, gpu_floor(g, Precision::FP32, m, 100)->ms);
  GpuRoof unknown = g;
  unknown.fp32_tflops = unknown.fp32_fma_tflops = 0;
  EXPECT_FALSE(gpu_floor(unknown, Precision::FP32, m, 100));
  GpuRoof old_cache = g;
  old_cache.launch_us = 0;  // not measured
  EXPECT_FALSE(gpu_floor(old_cache, Precision::FP32, m, 100));
}

TEST(Floor, ACellFasterThanItsFloorLowersItWithAWarning) {
  Cell c;
  c.stats.median_ms = 0.010;
  apply_floor(c, Floor{0.008, "L2"});
  EXPECT_EQ(c.floor_ms, 0.008);
  EXPECT_EQ(c.floor_bound, "L2");
  EXPECT_TRUE(c.warnings.empty());
  EXPECT_DOUBLE_EQ(c.efficiency(), 0.8);
  apply_floor(c, Floor{0.012, "compute"});  // the roof said 12 us; the cell did 10
  EXPECT_EQ(c.floor_ms, 0.010);
  EXPECT_EQ(c.efficiency(), 1.0) << "never above 100%";
  EXPECT_EQ(c.floor_bound, "compute, lowered to the cell's median");
  ASSERT_EQ(c.warnings.size(), 1u);
  EXPECT_THAT(c.warnings[0], ::testing::HasSubstr("faster than its floor of 0.012 ms"));
  Cell none;
  none.stats.median_ms = 1;
  apply_floor(none, std::nullopt);
  EXPECT_EQ(none.floor_ms, 0);
}

TEST(Roof, JsonRoundTrip) {
  MachineRoof r;
  r.cpu = synthetic_cpu();
  GpuRoof g;
  g.name = "x";
  g.sms = 132;
  g.clock_ghz = 1.98;
  g.fp32_tflops = 67;
  g.fp32_fma_tflops = 66;
  g.h2d_gbs = 55;
  g.launch_us = 2.5;
  g.graph_us = 7.5;
  r.gpu = g;
  const MachineRoof back = roof_from_json(Json::parse(dump_json(roof_to_json(r))));
  ASSERT_EQ(back.cpu.by_threads.size(), 1u);
  EXPECT_EQ(back.cpu.by_threads[0].l3_gbs, 100);
  EXPECT_EQ(back.cpu.l3_bytes, 32 << 20);
  ASSERT_TRUE(back.gpu);
  EXPECT_EQ(back.gpu->sms, 132);
  EXPECT_EQ(back.gpu->graph_us, 7.5);
  EXPECT_EQ(back.gpu->launch_us, 2.5);
  EXPECT_EQ(back.gpu->fp32_fma_tflops, 66);
  EXPECT_EQ(back.gpu->h2d_gbs, 55);
  // A cache written before the launch and link were measured reads as damaged, so it is measured anew.
  Json old = roof_to_json(r);
  old["gpu"].erase("launch_us");
  EXPECT_THROW(roof_from_json(old), InputError);
  EXPECT_THROW(roof_from_json(Json::parse("{\"schema\": \"other\"}")), InputError);
  EXPECT_THROW(roof_from_json(Json::parse("{\"schema\": \"mlpbench-machine/1\"}")), InputError);
}

TEST(Roof, MeasuredHereIsPositiveAndCached) {
  const std::filesystem::path dir = std::filesystem::temp_directory_path() / ("mlpbench_roof_" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  ::setenv("MLPBENCH_CACHE_DIR", dir.c_str(), 1);
  std::string file;
  const MachineRoof r = machine_roof({1}, "", RoofProbes{}, false, nullptr, &file);
  ASSERT_FALSE(file.empty());
  EXPECT_TRUE(std::filesystem::exists(file));
  const CpuThreadsRoof* one = r.cpu.find(1);
  ASSERT_NE(one, nullptr);
  EXPECT_GT(one->fma_gflops_per_core, 0.1);
  EXPECT_GT(one->l2_gbs, 0.1);
  EXPECT_GT(one->l3_gbs, 0.1);
  EXPECT_GT(one->dram_gbs, 0.1);
  EXPECT_GT(one->fork_join_us, 0);
  EXPECT_GT(r.cpu.l3_bytes, r.cpu.l2_bytes_per_core);
  EXPECT_FALSE(r.gpu);
  // The second call reads the cache: the very same figures.
  const MachineRoof again = machine_roof({1}, "", RoofProbes{}, false);
  EXPECT_EQ(again.cpu.find(1)->fma_gflops_per_core, one->fma_gflops_per_core);
  std::filesystem::remove_all(dir);
  ::unsetenv("MLPBENCH_CACHE_DIR");
}

TEST(FmaProbe, ChainsFitTheRegisterFileAndCoverLatencyTimesPipes) {
  EXPECT_EQ(fma_chains_for(16), 12);  // AVX2: 16 registers, 2 taken by the constants, no spill
  EXPECT_EQ(fma_chains_for(32), 24);  // AVX-512
  for (int regs : {16, 32}) {
    EXPECT_LE(fma_chains_for(regs) + 2, regs) << "must not spill";
    EXPECT_GE(fma_chains_for(regs), 4 * 2) << "latency 4 x 2 pipes in flight";
  }
}

// The probe is measured as a cell is: the median of 200 short samples, not one long pass. Of positive values at
// least half are >= their median, so 200 samples within the call's wall time put the median at <= 2 * wall / 200
// whatever the machine does (a long pass would come out near the whole wall time).
TEST(DriftProbe, IsTheMedianOfShortSamples) {
  const auto t0 = std::chrono::steady_clock::now();
  const double ms = drift_probe_ms();
  const double wall_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_GT(ms, 0);
  EXPECT_LE(ms, 2 * wall_ms / 200) << "the probe took " << wall_ms << " ms";
}

// Cold: the L2 was flushed, so the weights come from HBM even where they would fit in L2.
TEST(GpuFloor, ColdCellsReadTheWeightsFromHbm) {
  GpuRoof g = synthetic_gpu();
  g.launch_us = 0.01;
  const Model m = make_seeded_model({784, 512, 512, 10}, 1);
  const auto hot = gpu_floor(g, Precision::FP32, m, 1);
  const auto cold = gpu_floor(g, Precision::FP32, m, 1, CacheMode::Cold);
  ASSERT_TRUE(hot && cold);
  EXPECT_EQ(hot->bound, "L2");
  EXPECT_EQ(cold->bound, "HBM");
  EXPECT_NEAR(cold->ms, (4.0 * m.parameter_count() / 4000e9 + 0.01e-6) * 1e3, 1e-12);
}

namespace {

// A fake machine: its next measurement gives these figures (a fake GPU: g_next_gpu), counted in g_measured.
CpuThreadsRoof g_next_cpu;
std::optional<GpuRoof> g_next_gpu;
int g_measured = 0;
CpuRoof fake_cpu(const std::vector<int>&) {
  ++g_measured;
  CpuRoof r = synthetic_cpu();
  r.by_threads = {g_next_cpu};
  return r;
}
std::optional<GpuRoof> fake_gpu() { return g_next_gpu; }

}  // namespace

// A roof is an upper bound: a measurement under load (refresh) lowers no figure of the cache; a higher figure
// raises it; a cost (fork/join, launch) keeps its lowest. The GPU's figures alike.
TEST(Roof, TheCacheKeepsTheBestOfEachFigureEverMeasured) {
  mlpbench::testing::ScopedRoofCache cache;
  const RoofProbes probes{fake_cpu, fake_gpu};
  g_next_cpu = {1, 100, 200, 100, 20, 2.0, 0};
  GpuRoof g = synthetic_gpu();  // FMA 40 TFLOP/s, HBM 4000 GB/s, launch 1 us
  g_next_gpu = g;
  machine_roof({1}, "test gpu", probes, false);
  g_next_cpu = {1, 50, 300, 50, 10, 1.0, 0};
  g.fp32_fma_tflops = 20;
  g.hbm_gbs = 5000;
  g.launch_us = 3;
  g_next_gpu = g;
  const MachineRoof r = machine_roof({1}, "test gpu", probes, /*refresh=*/true);
  ASSERT_EQ(r.cpu.by_threads.size(), 1u);
  const CpuThreadsRoof& one = r.cpu.by_threads[0];
  EXPECT_EQ(one.fma_gflops_per_core, 100) << "a lower measurement lowers nothing";
  EXPECT_EQ(one.l2_gbs, 300) << "a higher one raises it";
  EXPECT_EQ(one.l3_gbs, 100);
  EXPECT_EQ(one.dram_gbs, 20);
  EXPECT_EQ(one.fork_join_us, 1.0) << "a cost: the lowest";
  ASSERT_TRUE(r.gpu);
  EXPECT_EQ(r.gpu->fp32_fma_tflops, 40);
  EXPECT_EQ(r.gpu->hbm_gbs, 5000);
  EXPECT_EQ(r.gpu->launch_us, 1);
  // The cache holds the same: read without measuring.
  const int measured = g_measured;
  const MachineRoof cached = machine_roof({1}, "test gpu", probes, false);
  EXPECT_EQ(g_measured, measured);
  EXPECT_EQ(cached.cpu.find(1)->fma_gflops_per_core, 100);
  EXPECT_EQ(cached.cpu.find(1)->l2_gbs, 300);
  EXPECT_EQ(cached.gpu->fp32_fma_tflops, 40);
  EXPECT_EQ(cached.gpu->launch_us, 1);
  g_next_cpu.fma_gflops_per_core = 150;
  EXPECT_EQ(machine_roof({1}, "test gpu", probes, true).cpu.find(1)->fma_gflops_per_core, 150);
  EXPECT_EQ(machine_roof({1}, "test gpu", probes, false).cpu.find(1)->fma_gflops_per_core, 150);
  // A thread count measured now joins those cached before.
  g_next_cpu = {2, 90, 300, 150, 25, 2.0, 0.5};
  const MachineRoof both = machine_roof({2}, "test gpu", probes, false);
  ASSERT_EQ(both.cpu.by_threads.size(), 2u);
  EXPECT_EQ(both.cpu.by_threads[0].fma_gflops_per_core, 150);
  EXPECT_EQ(both.cpu.by_threads[1].threads, 2);
}

// A run's live probe raises the cached 1-thread figures it beats and lowers none, without measuring the roof.
TEST(Roof, ALiveProbeRaisesTheCachedFiguresItBeatsAndLowersNone) {
  mlpbench::testing::ScopedRoofCache cache;
  const RoofProbes probes{fake_cpu, nullptr};
  g_next_cpu = {1, 100, 200, 100, 20, 2.0, 0};
  machine_roof({1}, "", probes, false);
  const int measured = g_measured;
  const LiveProbe low{60, 100, 50};
  MachineRoof r = machine_roof({1}, "", probes, false, &low);
  EXPECT_EQ(r.cpu.find(1)->fma_gflops_per_core, 100);
  EXPECT_EQ(r.cpu.find(1)->l2_gbs, 200);
  const LiveProbe high{120, 150, 50};
  r = machine_roof({1}, "", probes, false, &high);
  EXPECT_EQ(r.cpu.find(1)->fma_gflops_per_core, 120);
  EXPECT_EQ(r.cpu.find(1)->l2_gbs, 200);
  EXPECT_EQ(machine_roof({1}, "", probes, false).cpu.find(1)->fma_gflops_per_core, 120) << "cached";
  EXPECT_EQ(g_measured, measured) << "the roof itself was not measured again";
}

TEST(LiveProbe, MeasuresTheOneThreadFmaPeakAndL2Read) {
  const LiveProbe p = measure_live_probe();
  EXPECT_GT(p.fma_gflops_per_core, 0.1);
  EXPECT_GT(p.l2_gbs, 0.1);
  EXPECT_GT(p.ms, 0);
  const Json j = live_probe_to_json(p);
  EXPECT_EQ(j["threads"], 1);
  EXPECT_EQ(j["fma_gflops_per_core"], p.fma_gflops_per_core);
  EXPECT_EQ(j["l2_gbs"], p.l2_gbs);
  EXPECT_EQ(j["ms"], p.ms);
}
