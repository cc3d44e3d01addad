// BM_serve_generator/<qps>: the serving core's own cost (issue 22). The live server (serve_workers.hpp: one worker
// thread reading the arrival schedule on the steady clock) runs one step of Poisson arrivals at <qps> against a backend
// that returns at once (x [batch, in] -> y [batch, out], nothing computed), so every microsecond of latency is the
// server's: the watching worker's wake-up, the batcher's take, the copy of each request's input row (the model's input
// width: 784, or MLPBENCH_LAYERS), the completion stamp. Counters: achieved requests/s, p50/p99/max latency (scheduled
// arrival to completion) in us, how late the worker saw the events it waited for (p99), mean batch, and the process's
// involuntary context switches during the step (each one a thread of the server preempted, on a shared VM the usual
// cause of the tail). The target: >= 1M requests/s with p99 <= 5 us.
// Each iteration is one step of MLPBENCH_SERVE_STEP_S seconds (default 0.5); the time reported is the step's.
// Usage: mlpbench_bench_serve [--benchmark_filter=BM_serve_generator/1000000] [--benchmark_repetitions=5]
#include <sys/resource.h>

#include <cstdlib>

#include "bench_common.hpp"
#include "mlpbench/serve_workers.hpp"
#include "mlpbench/threads.hpp"

namespace {

using namespace mlpbench;

class InstantBackend final : public Backend {
 public:
  std::string name() const override { return "instant"; }
  Device device() const override { return Device::CPU; }
  void prepare(const Model&, int) override {}
  void forward(const float* x, float* y, int) override { y[0] = x[0]; }
  void evict_caches() override {}
};

double step_seconds() {
  const char* env = std::getenv("MLPBENCH_SERVE_STEP_S");
  return env ? std::atof(env) : 0.5;
}

void BM_serve_generator(benchmark::State& state, const Model* model, double qps) {
  ServeConfig config;
  config.max_batch = 64;
  config.max_queue_delay_us = 0;
  config.min_requests = 1000;
  config.min_step_s = step_seconds();
  InstantBackend backend;
  try {
    validate_serve_config(config, available_cores());
    LiveServer server({&backend}, model->layers.front().in, model->layers.back().out, config);
    StepResult r;
    rusage before{}, after{};
    for (auto _ : state) {
      getrusage(RUSAGE_SELF, &before);
      r = server.step(qps);
      getrusage(RUSAGE_SELF, &after);
      state.SetIterationTime(r.duration_s);
    }
    state.counters["preempted"] = static_cast<double>(after.ru_nivcsw - before.ru_nivcsw);
    state.counters["achieved_qps"] = r.achieved_qps;
    state.counters["p50_us"] = r.p50_ms * 1e3;
    state.counters["p99_us"] = r.p99_ms * 1e3;
    state.counters["max_us"] = r.max_ms * 1e3;
    state.counters["issue_lag_p99_us"] = r.issue_lag_p99_us;
    state.counters["mean_batch"] = r.mean_batch;
    state.counters["requests"] = static_cast<double>(r.completed);
    state.SetLabel(r.overloaded ? "overloaded" : r.p99_ms <= 5e-3 ? "p99 <= 5 us" : "p99 > 5 us");
  } catch (const std::exception& e) {
    bench::fail(state, e.what());
  }
}

}  // namespace

int main(int argc, char** argv) {
  return bench::bench_main(argc, argv, "mlpbench_bench_serve", [](const Model& model) {
    for (long qps : {100'000L, 500'000L, 1'000'000L, 2'000'000L}) {
      benchmark::RegisterBenchmark(("BM_serve_generator/" + std::to_string(qps)).c_str(), BM_serve_generator, &model, static_cast<double>(qps))
          ->Iterations(1)
          ->UseManualTime()
          ->Unit(benchmark::kMillisecond);
    }
  });
}
