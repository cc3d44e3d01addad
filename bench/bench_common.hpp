// What the bench/ programs share: the model (the default layers, or MLPBENCH_LAYERS, seed 1), the CPU thread counts
// (`run`'s default, or MLPBENCH_THREADS), the failure flag that makes a program exit 3, the check gate, the timing
// (the measurement core's wall_clock + calibrate_passes through UseManualTime, as `mlpbench run` times),
// registration at the default batch sizes, BM_forward for a Backend (hot: BM_forward/<backend>/<batch>, a CPU
// backend's thread count after it: .../<batch>/cpu_threads:<n>; cold: .../cold), and main's common part.
// Header-only: each bench program is one translation unit.
#pragma once

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "mlpbench/backend.hpp"
#include "mlpbench/check.hpp"
#include "mlpbench/defaults.hpp"
#include "mlpbench/measure.hpp"
#include "mlpbench/parse.hpp"
#include "mlpbench/runner.hpp"

namespace mlpbench::bench {

// Set when a benchmark fails its check or throws: the program then exits 3, so a smoke run can't pass on
// a wrong backend (Google Benchmark itself exits 0 after SkipWithError).
inline bool g_failed = false;

inline void fail(benchmark::State& state, const std::string& why) {
  g_failed = true;
  state.SkipWithError(why.c_str());
}

// Whether an output passed its check; a failure is reported (SkipWithError, exit 3) and must not be timed.
inline bool passed(benchmark::State& state, const CheckResult& c) {
  if (!c.ok) fail(state, "wrong output, not timed: " + c.first_mismatches);
  return c.ok;
}

inline std::vector<int> bench_widths() {
  const char* env = std::getenv("MLPBENCH_LAYERS");
  std::vector<int> w = env ? parse_int_list(env, "MLPBENCH_LAYERS", 1, kMaxWidth) : kDefaultLayers;
  validate_widths(w);
  return w;
}

// The CPU thread counts to register each CPU backend at: MLPBENCH_THREADS (a list, e.g. "1,2"; 0 = every core), else
// `mlpbench run`'s default (1, every core and the powers of two between), so bench/ times what a run times.
inline std::vector<int> bench_thread_counts() {
  const char* env = std::getenv("MLPBENCH_THREADS");
  if (!env) return default_thread_counts(resolve_threads(0));
  return normal_thread_counts(parse_int_list(env, "MLPBENCH_THREADS", 0, 4096));
}

// Times forward passes of `batch` rows (`timed`, already checked); `label` says how it is configured. passes per
// iteration: calibrated when 0 (hot), else as given (cold: 1, one eviction and one timed forward). An iteration is
// one sample of `passes` passes, as a sample of `run`, after untimed passes as `run` warms a slice; the counter median_us is the median of the repetition's
// samples (per pass, in us), as a run's round median is of its round's samples (Google Benchmark's real_time is
// their mean, which one stalled sample on a busy machine moves far).
inline void time_forward(benchmark::State& state, const TimedRun& timed, const Model& model, int batch, const std::string& label, int passes = 0) {
  if (passes <= 0) passes = calibrate_passes(timed, MeasureConfig{}.min_sample_s);
  // Untimed passes first, as `run` warms each slice (RoundsConfig::slice_warmup_s): the previous benchmark evicted
  // this one's caches.
  const auto w0 = std::chrono::steady_clock::now();
  do {
    timed(passes);
  } while (std::chrono::duration<double>(std::chrono::steady_clock::now() - w0).count() < RoundsConfig{}.slice_warmup_s);
  std::vector<double> samples_s;
  for (auto _ : state) {
    const double s = timed(passes) / passes;
    state.SetIterationTime(s);
    samples_s.push_back(s);
  }
  if (!samples_s.empty()) {
    std::sort(samples_s.begin(), samples_s.end());
    state.counters["median_us"] = quantile_sorted(samples_s, 0.5) * 1e6;
  }
  state.counters["FLOP/s"] = benchmark::Counter(model.flops_per_sample() * batch, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["passes/sample"] = passes;
  state.SetLabel(label);
}
inline void time_forward(benchmark::State& state, std::function<void()> pass, const Model& model, int batch, const std::string& label) {
  time_forward(state, wall_clock(std::move(pass)), model, batch, label);
}

// Registers BM_forward/<name>/<batch> at the default batch sizes: fn(state, args...), manual time, in us.
template <class Fn, class... Args>
void register_forward(const std::string& name, Fn fn, Args... args) {
  auto* b = benchmark::RegisterBenchmark(("BM_forward/" + name).c_str(), fn, args...)->UseManualTime()->Unit(benchmark::kMicrosecond);
  for (int batch : kDefaultBatchSizes) b->Arg(batch);
}

// x [batch, in] -> y [batch, out] through `backend`, after checking it against the CPU backend (itself
// checked against the double-precision reference). Cold: the caches evicted (untimed) before each timed pass,
// as `run --cache cold` times.
inline void forward_benchmark(benchmark::State& state, Backend* backend, const Model* model, int batch, CacheMode cache) {
  GateInputs gate;
  try {
    gate = make_gate_inputs(*model, {batch}, 1);
    const std::string failure = check_backend(*backend, *model, gate);  // the same gate as `run`
    if (!failure.empty()) return fail(state, "not timed: " + failure);
  } catch (const std::exception& e) {
    return fail(state, e.what());
  }
  const std::vector<float>& x = gate.inputs.front();
  std::vector<float> y(gate.expected.front().size());
  const auto pass = [&] { backend->forward(x.data(), y.data(), batch); };
  if (cache == CacheMode::Hot) return time_forward(state, wall_clock(pass), *model, batch, backend->config());
  time_forward(state, cold_clock(*backend, pass), *model, batch, backend->config() + ",cold", 1);
}

// BM_forward/<backend>/<batch>: hot, forwards back to back.
inline void BM_forward(benchmark::State& state, Backend* backend, const Model* model) {
  forward_benchmark(state, backend, model, static_cast<int>(state.range(0)), CacheMode::Hot);
}

// The benchmark's name: BM_forward/<backend>/<batch>, then for a CPU backend its thread count (/cpu_threads:<n>: one
// name per thread count, as `run` keeps one entry per backend and thread count), then /cold for a cold one.
inline std::string forward_name(const Backend& backend, int batch, CacheMode cache) {
  std::string name = "BM_forward/" + backend.name() + "/" + std::to_string(batch);
  if (backend.device() == Device::CPU) name += "/cpu_threads:" + std::to_string(backend.threads());
  return cache == CacheMode::Cold ? name + "/cold" : name;
}

// Registers forward_name(backend, batch, cache) at the default batch sizes (each batch size a benchmark of its own
// name, so the thread count and /cold can follow it).
inline void register_backend_forward(Backend* backend, const Model* model, CacheMode cache) {
  for (int batch : kDefaultBatchSizes) {
    benchmark::RegisterBenchmark(forward_name(*backend, batch, cache).c_str(),
                                 [=](benchmark::State& state) { forward_benchmark(state, backend, model, batch, cache); })
        ->UseManualTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

// A bench program's main: flags, the model, `add(model)` registers the benchmarks (the model lives until
// exit), then runs them. Returns the exit code: 0, 2 (bad flag or setup), 3 (a benchmark failed its check).
inline int bench_main(int argc, char** argv, const char* program, const std::function<void(const Model&)>& add) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  try {
    static const Model model = make_seeded_model(bench_widths(), 1);
    benchmark::AddCustomContext("mlpbench.layers", list_text(model.widths()));
    add(model);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: error: %s\n", program, e.what());
    return 2;
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return g_failed ? 3 : 0;
}

}  // namespace mlpbench::bench
