// See runner.hpp.
#include "mlpbench/runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>

#include "mlpbench/check.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/measure.hpp"
#include "mlpbench/nvml.hpp"

namespace mlpbench {
namespace {

void say(const RunConfig& c, const std::string& line) {
  if (c.log) c.log(line);
}

std::string format_error(double e) {
  std::ostringstream s;
  s.precision(3);
  s << e;
  return s.str();
}

}  // namespace

Energy measure_energy(EnergyCounter& meter, const std::function<void()>& forward, int batch, double window_s) {
  Energy e;
  const auto before = meter.joules();
  if (!before) {
    e.unavailable = meter.unavailable();
    return e;
  }
  long long passes = 0;
  const auto t0 = std::chrono::steady_clock::now();
  double elapsed = 0;
  while (elapsed < window_s) {
    forward();
    ++passes;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  const auto after = meter.joules();
  if (!after) {
    e.unavailable = meter.unavailable();
    return e;
  }
  if (*after <= *before) {
    e.unavailable = "NVML's energy counter did not advance over " + std::to_string(elapsed) + " s of forwards";
    return e;
  }
  e.window_s = elapsed;
  e.watts = (*after - *before) / elapsed;
  e.joules_per_inference = (*after - *before) / (static_cast<double>(passes) * batch);
  return e;
}

namespace {

void fill_reference(Results& r, const std::string& device, const RunConfig& config, const Results& ref) {
  for (int b : config.batch_sizes) {
    const Cell* c = ref.table.find(device, b);
    if (!c) continue;
    Cell cell;
    cell.source = Source::Reference;
    cell.backend = c->backend;
    cell.stats.median_ms = c->median_ms();
    cell.reference_file = config.reference_file;
    r.table.set(device, b, cell);
  }
}

}  // namespace

void check_memory(const std::vector<int>& widths, const std::vector<int>& batch_sizes, int backends) {
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGESIZE);
  const double machine = pages > 0 && page > 0 ? static_cast<double>(pages) * page : 16e9;
  const double gib = 1 << 30;
  double params = 0;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) params += (widths[i] + 1.0) * widths[i + 1];
  const int in = widths.front(), out = widths.back(), widest = *std::max_element(widths.begin(), widths.end());
  const int most = *std::max_element(batch_sizes.begin(), batch_sizes.end());
  // f32: the model's weights and every backend's copy; each backend's two activation buffers at the
  // largest batch; every batch size's input, expected output and output, held together during a run.
  const double weights = 4.0 * params * (1 + backends);
  double buffers = 4.0 * backends * 2.0 * most * widest;
  for (int b : batch_sizes) buffers += 4.0 * b * (in + 2.0 * out);
  if (weights + buffers > machine / 2) {
    std::ostringstream s;
    s.precision(3);
    s << "batch size " << most << " on layers of up to " << widest << " wide needs " << (weights + buffers) / gib << " GiB (weights "
      << weights / gib << " GiB, buffers " << buffers / gib << " GiB, " << backends << " backends), more than half of this machine's "
      << machine / gib << " GiB";
    throw InputError(s.str());
  }
}

void check_cpu_backend(Backend& cpu, const Model& model, const std::vector<float>& x, int batch, std::vector<float>& y) {
  cpu.forward(x.data(), y.data(), batch);
  const int rows = std::min(batch, 8);
  const std::vector<double> ref = reference_forward(model, x.data(), rows);
  const CheckResult r = check_close(y.data(), ref.data(), ref.size(), kToleranceF32);
  if (!r.ok) {
    throw RuntimeError("backend " + cpu.name() + " is wrong at batch " + std::to_string(batch) + " (max abs error " + format_error(r.max_abs_error) +
                       "): " + r.first_mismatches + "; not timed");
  }
}

std::string check_backend(Backend& be, const Model& model, const std::vector<int>& batch_sizes, const std::vector<std::vector<float>>& inputs,
                          const std::vector<std::vector<float>>& expected) {
  be.prepare(model, *std::max_element(batch_sizes.begin(), batch_sizes.end()));
  std::vector<float> y;
  for (std::size_t i = 0; i < batch_sizes.size(); ++i) {
    const int b = batch_sizes[i];
    be.plan(b);
    y.assign(expected[i].size(), NAN);
    be.forward(inputs[i].data(), y.data(), b);
    const CheckResult c = check_close(y.data(), expected[i].data(), y.size(), tolerance_for(be.precision()));
    if (!c.ok) return "wrong at batch " + std::to_string(b) + " (max abs error " + format_error(c.max_abs_error) + "): " + c.first_mismatches;
  }
  return "";
}

Results run_benchmark(const Model& model, const RunConfig& config, GpuBackends gpu) {
  Results r;
  r.model = model_info(model);
  const bool want_cpu = config.device != "gpu";
  const bool want_gpu = config.device != "cpu";
  const int max_batch = *std::max_element(config.batch_sizes.begin(), config.batch_sizes.end());
  const int in = model.input_width(), out = model.output_width();

  // Columns not measured here come from the reference table: read it first, so a bad file fails at once.
  const bool gpu_measurable = want_gpu && !gpu.backends.empty();
  std::optional<Results> reference;
  if (config.reference) reference = *config.reference;
  else if (!want_cpu || !gpu_measurable) reference = read_results(config.reference_file);

  // The CPU backend always runs once per batch size: it is the reference every GPU backend must match.
  // The plain Eigen backend (all cores) is the reference; every CPU backend is timed at every thread count.
  auto cpu = make_cpu_backend(0);
  cpu->prepare(model, max_batch);
  std::vector<std::vector<float>> inputs, expected;
  for (int b : config.batch_sizes) {
    inputs.push_back(make_seeded_input(b, in, config.input_seed));
    expected.emplace_back(static_cast<std::size_t>(b) * out);
    check_cpu_backend(*cpu, model, inputs.back(), b, expected.back());
  }

  // Correctness gate for the GPU: each backend at each batch size against the CPU's output, after
  // planning that batch size (algorithm choice, graph capture), so what is checked is what is timed.
  // A GPU backend that fails is left out with why; the run goes on with the others.
  std::vector<Backend*> gpu_ok;
  if (want_gpu) {
    for (const std::string& s : gpu.skipped) r.notes.push_back("GPU backend " + s);
    for (auto& g : gpu.backends) {
      std::string failure;
      try {
        failure = check_backend(*g, model, config.batch_sizes, inputs, expected);
      } catch (const std::exception& e) {
        failure = e.what();
      }
      if (failure.empty()) {
        gpu_ok.push_back(g.get());
      } else {
        r.notes.push_back("GPU backend " + g->name() + " left out, not timed: " + failure);
        say(config, r.notes.back());
      }
    }
    if (!gpu.backends.empty() && gpu_ok.empty()) {
      throw RuntimeError("no GPU backend passed its check against the CPU: " + r.notes.back());
    }
  }

  // Every CPU backend at every thread count, checked against the reference output before it is timed;
  // with --precision bf16 also the bf16-weight backend (its own, looser tolerance).
  std::vector<std::unique_ptr<Backend>> cpu_backends;
  if (want_cpu) {
    for (int t : config.threads) {
      cpu_backends.push_back(make_cpu_backend(t));
      cpu_backends.push_back(make_cpu_packed_backend(t));
      if (config.precision == Precision::BF16) {
        if (auto bf16 = make_cpu_packed_bf16_backend(t)) {
          cpu_backends.push_back(std::move(bf16));
        } else if (t == config.threads.front()) {
          r.notes.push_back("CPU backend eigen-omp-packed-bf16 not available: this build has no bf16 SIMD packets");
        }
      }
    }
    // A wrong CPU backend ends the run: the CPU column has no other source.
    for (auto& c : cpu_backends) {
      const std::string failure = check_backend(*c, model, config.batch_sizes, inputs, expected);
      if (!failure.empty()) throw RuntimeError("CPU backend " + c->name() + " (" + c->config() + ") is " + failure + "; not timed");
    }
  }
  const int timed_backends = static_cast<int>(cpu_backends.size() + gpu_ok.size());
  const MeasureConfig mc = config.quick ? quick_config(timed_backends * static_cast<int>(config.batch_sizes.size())) : MeasureConfig{};
  // Phases are secondary figures: a shorter budget each.
  MeasureConfig phase_mc = mc;
  phase_mc.min_time_s = std::min(mc.min_time_s, 0.1);
  phase_mc.max_time_s = std::min(mc.max_time_s, 0.5);
  phase_mc.warmup_s = std::min(mc.warmup_s, 0.05);

  std::unique_ptr<GpuEnergyMeter> energy_meter;
  if (!gpu_ok.empty()) energy_meter = std::make_unique<GpuEnergyMeter>();
  const double energy_window_s = config.quick ? 0.05 : 0.5;

  for (std::size_t i = 0; i < config.batch_sizes.size(); ++i) {
    const int b = config.batch_sizes[i];
    std::vector<float> y(static_cast<std::size_t>(b) * out);
    const auto forward = [&](Backend* be) { be->forward(inputs[i].data(), y.data(), b); };
    auto run_backend = [&](Backend* be) {
      say(config, "measuring " + be->name() + " at batch " + std::to_string(b));
      BackendRun run;
      run.backend = be->name();
      run.config = be->config();
      run.io = be->io();
      run.threads = be->threads();
      run.bytes_per_weight = be->bytes_per_weight();
      run.stats = measure(wall_clock([&] { forward(be); }), mc);
      // The device-only time, and the copies around it where the backend has them.
      if (const TimedRun compute = be->phase_timer(Phase::Compute, inputs[i].data(), b)) {
        DeviceSplit d;
        d.compute_ms = measure(compute, phase_mc).median_ms;
        if (const TimedRun h2d = be->phase_timer(Phase::H2D, inputs[i].data(), b)) d.h2d_ms = measure(h2d, phase_mc).median_ms;
        if (const TimedRun d2h = be->phase_timer(Phase::D2H, inputs[i].data(), b)) d.d2h_ms = measure(d2h, phase_mc).median_ms;
        run.split = d;
      }
      return run;
    };
    if (want_cpu) {
      std::vector<BackendRun> runs;
      for (auto& c : cpu_backends) runs.push_back(run_backend(c.get()));
      Cell cell = best_of(std::move(runs));
      if (config.roof) apply_floor(cell, cpu_floor(config.roof->cpu, cell.threads, model, b, cell.bytes_per_weight));
      r.table.set("CPU", b, std::move(cell));
    }
    if (!gpu_ok.empty()) {
      std::vector<BackendRun> runs;
      for (Backend* g : gpu_ok) runs.push_back(run_backend(g));
      Cell cell = best_of(std::move(runs));
      if (config.roof && config.roof->gpu) apply_floor(cell, gpu_floor(*config.roof->gpu, config.precision, model, b));
      const auto headline = std::find_if(gpu_ok.begin(), gpu_ok.end(), [&](Backend* g) { return g->name() == cell.backend; });
      if (headline == gpu_ok.end()) throw std::logic_error("the GPU cell's headline backend " + cell.backend + " is not among those timed");
      cell.energy = measure_energy(*energy_meter, [&] { forward(*headline); }, b, energy_window_s);
      r.table.set("GPU", b, std::move(cell));
    }
  }
  r.table.batch_sizes = config.batch_sizes;
  std::sort(r.table.batch_sizes.begin(), r.table.batch_sizes.end());

  // Columns not measured here come from the reference table, labelled as such.
  if (!want_cpu) {
    fill_reference(r, "CPU", config, *reference);
    r.not_measured["CPU"] = "--device gpu";
  }
  if (gpu_ok.empty()) {
    fill_reference(r, "GPU", config, *reference);
    r.not_measured["GPU"] = !want_gpu ? "--device cpu" : gpu.unavailable.empty() ? "no GPU backend available" : gpu.unavailable;
  }
  int most_threads = 0;
  for (int t : config.threads) most_threads = std::max(most_threads, t > 0 ? t : available_cores());
  r.machine = collect_machine_info(most_threads, &gpu);
  r.build = build_info(gpu.built_with_cuda);
  return r;
}

}  // namespace mlpbench
