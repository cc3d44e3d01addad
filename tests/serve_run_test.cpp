// serve_run (the command side of `mlpbench serve`): each worker's own cores (pin_omp_threads' offset, PinnedBackend),
// the defaults, the answer lines on constructed results, a short CPU serve end to end (live and simulated, labelled),
// and the GPU worker: a graph backend served live by two streams, every request completed (skips without a GPU).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <sched.h>

#include <thread>

#include "mlpbench/report.hpp"
#include "mlpbench/serve_run.hpp"
#include "mlpbench/serve_workers.hpp"
#include "mlpbench/threads.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

std::vector<int> this_thread_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<int> out;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out.push_back(c);
  }
  return out;
}

bool binding_set() { return std::getenv("OMP_PROC_BIND") || std::getenv("OMP_PLACES"); }

ServingRun run_of(const std::string& device, const std::string& source, double best, const std::string& from = "") {
  ServingRun r;
  r.device = device;
  r.backend = device == "CPU" ? "eigen-omp-packed" : "cuda-gemv+graph";
  r.config = device == "CPU" ? "workers=1,threads=2" : "streams=1";
  r.source = source;
  r.simulated_from = from;
  r.search.best_qps = best;
  StepResult s;
  s.offered_qps = best;
  s.p99_ms = 0.5;
  s.completed = s.issued = 100;
  r.search.steps.push_back(s);
  return r;
}

}  // namespace

TEST(PinOmpThreads, AnOffsetPinsTheTeamToItsOwnCores) {
  if (binding_set()) GTEST_SKIP() << "OMP_PROC_BIND or OMP_PLACES set: pinning is the user's";
  const std::vector<int>& cpus = process_cpus();
  const int last = static_cast<int>(cpus.size()) - 1;
  std::vector<int> seen;
  bool ok = false;
  // A thread of its own: its team (one thread: itself) on the last CPU.
  std::thread([&] {
    ok = pin_omp_threads(1, last);
    seen = this_thread_cpus();
  }).join();
  EXPECT_TRUE(ok);
  EXPECT_EQ(seen, std::vector<int>{cpus.back()});
  EXPECT_FALSE(pin_omp_threads(1, last + 1));  // past the last CPU: not pinned
  EXPECT_FALSE(pin_omp_threads(2, last));
  EXPECT_FALSE(pin_omp_threads(1, -1));
}

TEST(PinnedBackend, PinsTheCallingThreadsTeamOnItsFirstForward) {
  if (binding_set()) GTEST_SKIP() << "OMP_PROC_BIND or OMP_PLACES set: pinning is the user's";
  const std::vector<int>& cpus = process_cpus();
  const int last = static_cast<int>(cpus.size()) - 1;
  const Model m = make_seeded_model({16, 8, 4}, 1);
  PinnedBackend b(make_cpu_packed_backend(1), last);
  b.prepare(m, 4);
  EXPECT_THAT(b.config(), HasSubstr("cpus=" + std::to_string(cpus.back())));
  const std::vector<float> x = make_seeded_input(4, 16, 1);
  std::vector<float> y(16);
  std::vector<int> seen;
  std::thread([&] {
    b.forward(x.data(), y.data(), 4);
    seen = this_thread_cpus();
  }).join();
  EXPECT_EQ(seen, std::vector<int>{cpus.back()});
}

TEST(ServeRun, DefaultsAndBatchSizes) {
  EXPECT_EQ(default_cpu_shapes(1), (std::vector<ServeShape>{{1, 1}}));
  EXPECT_EQ(default_cpu_shapes(16), (std::vector<ServeShape>{{1, 16}, {16, 1}}));
  EXPECT_EQ(service_batch_sizes(1), std::vector<int>{1});
  EXPECT_EQ(service_batch_sizes(32), (std::vector<int>{1, 2, 4, 8, 16, 32}));
  EXPECT_EQ(service_batch_sizes(20), (std::vector<int>{1, 2, 4, 8, 16, 20}));
}

TEST(ServeRun, BadShapesAndStreamsSayWhichOption) {
  ServeRunConfig c;
  c.cpu_shapes = {{2, 2}};
  try {
    validate_serve_run(c, 2);
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("--workers x --threads is 2 x 2 = 4 threads"));
  }
  c.cpu_shapes = {};
  c.gpu_streams = 0;
  EXPECT_THROW(validate_serve_run(c, 2), InputError);
  c.gpu_streams = 1;
  c.serve.max_batch = kMaxBatch + 1;
  EXPECT_THROW(validate_serve_run(c, 2), InputError);
}

// The simulator beside the live run it mimics: best rates, and the p99s at the live best rate (serving_lines, report.hpp).
TEST(ServingAnswer, TheSimulatorCheckSetsTheP99sAtTheLiveBestRateSideBySide) {
  Results r;
  r.serving = Serving{};
  r.serving->runs = {run_of("CPU", "measured", 51000), run_of("CPU", "simulated", 48000, "the CPU's per-batch latencies measured in this run"),
                     run_of("GPU", "simulated", 1.9e6, "results/reference.json, illustrative")};
  r.serving->runs[1].search.steps.front().p99_ms = 0.4;
  r.serving->runs[1].search.steps.front().offered_qps = 51000;
  std::string text;
  for (const std::string& line : serving_lines(r)) text += line + "\n";
  EXPECT_THAT(text, HasSubstr("Faster hardware under load: unknown"));
  EXPECT_THAT(text, HasSubstr("48k/s simulated (from the CPU's per-batch latencies measured in this run, workers=1,threads=2) against 51k/s "
                              "measured (workers=1,threads=2), -6%; p99 at 51k/s: 0.4 ms simulated, 0.5 ms measured, -20%\n"));
}

// A short serve of a small model on the CPU, one K x T, given rates: a live run and the simulated one beside it.
TEST(ServeRun, CpuServesLiveAndSimulatesBeside) {
  const Model m = make_seeded_model({16, 32, 4}, 1);
  ServeRunConfig c;
  c.device = "cpu";
  c.cpu_shapes = {{1, 1}};
  c.quick = true;
  c.serve.qps = {500, 1000};
  c.serve.max_batch = 4;
  c.serve.min_requests = 100;
  c.serve.min_step_s = 0.05;
  const Results r = run_serving(m, c, GpuSide{});
  ASSERT_TRUE(r.serving);
  ASSERT_EQ(r.serving->runs.size(), 2u);
  const ServingRun& live = r.serving->runs[0];
  const ServingRun& sim = r.serving->runs[1];
  EXPECT_EQ(live.source, "measured");
  EXPECT_EQ(live.simulated_from, "");
  EXPECT_EQ(sim.source, "simulated");
  EXPECT_THAT(sim.simulated_from, HasSubstr("measured in this run"));
  EXPECT_TRUE(sim.search.simulated);
  EXPECT_EQ(live.config, "workers=1,threads=1");
  ASSERT_EQ(live.search.steps.size(), 2u);
  for (const StepResult& s : live.search.steps) {
    EXPECT_EQ(s.issued, s.completed);
    EXPECT_FALSE(s.simulated);
  }
  // The per-batch table the simulation read: CPU cells at 1, 2, 4, measured.
  EXPECT_EQ(r.table.batch_sizes, (std::vector<int>{1, 2, 4}));
  ASSERT_NE(r.table.find("CPU", 4), nullptr);
  EXPECT_EQ(r.table.find("CPU", 4)->source, Source::Measured);
}

// The GPU worker: two streams of a graph backend, each its own backend planned at every batch size, served live.
TEST(ServeGpu, TwoStreamsServeEveryRequest) {
  GpuBackends probe = make_gpu_backends(Precision::FP32, {GpuIo::Copy});
  if (probe.backends.empty()) GTEST_SKIP() << "no usable GPU: " << probe.unavailable;
  const Model m = make_seeded_model({64, 128, 8}, 1);
  ServeConfig c;
  c.workers = 2;
  c.max_batch = 8;
  c.min_requests = 300;
  c.min_step_s = 0.05;
  c.qps = {2000};
  std::vector<GpuBackends> sides;
  std::vector<Backend*> workers;
  std::string name;
  for (int k = 0; k < 2; ++k) {
    sides.push_back(make_gpu_backends(Precision::FP32, {GpuIo::Copy}));
    for (auto& b : sides.back().backends) {
      if (b->name().find("+graph") == std::string::npos || (!name.empty() && b->name() != name)) continue;
      name = b->name();
      b->prepare(m, c.max_batch);
      for (int batch = 1; batch <= c.max_batch; ++batch) b->plan(batch);
      workers.push_back(b.get());
      break;
    }
  }
  ASSERT_EQ(workers.size(), 2u) << "no graph backend";
  LiveServer server(workers, m.input_width(), m.output_width(), c);
  const StepResult s = server.step(2000);
  EXPECT_EQ(s.issued, s.completed);
  EXPECT_GE(s.issued, 300);
  EXPECT_FALSE(s.simulated);
}
