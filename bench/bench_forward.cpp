// BM_forward/<backend>/<batch> (eigen, eigen-omp-packed, then every GPU backend): one forward pass of the default MLP (784-512-512-10, or MLPBENCH_LAYERS),
// input and output in host memory, synchronized. Each backend is checked against the CPU reference before
// it is timed; a wrong one is reported with SkipWithError. Time comes from the measurement core
// (wall_clock + calibrate_passes, as `mlpbench run` uses) through UseManualTime, so bench/ and the CLI agree.
// Usage: mlpbench_bench [--benchmark_filter=cpu] [--benchmark_repetitions=5] [--benchmark_out=bench.json]
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>

#include "mlpbench/backend.hpp"
#include "mlpbench/check.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/measure.hpp"
#include "mlpbench/parse.hpp"
#include "mlpbench/runner.hpp"

namespace {

using namespace mlpbench;

// Set when a backend fails its check or throws: the program then exits 3, so a smoke run can't pass on
// a wrong backend (Google Benchmark itself exits 0 after SkipWithError).
bool g_failed = false;

void fail(benchmark::State& state, const std::string& why) {
  g_failed = true;
  state.SkipWithError(why.c_str());
}

std::vector<int> bench_widths() {
  const char* env = std::getenv("MLPBENCH_LAYERS");
  std::vector<int> w = env ? parse_int_list(env, "MLPBENCH_LAYERS", 1, kMaxWidth) : std::vector<int>{784, 512, 512, 10};
  validate_widths(w);
  return w;
}

// x [batch, in] -> y [batch, out] through `backend`, after checking it against the CPU backend.
void BM_forward(benchmark::State& state, Backend* backend, const Model* model) {
  const int batch = static_cast<int>(state.range(0));
  const std::vector<float> x = make_seeded_input(batch, model->input_width(), 1);
  std::vector<float> y(static_cast<std::size_t>(batch) * model->output_width());
  try {
    backend->prepare(*model, batch);
    auto cpu = make_cpu_backend(0);
    cpu->prepare(*model, batch);
    std::vector<float> expected(y.size());
    check_cpu_backend(*cpu, *model, x, batch, expected);
    backend->forward(x.data(), y.data(), batch);
    const CheckResult c = check_close(y.data(), expected.data(), y.size(), kToleranceF32);
    if (!c.ok) return fail(state, "wrong output, not timed: " + c.first_mismatches);
  } catch (const std::exception& e) {
    return fail(state, e.what());
  }
  const TimedRun timed = wall_clock([&] { backend->forward(x.data(), y.data(), batch); });
  const int passes = calibrate_passes(timed, MeasureConfig{}.min_sample_s);
  for (auto _ : state) state.SetIterationTime(timed(passes) / passes);
  state.counters["FLOP/s"] = benchmark::Counter(model->flops_per_sample() * batch, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["passes/sample"] = passes;
  state.SetLabel(backend->config());
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  try {
    static const Model model = make_seeded_model(bench_widths(), 1);
    static std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(make_cpu_backend(0));
    backends.push_back(make_cpu_packed_backend(0));
    GpuBackends gpu = make_gpu_backends();
    for (auto& g : gpu.backends) backends.push_back(std::move(g));
    std::string layers;
    for (int w : model.widths()) layers += (layers.empty() ? "" : ",") + std::to_string(w);
    benchmark::AddCustomContext("mlpbench.layers", layers);
    benchmark::AddCustomContext("mlpbench.gpu", gpu.gpu_name.empty() ? "none: " + gpu.unavailable : gpu.gpu_name);
    for (auto& b : backends) {
      benchmark::RegisterBenchmark(("BM_forward/" + b->name()).c_str(), BM_forward, b.get(), &model)
          ->Arg(1)->Arg(10)->Arg(100)->UseManualTime()->Unit(benchmark::kMicrosecond);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mlpbench_bench: error: %s\n", e.what());
    return 2;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_failed ? 3 : 0;
}
