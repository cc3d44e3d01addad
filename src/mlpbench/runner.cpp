// See runner.hpp: the steps of a run, then run_benchmark and run, which put them in order.
#include "mlpbench/runner.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>

#include "mlpbench/build_info.hpp"
#include "mlpbench/check.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/reference.hpp"
#include "mlpbench/sysinfo.hpp"
#include "mlpbench/warnings.hpp"

namespace mlpbench {
namespace {

void say(const std::function<void(const std::string&, bool)>& log, const std::string& line, bool lasting = false) {
  if (log) log(line, lasting);
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string s;
  for (const std::string& p : parts) s += (s.empty() ? "" : sep) + p;
  return s;
}

// --gpu-io registered: the buffers of the cells of registered-I/O backends are registered with the device once,
// as a server's request buffers are: a page-aligned copy of each gate input (shared: a page is registered once)
// and an output buffer per cell, on pages of their own. Other backends keep the gate's vectors and their own.
class RegisteredIo {
 public:
  explicit RegisteredIo(const std::vector<Backend*>& backends) {
    for (Backend* be : backends) {
      if (be->io() == gpu_io_name(GpuIo::Registered)) registrar_ = be;
    }
  }
  const float* input(const Backend& be, const std::vector<float>& in) {
    if (!registrar_ || be.io() != gpu_io_name(GpuIo::Registered)) return in.data();
    float*& copy = copies_[in.data()];
    if (!copy) copy = registered(in.size(), in.data());
    return copy;
  }
  float* output(const Backend& be, std::vector<float>& own) {
    if (!registrar_ || be.io() != gpu_io_name(GpuIo::Registered)) return own.data();
    return registered(own.size(), nullptr);
  }

 private:
  struct Pages {
    std::unique_ptr<float, void (*)(void*)> memory{nullptr, std::free};
    std::shared_ptr<void> registration;  // destroyed first: unregistered before freed
  };
  float* registered(std::size_t floats, const float* init) {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t bytes = (std::max<std::size_t>(floats, 1) * sizeof(float) + page - 1) / page * page;
    Pages p;
    p.memory.reset(static_cast<float*>(std::aligned_alloc(page, bytes)));
    if (!p.memory) throw RuntimeError("could not allocate " + std::to_string(bytes) + " bytes of host memory to register");
    std::memset(p.memory.get(), 0, bytes);
    if (init) std::memcpy(p.memory.get(), init, floats * sizeof(float));
    p.registration = registrar_->register_host(p.memory.get(), bytes);
    pages_.push_back(std::move(p));
    return pages_.back().memory.get();
  }
  Backend* registrar_ = nullptr;  // any registered-I/O backend: a registration is the process's
  std::map<const float*, float*> copies_;
  std::vector<Pages> pages_;
};

std::string format_error(double e) {
  std::ostringstream s;
  s.precision(3);
  s << e;
  return s.str();
}

}  // namespace

std::string default_reference_file() {
  // results/reference.json here; beside an installed program (<prefix>/bin/../share/mlpbench); the source tree.
  const std::string local = "results/reference.json";
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::vector<std::filesystem::path> candidates = {local, ec ? std::filesystem::path() : exe.parent_path() / "../share/mlpbench/reference.json",
                                                         std::filesystem::path(kSourceDir) / "results/reference.json"};
  for (const auto& c : candidates) {
    if (!c.empty() && std::filesystem::exists(c, ec)) return c.lexically_normal().string();
  }
  return local;  // reading it will say it is missing
}

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

GateInputs make_gate_inputs(const Model& model, const std::vector<int>& batch_sizes, std::uint64_t seed) {
  // The plain Eigen backend (all cores) computes what every other backend must match.
  auto cpu = make_cpu_backend(0);
  cpu->prepare(model, *std::max_element(batch_sizes.begin(), batch_sizes.end()));
  GateInputs g;
  g.batch_sizes = batch_sizes;
  for (int b : batch_sizes) {
    g.inputs.push_back(make_seeded_input(b, model.input_width(), seed));
    g.expected.emplace_back(static_cast<std::size_t>(b) * model.output_width());
    check_cpu_backend(*cpu, model, g.inputs.back(), b, g.expected.back());
  }
  return g;
}

std::string check_backend(Backend& be, const Model& model, const GateInputs& gate) {
  be.prepare(model, *std::max_element(gate.batch_sizes.begin(), gate.batch_sizes.end()));
  RegisteredIo registered({&be});  // what is checked is what is timed: registered I/O in place
  for (std::size_t i = 0; i < gate.batch_sizes.size(); ++i) {
    const int b = gate.batch_sizes[i];
    be.plan(b);
    std::vector<float> own(gate.expected[i].size(), NAN);
    float* y = registered.output(be, own);
    std::fill(y, y + own.size(), NAN);
    be.forward(registered.input(be, gate.inputs[i]), y, b);
    const CheckResult c = check_close(y, gate.expected[i].data(), own.size(), tolerance_for(be.precision()));
    if (!c.ok) return "wrong at batch " + std::to_string(b) + " (max abs error " + format_error(c.max_abs_error) + "): " + c.first_mismatches;
  }
  return "";
}

std::vector<Backend*> gate_gpu_backends(const std::vector<std::unique_ptr<Backend>>& backends, const Model& model, const GateInputs& gate,
                                        std::vector<std::string>& notes) {
  // Each backend at each batch size after planning it (algorithm choice, graph capture), so what is
  // checked is what is timed.
  std::vector<Backend*> ok;
  for (const auto& g : backends) {
    std::string failure;
    try {
      failure = check_backend(*g, model, gate);
    } catch (const std::exception& e) {
      failure = e.what();
    }
    if (failure.empty()) ok.push_back(g.get());
    else notes.push_back("GPU backend " + g->name() + " left out, not timed: " + failure);
  }
  return ok;
}

std::vector<std::unique_ptr<Backend>> make_cpu_backends(const RunConfig& config, std::vector<std::string>& notes) {
  std::vector<std::unique_ptr<Backend>> out;
  const auto add = [&](std::unique_ptr<Backend> b) {
    if (backend_chosen(b->name(), config.backends)) out.push_back(std::move(b));
  };
  for (int t : config.threads) {
    add(make_cpu_backend(t));
    add(make_cpu_packed_backend(t));
    if (config.precision != Precision::BF16 || !backend_chosen("eigen-omp-packed-bf16", config.backends)) continue;
    if (auto bf16 = make_cpu_packed_bf16_backend(t)) {
      out.push_back(std::move(bf16));
    } else if (t == config.threads.front()) {
      notes.push_back("CPU backend eigen-omp-packed-bf16 not available: this build has no bf16 SIMD packets");
    }
  }
  return out;
}

void check_backend_choice(const RunConfig& config) {
  if (config.backends.empty()) return;
  // Which of the chosen can run here at this precision, per device.
  bool cpu = false, gpu = false;
  for (const std::string& name : config.backends) {
    const std::string kernel = name.substr(0, name.find('+'));
    if (kernel == "eigen-omp-packed-bf16") cpu = cpu || config.precision == Precision::BF16;
    else if (std::find(kCpuBackendNames.begin(), kCpuBackendNames.end(), kernel) != kCpuBackendNames.end()) cpu = true;
    else gpu = gpu || kernel == "cublaslt" || config.precision == Precision::FP32;
  }
  const std::string chosen = "--backend " + join(config.backends, ",");
  const std::string why = " (eigen-omp-packed-bf16 runs with --precision bf16 only, the cuda-* kernels with fp32 only)";
  if (config.device == "cpu" && !cpu) throw InputError(chosen + " names no CPU backend that runs at " + precision_name(config.precision) + ", and --device cpu measures only the CPU" + why);
  if (config.device == "gpu" && !gpu) throw InputError(chosen + " names no GPU backend that runs at " + precision_name(config.precision) + ", and --device gpu measures only the GPU" + why);
  if (!cpu && !gpu) throw InputError(chosen + " names no backend that runs at " + precision_name(config.precision) + why);
}

int cpu_backend_count(const RunConfig& config) {
  std::vector<std::string> notes;
  return 1 + static_cast<int>(make_cpu_backends(config, notes).size());  // + the reference backend of make_gate_inputs
}

void gate_cpu_backends(const std::vector<std::unique_ptr<Backend>>& backends, const Model& model, const GateInputs& gate) {
  for (const auto& c : backends) {
    const std::string failure = check_backend(*c, model, gate);
    if (!failure.empty()) throw RuntimeError("CPU backend " + c->name() + " (" + c->config() + ") is " + failure + "; not timed");
  }
}

MeasureBudget measure_budget(bool quick, int timed_cells) {
  MeasureBudget b;
  b.rounds.per_item = quick ? quick_config(timed_cells) : MeasureConfig{};
  // Rounds are the unit of evidence: at least 5 (compare's test and the cell's interval use their medians), and the
  // interval of 5-6 round medians is their range, so the target is on that: 2% (--quick: 5%) either way.
  b.rounds.rounds = quick ? 5 : 6;
  b.rounds.per_item.target_rel_ci = quick ? 0.05 : 0.02;
  b.rounds.per_item.max_time_s = quick ? b.rounds.per_item.max_time_s : 3.0;
  b.rounds.per_item.cap_time_s = quick ? 10 : 60;
  // Phases are secondary figures (pooled samples, measure()): a shorter budget each.
  b.phases = quick ? quick_config(timed_cells) : MeasureConfig{};
  b.phases.min_time_s = std::min(b.phases.min_time_s, 0.1);
  b.phases.max_time_s = std::min(b.phases.max_time_s, 0.5);
  b.phases.warmup_s = std::min(b.phases.warmup_s, 0.05);
  b.phases.cap_time_s = 2;
  b.energy_window_s = 2;  // --quick too: a shorter window of a stepwise counter holds too few steps
  return b;
}

MeasureBudget measure_budget(const RunConfig& config, int timed_cells) {
  MeasureBudget b = measure_budget(config.quick, timed_cells);
  MeasureConfig& c = b.rounds.per_item;
  if (config.warmup_s) c.warmup_s = *config.warmup_s;
  if (config.min_time_s) c.min_time_s = *config.min_time_s, c.max_time_s = std::max(c.max_time_s, c.min_time_s);
  if (config.min_samples) c.min_samples = *config.min_samples;
  return b;
}

TimedRun cold_clock(Backend& be, std::function<void()> pass) {
  return [&be, pass = std::move(pass)](int passes) {
    double s = 0;
    for (int i = 0; i < passes; ++i) {
      be.evict_caches();  // not timed
      const auto t0 = std::chrono::steady_clock::now();
      pass();
      s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    }
    return s;
  };
}

BackendRun backend_run(const Backend& be, const Stats& stats, CacheMode mode) {
  BackendRun run;
  run.backend = be.name();
  run.config = be.config();
  run.io = be.io();
  run.cache = mode;
  run.threads = be.threads();
  run.bytes_per_weight = be.bytes_per_weight();
  run.stats = stats;
  return run;
}

namespace {

// What measure_all times: item (m * batches + i) * n + k is backend k at batch size i in cache mode m, each with its
// own output buffer (registered ones for registered I/O).
struct TimedItems {
  std::vector<std::vector<float>> outputs;
  std::vector<TimedRun> timers;
  std::vector<std::string> labels;  // for progress lines
  std::vector<bool> on_gpu;
  RoundsConfig rounds;
};

TimedItems timed_items(const std::vector<Backend*>& backends, const GateInputs& gate, int output_width, const std::vector<CacheMode>& modes,
                       const MeasureBudget& budget, RegisteredIo& registered) {
  TimedItems t;
  t.rounds = budget.rounds;
  t.rounds.passes.clear();
  t.rounds.idle_warmup_s.clear();
  for (CacheMode mode : modes) {
    for (std::size_t i = 0; i < gate.batch_sizes.size(); ++i) {
      const int b = gate.batch_sizes[i];
      for (Backend* be : backends) {
        t.outputs.emplace_back(static_cast<std::size_t>(b) * output_width);
        float* y = registered.output(*be, t.outputs.back());
        const float* x = registered.input(*be, gate.inputs[i]);
        auto pass = [be, x, y, b] { be->forward(x, y, b); };
        t.timers.push_back(mode == CacheMode::Hot ? wall_clock(pass) : cold_clock(*be, pass));
        t.rounds.passes.push_back(mode == CacheMode::Hot ? 0 : 1);  // a cold sample: one eviction, one timed forward
        t.on_gpu.push_back(be->device() == Device::GPU);
        t.rounds.idle_warmup_s.push_back(t.on_gpu.back() ? budget.gpu_idle_warmup_s : 0);
        t.labels.push_back(be->name() + " [" + be->config() + "] at batch " + std::to_string(b) + (mode == CacheMode::Cold ? " cold" : ""));
      }
    }
  }
  return t;
}

// A timed cell's run of `be`; hot: the device-only time, and the copies around it, where the backend has device timers.
BackendRun timed_run(Backend& be, const Stats& stats, CacheMode mode, const float* x, int b, const MeasureBudget& budget,
                     const std::function<void(const std::string&, bool)>& log) {
  BackendRun run = backend_run(be, stats, mode);
  const TimedRun compute = mode == CacheMode::Hot ? be.phase_timer(Phase::Compute, x, b) : TimedRun{};
  if (!compute) return run;
  say(log, "device phases of " + be.name() + " at batch " + std::to_string(b));
  DeviceSplit d;
  d.compute_ms = measure(compute, budget.phases).median_ms;
  if (const TimedRun h2d = be.phase_timer(Phase::H2D, x, b)) d.h2d_ms = measure(h2d, budget.phases).median_ms;
  if (const TimedRun d2h = be.phase_timer(Phase::D2H, x, b)) d.d2h_ms = measure(d2h, budget.phases).median_ms;
  run.split = d;
  return run;
}

}  // namespace

std::vector<std::vector<std::vector<BackendRun>>> measure_all(const std::vector<Backend*>& backends, const GateInputs& gate, int output_width,
                                                              const std::vector<CacheMode>& modes, const MeasureBudget& budget,
                                                              const std::function<double()>& probe_ms, std::vector<double>& drift_ms,
                                                              const std::function<void(const std::string&, bool)>& log,
                                                              const std::function<void()>& after_gpu_slice) {
  const std::size_t batches = gate.batch_sizes.size(), n = backends.size();
  RegisteredIo registered(backends);
  const TimedItems items = timed_items(backends, gate, output_width, modes, budget, registered);
  // A heartbeat in the log while a slow cell is sampled (passes of seconds): at least every 5 s.
  RoundsProgress progress;
  progress.report = [&](std::size_t item, int samples, double sampled_s) {
    const std::string& label = items.labels[item];
    say(log, samples == 0 ? "warming up " + label
                          : label + ": " + std::to_string(samples) + (samples == 1 ? " sample in " : " samples in ") + format_ms(sampled_s) + " s",
        /*lasting=*/true);
  };
  progress.slice_done = [&](std::size_t item) {
    if (after_gpu_slice && items.on_gpu[item]) after_gpu_slice();
  };
  std::string what = std::to_string(n) + " backends x " + std::to_string(batches) + " batch sizes";
  if (modes.size() > 1) what += " x hot and cold";
  else if (modes.front() == CacheMode::Cold) what += ", caches evicted before every pass";
  say(log, "measuring " + what + " in " + std::to_string(budget.rounds.rounds) + " interleaved rounds");
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<Stats> stats = measure_rounds(items.timers, items.rounds, [&](int round) {
    std::string line = "round " + std::to_string(round + 1) + " done (" +
                       format_ms(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()) + " s)";
    if (probe_ms) {
      drift_ms.push_back(probe_ms());
      line += ", drift probe " + format_ms(drift_ms.back()) + " ms";
    }
    say(log, line, /*lasting=*/true);
  }, progress);
  std::vector<std::vector<std::vector<BackendRun>>> runs(modes.size(), std::vector<std::vector<BackendRun>>(batches));
  for (std::size_t m = 0; m < modes.size(); ++m) {
    for (std::size_t i = 0; i < batches; ++i) {
      for (std::size_t k = 0; k < n; ++k) {
        runs[m][i].push_back(timed_run(*backends[k], stats[(m * batches + i) * n + k], modes[m], gate.inputs[i].data(), gate.batch_sizes[i], budget, log));
      }
    }
  }
  return runs;
}

std::vector<std::vector<std::vector<BackendRun>>> run_emulated(const std::vector<Backend*>& backends, const GateInputs& gate, int output_width,
                                                               const std::vector<CacheMode>& modes) {
  const std::size_t batches = gate.batch_sizes.size();
  std::vector<std::vector<std::vector<BackendRun>>> runs(modes.size(), std::vector<std::vector<BackendRun>>(batches));
  for (std::size_t m = 0; m < modes.size(); ++m) {
    for (std::size_t i = 0; i < batches; ++i) {
      const int b = gate.batch_sizes[i];
      const float* x = gate.inputs[i].data();
      for (Backend* be : backends) {
        be->plan(b);
        RegisteredIo registered({be});
        std::vector<float> first(static_cast<std::size_t>(b) * output_width), again(first.size());
        for (std::vector<float>* y : {&first, &again}) {
          if (modes[m] == CacheMode::Cold) be->evict_caches();
          float* out = registered.output(*be, *y);
          be->forward(registered.input(*be, gate.inputs[i]), out, b);
          if (out != y->data()) std::memcpy(y->data(), out, y->size() * sizeof(float));
        }
        if (std::memcmp(first.data(), again.data(), first.size() * sizeof(float)) != 0) {
          throw RuntimeError("GPU backend " + be->name() + " on the CUDA emulator gave other bits at batch " + std::to_string(b) + " (" +
                             cache_name(modes[m]) + ") when run again on the same input: it is not deterministic");
        }
        // The phase timers run too, so their code is exercised; an emulated time means nothing.
        for (Phase phase : {Phase::H2D, Phase::Compute, Phase::D2H}) {
          if (const TimedRun timer = be->phase_timer(phase, x, b)) (void)timer(1);
        }
        runs[m][i].push_back(backend_run(*be, {}, modes[m]));
      }
    }
  }
  return runs;
}

Cell cell_of(std::vector<BackendRun> runs) { return best_of(std::move(runs)); }

std::optional<GpuClockReadings> clock_readings(const GpuClocks& start, const std::vector<GpuClocks>& timed, const GpuClocks& end) {
  GpuClockReadings r;
  bool any = false;
  for (const GpuClocks* c : {&start, &end}) {
    any = any || c->valid;
    r.max = std::max(r.max, c->valid ? c->sm_max_mhz : 0u);
  }
  r.start = start.valid ? start.sm_mhz : 0;
  r.end = end.valid ? end.sm_mhz : 0;
  std::vector<double> mhz;
  unsigned long long reasons = 0;
  for (const GpuClocks& c : timed) {
    if (!c.valid) continue;
    mhz.push_back(c.sm_mhz);
    reasons |= c.reasons;
    r.max = std::max(r.max, c.sm_max_mhz);
  }
  if (!mhz.empty()) {
    GpuClockSamples t;
    t.readings = static_cast<int>(mhz.size());
    t.min = static_cast<unsigned>(*std::min_element(mhz.begin(), mhz.end()));
    t.max = static_cast<unsigned>(*std::max_element(mhz.begin(), mhz.end()));
    t.median = static_cast<unsigned>(std::lround(median_of(mhz)));
    if (reasons != 0) t.reasons = clock_reasons_text(reasons);
    r.timed = t;
  }
  if (!any && !r.timed) return std::nullopt;
  return r;
}

namespace {

// A reading of the counter that differs from the one before, and when it was taken.
struct CounterChange {
  std::optional<double> joules;  // nullopt: the counter failed (`failed`), or did not change by the deadline
  std::chrono::steady_clock::time_point at;
  bool failed = false;
};

// Forwards until the counter reads other than `from` or `deadline` passes, counted in `passes`. The counter is read
// at most once a millisecond (a read costs microseconds, a forward may too), so a change is seen within ~1 ms.
CounterChange forwards_until_change(EnergyCounter& meter, const std::function<void()>& forward, double from,
                                    std::chrono::steady_clock::time_point deadline, long long& passes) {
  using Clock = std::chrono::steady_clock;
  auto last_read = Clock::now();
  for (;;) {
    forward();
    ++passes;
    const auto now = Clock::now();
    if (now - last_read < std::chrono::milliseconds(1) && now < deadline) continue;
    last_read = now;
    const auto j = meter.joules();
    if (!j) return {std::nullopt, now, true};
    if (*j != from) return {j, now};
    if (now >= deadline) return {std::nullopt, now};
  }
}

}  // namespace

// NVML's counter moves in steps (tens of ms apart), so a window read at arbitrary times is off by up to a step at
// each end. Started on one change and stopped on the first change after window_s, it holds whole steps: the
// joules between the two readings were spent between them.
Energy measure_energy(EnergyCounter& meter, const std::function<void()>& forward, int batch, double window_s) {
  using Clock = std::chrono::steady_clock;
  Energy e;
  const auto seconds = [](Clock::duration d) { return std::chrono::duration<double>(d).count(); };
  const auto window = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(window_s));
  const auto first = meter.joules();
  if (!first) {
    e.unavailable = meter.unavailable();
    return e;
  }
  // The start: the counter's next step, forwards running meanwhile (a warm-up too), within one window.
  long long passes = 0;
  const auto t_first = Clock::now();
  const CounterChange start = forwards_until_change(meter, forward, *first, t_first + window, passes);
  if (!start.joules) {
    e.unavailable = start.failed ? meter.unavailable()
                                 : "NVML's energy counter did not advance over " + std::to_string(seconds(start.at - t_first)) + " s of forwards";
    return e;
  }
  // The stop: the first step after window_s of forwards, within another window.
  passes = 0;
  while (Clock::now() - start.at < window) {
    forward();
    ++passes;
  }
  const auto last = meter.joules();  // the steps inside the window are not the stop
  const CounterChange stop = last ? forwards_until_change(meter, forward, *last, start.at + 2 * window, passes) : CounterChange{{}, Clock::now(), true};
  const double elapsed = seconds(stop.at - start.at);
  if (!stop.joules || *stop.joules <= *start.joules) {
    e.unavailable = stop.failed ? meter.unavailable()
                                : "NVML's energy counter did not move forward over " + std::to_string(elapsed) + " s of forwards after its first step";
    return e;
  }
  e.window_s = elapsed;
  e.watts = (*stop.joules - *start.joules) / elapsed;
  e.joules_per_inference = (*stop.joules - *start.joules) / (static_cast<double>(passes) * batch);
  return e;
}

namespace {

// The energy of the cell's headline backend, as it was timed (registered I/O in registered buffers).
Energy headline_energy(EnergyCounter& meter, const std::vector<Backend*>& timed, const std::string& headline, const GateInputs& gate,
                       std::size_t i, int output_width, double window_s) {
  const auto be = std::find_if(timed.begin(), timed.end(), [&](Backend* g) { return g->name() == headline; });
  if (be == timed.end()) throw std::logic_error("the GPU cell's headline backend " + headline + " is not among those timed");
  const int b = gate.batch_sizes[i];
  RegisteredIo registered({*be});
  std::vector<float> own(static_cast<std::size_t>(b) * output_width);
  float* y = registered.output(**be, own);
  const float* x = registered.input(**be, gate.inputs[i]);
  return measure_energy(meter, [&] { (*be)->forward(x, y, b); }, b, window_s);
}

}  // namespace

std::optional<Results> read_reference(const RunConfig& config, bool needed) {
  if (config.reference_file.empty() && !needed) return std::nullopt;
  return read_results(config.reference_file.empty() ? default_reference_file() : config.reference_file);
}

std::string reference_misfit(const Results& reference, const Model& model, Precision precision, const std::string& file) {
  const std::string ours = list_text(model.widths()) + " at " + precision_name(precision);
  // A file that doesn't record its precision (the illustrative table) is fp32, as every run before --precision.
  const std::string theirs = list_text(reference.model.layers) + " at " + reference.run.precision.value_or("fp32");
  if (reference.model.layers != model.widths() || theirs != ours) return "no reference for " + ours + " in " + file + " (it holds " + theirs + ")";
  if (is_cold(reference.table)) return file + " holds cold cells (--cache cold), and a reference stands in for hot ones";
  return "";
}

void fill_reference(Table& table, const std::string& device, const std::vector<int>& batch_sizes, const Results& reference, const std::string& file,
                    const std::string& why) {
  for (int b : batch_sizes) {
    const Cell* c = reference.table.find(device, b);
    if (!c || c->source == Source::Emulated) continue;  // no time to stand in with
    Cell cell = as_reference_cell(*c, device, reference, file);
    cell.why = why;
    table.set(device, b, std::move(cell));
  }
}

namespace {

std::optional<Floor> floor_of(const std::string& device, const Cell& c, const MachineRoof& roof, const Model& model, int batch,
                              Precision precision) {
  if (device == "CPU") return cpu_floor(roof.cpu, c.threads, model, batch, c.bytes_per_weight, c.cache);
  if (roof.gpu) return gpu_floor(*roof.gpu, precision, model, batch, c.cache);
  return std::nullopt;
}

template <class T, class F>
void for_measured(T& table, F f) {  // T: Table or const Table
  for (auto& [device, per_batch] : table.cells) {
    for (auto& [batch, cell] : per_batch) {
      if (cell.source == Source::Measured) f(device, batch, cell);
    }
  }
}

}  // namespace

int cells_beating_floor(const Table& table, const MachineRoof& roof, const Model& model, Precision precision) {
  int n = 0;
  for_measured(table, [&](const std::string& device, int batch, const Cell& c) {
    const auto f = floor_of(device, c, roof, model, batch, precision);
    n += f && c.median_ms() < f->ms;
  });
  return n;
}

void apply_floors(Table& table, const MachineRoof& roof, const Model& model, Precision precision) {
  for_measured(table, [&](const std::string& device, int batch, Cell& c) { apply_floor(c, floor_of(device, c, roof, model, batch, precision)); });
}

namespace {

using Runs = std::vector<std::vector<std::vector<BackendRun>>>;  // [cache mode][batch size][backend]

// The GPU backends that pass their check (--backend: of those chosen); one that fails is left out with why in notes.
std::vector<Backend*> gated_gpu_backends(const Model& model, const RunConfig& config, GpuBackends& gpu, const GateInputs& gate, bool want_cpu,
                                         std::vector<std::string>& notes) {
  if (!config.backends.empty() && !gpu.backends.empty()) {
    std::vector<std::unique_ptr<Backend>> chosen;
    for (auto& g : gpu.backends) {
      if (backend_chosen(g->name(), config.backends)) chosen.push_back(std::move(g));
    }
    gpu.backends = std::move(chosen);
    if (gpu.backends.empty()) gpu.unavailable = "--backend " + join(config.backends, ",") + " chose no GPU backend";
  }
  for (const std::string& s : gpu.skipped) notes.push_back("GPU backend " + s);
  const std::size_t before = notes.size();
  say(config.log, "checking " + std::to_string(gpu.backends.size()) + " GPU backends against those outputs");
  std::vector<Backend*> ok = gate_gpu_backends(gpu.backends, model, gate, notes);
  for (std::size_t i = before; i < notes.size(); ++i) say(config.log, notes[i], /*lasting=*/true);
  if (!gpu.backends.empty() && ok.empty()) {
    if (!want_cpu) throw RuntimeError("no GPU backend passed its check against the CPU: " + notes.back());
    gpu.unavailable = "every GPU backend failed its check against the CPU (the notes say how)";
  }
  return ok;
}

// The cells of every table from the runs: runs[m][i] holds the CPU backends' runs first (cpu_count), then the GPU's;
// emulated GPU cells from emulated_runs. The headline GPU cells of hot tables get their energy.
struct CellSources {
  Runs runs, emulated_runs;
  std::size_t cpu_count = 0;
  const std::vector<Backend*>* gpu_ok = nullptr;
};

void fill_tables(Results& r, const RunConfig& config, const RunContext& context, CellSources& src, const GateInputs& gate, int output_width,
                 const MeasureBudget& budget) {
  if (config.cache.size() > 1) r.cold = Table{};  // the first cache mode fills the headline table, the cold one its own
  for (std::size_t m = 0; m < config.cache.size(); ++m) {
    Table& table = m == 0 ? r.table : *r.cold;
    for (std::size_t i = 0; i < config.batch_sizes.size(); ++i) {
      const int b = config.batch_sizes[i];
      std::vector<BackendRun>& all = src.runs[m][i];
      const auto cpu_end = all.begin() + static_cast<std::ptrdiff_t>(src.cpu_count);
      if (src.cpu_count > 0) table.set("CPU", b, cell_of(std::vector<BackendRun>(all.begin(), cpu_end)));
      if (src.gpu_ok->empty()) continue;
      if (!context.gpu.emulator.empty()) {  // no time, so no energy either
        table.set("GPU", b, emulated_cell(std::move(src.emulated_runs[m][i]), context.gpu.emulator));
        continue;
      }
      Cell cell = cell_of(std::vector<BackendRun>(cpu_end, all.end()));
      if (context.energy && config.cache[m] == CacheMode::Hot) {  // energy at the rate of back-to-back forwards: hot
        say(config.log, "energy of " + cell.backend + " at batch " + std::to_string(b));
        cell.energy = headline_energy(*context.energy, *src.gpu_ok, cell.backend, gate, i, output_width, budget.energy_window_s);
      }
      table.set("GPU", b, std::move(cell));
    }
    table.batch_sizes = config.batch_sizes;
  }
}

void log_cells(const Results& r, const RunConfig& config) {
  for (const Table* table : tables_of(r)) {
    for (int b : config.batch_sizes) {
      for (const char* device : kDevices) {
        const Cell* c = table->find(device, b);
        if (!c) continue;
        const std::string what = c->source == Source::Emulated
                                     ? "emulated, not timed (" + std::to_string(c->runs.size()) + " backends ran)"
                                     : format_ms(c->median_ms()) + " ms (" + c->backend + ", cv " + format_error(100 * c->stats.cv) + "%, " +
                                           std::to_string(c->stats.samples) + " samples)";
        say(config.log, std::string(device) + " batch " + std::to_string(b) + (c->cache == CacheMode::Cold ? " cold" : "") + ": " + what,
            /*lasting=*/true);
      }
    }
  }
}

// A column not measured here comes from the reference table, labelled as such, where it holds this model at this
// precision; otherwise it stays empty and says why.
void take_reference(Results& r, const Model& model, const RunConfig& config, RunContext& context, const std::string& device, const std::string& why) {
  const std::string reference_file = config.reference_file.empty() ? default_reference_file() : config.reference_file;
  if (!context.reference) context.reference = read_reference(config, true);
  // A reference holds hot numbers: it stands in only where the headline cells are hot.
  const std::string misfit = config.cache.front() == CacheMode::Cold
                                 ? "a reference holds hot numbers, and this run measured with the caches evicted (--cache cold)"
                                 : reference_misfit(*context.reference, model, config.precision, reference_file);
  if (misfit.empty()) fill_reference(r.table, device, config.batch_sizes, *context.reference, reference_file, why);
  r.not_measured[device] = misfit.empty() ? why : why + "; " + misfit;
}

}  // namespace

Results run_benchmark(const Model& model, const RunConfig& config, RunContext context) {
  const std::vector<std::vector<CacheMode>> modes = {{CacheMode::Hot}, {CacheMode::Cold}, {CacheMode::Hot, CacheMode::Cold}};
  if (std::find(modes.begin(), modes.end(), config.cache) == modes.end()) throw std::logic_error("RunConfig::cache must be {Hot}, {Cold} or {Hot, Cold}");
  Results r;
  r.model = model_info(model);
  const bool want_cpu = config.device != "gpu", want_gpu = config.device != "cpu";
  GpuBackends& gpu = context.gpu;
  say(config.log, "computing the outputs every backend must match (Eigen, itself checked against a double-precision loop)");
  const GateInputs gate = make_gate_inputs(model, config.batch_sizes, config.input_seed);
  // A GPU backend that fails its check is left out with why; a wrong CPU backend ends the run (no other source).
  const std::vector<Backend*> gpu_ok = want_gpu ? gated_gpu_backends(model, config, gpu, gate, want_cpu, r.notes) : std::vector<Backend*>{};
  std::vector<std::unique_ptr<Backend>> cpu_backends;
  if (want_cpu) {
    cpu_backends = make_cpu_backends(config, r.notes);
    say(config.log, "checking " + std::to_string(cpu_backends.size()) + " CPU backends against those outputs");
    gate_cpu_backends(cpu_backends, model, gate);
  }
  // CPU and GPU backends in the same rounds: a change of the machine's speed spreads over every cell. Emulated GPU
  // backends are run apart, untimed: an emulator's time is no GPU time.
  const bool emulated = !gpu.emulator.empty();
  std::vector<Backend*> timed;
  for (const auto& c : cpu_backends) timed.push_back(c.get());
  if (!emulated) timed.insert(timed.end(), gpu_ok.begin(), gpu_ok.end());
  if (timed.empty() && (!emulated || gpu_ok.empty())) {  // --backend chose only GPU backends, and this machine runs none
    throw RuntimeError("nothing to measure: --backend " + join(config.backends, ",") + " chose no CPU backend, and no GPU backend runs here: " +
                       gpu.unavailable);
  }
  const MeasureBudget budget = measure_budget(config, static_cast<int>(timed.size() * config.batch_sizes.size() * config.cache.size()));
  std::vector<double> drift_ms;
  const std::function<double()> probe = config.drift_probe ? std::function<double()>(drift_probe_ms) : nullptr;
  // The GPU's clocks after the gate, and right after each GPU slice: what the GPU cells were timed at.
  const GpuClocks clocks_start = context.clocks ? context.clocks() : GpuClocks{};
  std::vector<GpuClocks> clocks_timed;
  const auto read_clocks = [&] { clocks_timed.push_back(context.clocks()); };
  CellSources src{Runs(config.cache.size(), std::vector<std::vector<BackendRun>>(config.batch_sizes.size())), {}, cpu_backends.size(), &gpu_ok};
  if (!timed.empty()) {
    src.runs = measure_all(timed, gate, model.output_width(), config.cache, budget, probe, drift_ms, config.log,
                           context.clocks ? std::function<void()>(read_clocks) : nullptr);
  }
  if (!drift_ms.empty()) r.run.drift = drift_of(std::move(drift_ms));
  if (emulated && !gpu_ok.empty()) {
    say(config.log, "running " + std::to_string(gpu_ok.size()) + " GPU backends on the CUDA emulator (" + gpu.emulator + "), not timed");
    src.emulated_runs = run_emulated(gpu_ok, gate, model.output_width(), config.cache);
  }
  fill_tables(r, config, context, src, gate, model.output_width(), budget);
  log_cells(r, config);
  if (!want_cpu) take_reference(r, model, config, context, "CPU", "--device gpu");
  else if (cpu_backends.empty()) take_reference(r, model, config, context, "CPU", "--backend " + join(config.backends, ",") + " chose no CPU backend");
  if (gpu_ok.empty()) {
    take_reference(r, model, config, context, "GPU", !want_gpu ? "--device cpu" : gpu.unavailable.empty() ? "no GPU backend available" : gpu.unavailable);
  }
  r.machine = collect_machine_info(config.threads.back(), &gpu);
  if (context.clocks) r.machine.gpu_clocks_mhz = clock_readings(clocks_start, clocks_timed, context.clocks());
  r.build = build_info(gpu.built_with_cuda);
  return r;
}

Results run(const Model& model, const RunConfig& config, const GpuSide& gpu, const CpuSide& cpu) {
  const std::time_t start = std::time(nullptr);
  RunContext context;
  if (config.device != "cpu") {
    context.gpu = gpu.backends(config.precision, config.gpu_io);
    if (config.device == "gpu" && context.gpu.backends.empty()) throw RuntimeError("--device gpu: no usable GPU: " + context.gpu.unavailable);
  } else {
    context.gpu.unavailable = "--device cpu";
  }
  const bool gpu_backends = !context.gpu.backends.empty();
  const bool on_gpu = gpu_backends && context.gpu.emulator.empty();  // an emulator has no energy counter, clocks or roof
  // A bad reference file fails now, before the roof or any cell is measured.
  context.reference = read_reference(config, config.device != "all" || !gpu_backends);
  std::unique_ptr<GpuEnergyMeter> energy;
  std::unique_ptr<GpuClockMeter> clocks;
  if (on_gpu) {
    energy = std::make_unique<GpuEnergyMeter>();
    clocks = std::make_unique<GpuClockMeter>();
    context.clocks = [meter = clocks.get()] { return meter->read(); };
  }
  context.energy = energy.get();
  const std::string gpu_name = on_gpu ? context.gpu.gpu_name : "";

  Results r = run_benchmark(model, config, std::move(context));
  // The live probe sees the machine as the cells just did; it raises the cached roof where it does better.
  say(config.log, "the live probe (FMA peak and L2 read on 1 thread)");
  const LiveProbe live = cpu.live();
  // The machine's roof gives every measured cell its floor (cached after the first run). A cell faster than its
  // floor proves the roof wrong: it is measured again once, now; a cell that still beats it lowers its floor.
  say(config.log, "the machine's roof (cached after the first run)");
  const RoofProbes probes{cpu.roof, gpu.roof};
  MachineRoof roof = machine_roof(config.threads, gpu_name, probes, /*refresh=*/false, &live);
  int beaten = 0;
  for (const Table* t : tables_of(r)) beaten += cells_beating_floor(*t, roof, model, config.precision);
  if (beaten > 0) {
    say(config.log, "measuring the machine's roof again: " + std::to_string(beaten) + " cells beat it", /*lasting=*/true);
    roof = machine_roof(config.threads, gpu_name, probes, /*refresh=*/true, &live);
    r.notes.push_back("the machine's roof was measured again during this run: " + std::to_string(beaten) + " cell(s) were faster than the floor it gave");
  }
  for (Table* t : tables_of(r)) apply_floors(*t, roof, model, config.precision);
  r.machine.roof = roof_to_json(roof);
  r.machine.roof["live"] = live_probe_to_json(live);
  if (const std::string w = live_probe_warning(live, roof.cpu); !w.empty()) r.warnings.push_back(w);

  if (config.prices) r.prices = *config.prices;
  RunInfo& info = r.run;  // r.run.drift is run_benchmark's
  info.started_utc = utc_iso8601(start);
  info.command = config.command;
  info.batch_sizes = config.batch_sizes;
  info.device = config.device;
  info.precision = precision_name(config.precision);
  info.gpu_io = config.gpu_io.size() == 2 ? "both" : gpu_io_name(config.gpu_io.front());
  info.cache = config.cache.size() == 2 ? "both" : cache_name(config.cache.front());
  info.quick = config.quick;
  info.input_seed = config.input_seed;
  info.threads = config.threads;
  add_warnings(r, config.threads, clock_read_ns());  // after r.run (they read quick) and r.machine (the GPU's clocks)
  return r;
}

}  // namespace mlpbench
