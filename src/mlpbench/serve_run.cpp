// See serve_run.hpp.
#include "mlpbench/serve_run.hpp"

#include <sched.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <sstream>
#include <thread>

#include "mlpbench/defaults.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/report.hpp"
#include "mlpbench/serve_sim.hpp"
#include "mlpbench/serve_workers.hpp"
#include "mlpbench/sysinfo.hpp"
#include "mlpbench/threads.hpp"

namespace mlpbench {
namespace {

void say(const ServeRunConfig& c, const std::string& line, bool lasting = false) {
  if (c.log) c.log(line, lasting);
}

bool stopped(const std::atomic<bool>* stop) { return stop && stop->load(); }

unsigned long long this_thread_key() {
  const unsigned long long h = std::hash<std::thread::id>{}(std::this_thread::get_id());
  return h == 0 ? 1 : h;
}

// A backend's per-batch statistics (measure_rounds, run's budget), one per batch size.
std::vector<Stats> measure_stats(Backend& backend, int in_width, int out_width, const std::vector<int>& batch_sizes, bool quick) {
  const int most = *std::max_element(batch_sizes.begin(), batch_sizes.end());
  const std::vector<float> x = make_seeded_input(most, in_width, 7);
  std::vector<float> y(static_cast<std::size_t>(most) * static_cast<std::size_t>(out_width));
  std::vector<TimedRun> items;
  for (int b : batch_sizes) items.push_back(wall_clock([&backend, &x, &y, b] { backend.forward(x.data(), y.data(), b); }));
  const MeasureBudget budget = measure_budget(quick, static_cast<int>(items.size()));
  return measure_rounds(items, budget.rounds);
}

std::vector<std::pair<int, double>> pairs_of(const std::vector<int>& sizes, const std::vector<Stats>& stats) {
  std::vector<std::pair<int, double>> out;
  for (std::size_t i = 0; i < sizes.size(); ++i) out.emplace_back(sizes[i], stats[i].median_ms);
  return out;
}

// The simulator's search on `table`.
SearchResult simulate(const std::vector<std::pair<int, double>>& table, const ServeConfig& c) {
  Simulator sim(ServiceTable(table), c);
  SearchResult s = run_serve([&](double q) { return sim.step(q); }, c);
  s.simulated = true;
  return s;
}

// The simulated run beside a live one: one more step at the live best rate (for the p99 at it), unless it ran.
void add_live_rate(SearchResult& sim, const std::vector<std::pair<int, double>>& table, const ServeConfig& c, double live_best) {
  const bool have = std::any_of(sim.steps.begin(), sim.steps.end(), [&](const StepResult& r) { return r.offered_qps == live_best; });
  if (live_best <= 0 || have) return;
  sim.steps.push_back(Simulator(ServiceTable(table), c).step(live_best));  // the same arrivals as the search's steps
  if (sim.steps.back().meets(c.slo_ms)) sim.best_qps = std::max(sim.best_qps, live_best);
}

// The live search on `workers` (prepared, planned).
SearchResult serve_live(const std::vector<Backend*>& workers, const Model& model, const ServeConfig& c, const std::atomic<bool>* stop,
                        const ServeRunConfig& config, const std::string& what) {
  LiveServer server(workers, model.input_width(), model.output_width(), c, stop);
  return run_serve(
      [&](double q) {
        say(config, what + ": step at " + format_rate(q));
        const StepResult r = server.step(q);
        char line[200];
        std::snprintf(line, sizeof line, ": %s offered, p50 %.3g ms, p99 %.3g ms, max %.3g ms, mean batch %.3g%s", format_rate(q).c_str(), r.p50_ms,
                      r.p99_ms, r.max_ms, r.mean_batch,
                      r.meets(c.slo_ms) ? "" : r.overloaded ? " (overloaded)" : " (above the bound)");
        say(config, what + line, true);
        return r;
      },
      c, stop);
}

void add_cells(Table& table, const std::string& device, const std::vector<int>& sizes, std::vector<std::vector<BackendRun>>& runs) {
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    if (!runs[i].empty()) table.set(device, sizes[i], cell_of(runs[i]));
  }
}

}  // namespace

std::string shape_text(const ServeShape& s) { return "workers=" + std::to_string(s.workers) + ",threads=" + std::to_string(s.threads); }

std::vector<ServeShape> default_cpu_shapes(int cores) {
  if (cores <= 1) return {{1, 1}};
  return {{1, cores}, {cores, 1}};
}

void validate_serve_run(const ServeRunConfig& config, int cores) {
  if (config.serve.max_batch > kMaxBatch) {
    throw InputError("--max-batch " + std::to_string(config.serve.max_batch) + " is above the largest batch, " + std::to_string(kMaxBatch));
  }
  if (config.device != "gpu") {
    for (const ServeShape& s : config.cpu_shapes.empty() ? default_cpu_shapes(cores) : config.cpu_shapes) {
      ServeConfig c = config.serve;
      c.workers = s.workers, c.threads = s.threads;
      validate_serve_config(c, cores);
    }
  }
  if (config.gpu_streams < 1 || config.gpu_streams > std::max(cores, 1)) {
    throw InputError("--streams " + std::to_string(config.gpu_streams) + ": give 1 to " + std::to_string(cores) +
                     " (each stream's worker is a thread on one of the " + std::to_string(cores) + " cores)");
  }
  ServeConfig c = config.serve;
  validate_serve_config(c, cores);
}

std::vector<int> service_batch_sizes(int max_batch) {
  std::vector<int> out;
  for (int b = 1; b < max_batch; b *= 2) out.push_back(b);
  out.push_back(max_batch);
  return out;
}

PinnedBackend::PinnedBackend(std::unique_ptr<Backend> inner, int first_cpu) : inner_(std::move(inner)), first_cpu_(first_cpu) {}

std::string PinnedBackend::config() const {
  const int t = std::max(1, inner_->threads());
  const std::vector<int>& cpus = process_cpus();
  std::string c = inner_->config();
  if (first_cpu_ + t <= static_cast<int>(cpus.size())) {
    c += ",cpus=" + std::to_string(cpus[static_cast<std::size_t>(first_cpu_)]);
    if (t > 1) c += "-" + std::to_string(cpus[static_cast<std::size_t>(first_cpu_ + t - 1)]);
  }
  return c;
}

void PinnedBackend::forward(const float* x, float* y, int batch) {
  const unsigned long long me = this_thread_key();
  if (pinned_for_.load(std::memory_order_relaxed) != me) {
    pin_omp_threads(std::max(1, inner_->threads()), first_cpu_);
    pinned_for_.store(me, std::memory_order_relaxed);
  }
  inner_->forward(x, y, batch);
}

void keep_off_cpus(int first, int count) {
  const std::vector<int>& cpus = process_cpus();
  cpu_set_t set;
  CPU_ZERO(&set);
  int left = 0;
  for (int i = 0; i < static_cast<int>(cpus.size()); ++i) {
    if (i < first || i >= first + count) CPU_SET(cpus[static_cast<std::size_t>(i)], &set), ++left;
  }
  if (left == 0) {
    for (int c : cpus) CPU_SET(c, &set);
  }
  sched_setaffinity(0, sizeof set, &set);
}

std::vector<std::pair<int, double>> measure_service(Backend& backend, int in_width, int out_width, const std::vector<int>& batch_sizes, bool quick) {
  return pairs_of(batch_sizes, measure_stats(backend, in_width, out_width, batch_sizes, quick));
}

bool serving_interrupted(const Results& results) {
  if (!results.serving) return false;
  for (const ServingRun& r : results.serving->runs) {
    if (r.search.interrupted) return true;
  }
  return false;
}

namespace {

struct Side {
  const Model& model;
  const ServeRunConfig& config;
  const std::vector<int>& sizes;
  const GateInputs& gate;
  const std::atomic<bool>* stop;
  Results& r;
  Serving& serving;
};

// A backend that may serve: its per-batch statistics and the simulator's search on them.
struct Candidate {
  Backend* backend = nullptr;
  std::vector<Stats> stats;
  SearchResult sim;
};

// `b` measured at the side's batch sizes (its cells added), then simulated under `c`. CPU: on a thread of its own, its
// team on worker 0's cores, as a worker runs it.
Candidate rate_candidate(Side& side, Backend& b, const ServeConfig& c, std::vector<std::vector<BackendRun>>& cells, const std::string& what) {
  Candidate cand{&b, {}, {}};
  say(side.config, what + ": measuring " + b.name() + " at batch sizes " + list_text(side.sizes));
  const auto measure = [&] { cand.stats = measure_stats(b, side.model.input_width(), side.model.output_width(), side.sizes, side.config.quick); };
  if (b.device() == Device::CPU) std::thread(measure).join();
  else measure();
  cand.sim = simulate(pairs_of(side.sizes, cand.stats), c);
  for (std::size_t i = 0; i < side.sizes.size(); ++i) cells[i].push_back(backend_run(b, cand.stats[i]));
  say(side.config, what + " " + b.name() + ": simulated best " + format_rate(cand.sim.best_qps), true);
  return cand;
}

// The highest simulated rate; a tie (every given --qps met by both) goes to the faster at the largest batch size. The
// others get a note.
const Candidate& choose(const std::vector<Candidate>& candidates, Side& side, const std::string& what) {
  const Candidate& chosen = *std::max_element(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) {
    if (a.sim.best_qps != b.sim.best_qps) return a.sim.best_qps < b.sim.best_qps;
    return a.stats.back().median_ms > b.stats.back().median_ms;
  });
  for (const Candidate& cand : candidates) {
    if (&cand == &chosen) continue;
    side.r.notes.push_back("serve, " + what + ": " + cand.backend->name() + " not served live (simulated best " + format_rate(cand.sim.best_qps) +
                           ", not above " + chosen.backend->name() + "'s " + format_rate(chosen.sim.best_qps) + ")");
  }
  return chosen;
}

// The live search on `workers` (the chosen kind), then the simulated run beside it with a step at the live best rate.
void serve_chosen(Side& side, const std::vector<Backend*>& workers, const Candidate& chosen, const ServeConfig& c, const std::string& device,
                  const std::string& shape, const std::string& from) {
  const std::string what = device + " " + shape;
  say(side.config, what + ": serving live with " + chosen.backend->name(), true);
  ServingRun live{device, chosen.backend->name(), shape, "measured", "", serve_live(workers, side.model, c, side.stop, side.config, what + " live")};
  ServingRun sim{device, chosen.backend->name(), shape, "simulated", from, chosen.sim};
  add_live_rate(sim.search, pairs_of(side.sizes, chosen.stats), c, live.search.best_qps);
  say(side.config, what + ": live best " + format_rate(live.search.best_qps) + ", simulated " + format_rate(sim.search.best_qps), true);
  side.serving.runs.push_back(std::move(live));
  side.serving.runs.push_back(std::move(sim));
}

// Each CPU shape: the backend kinds gated, measured on worker 0's cores and simulated; the best of them (choose)
// served live by K workers, each on its own cores.
void serve_cpu(Side& side, std::vector<std::vector<BackendRun>>& cells) {
  const ServeRunConfig& config = side.config;
  for (const ServeShape& shape : config.cpu_shapes.empty() ? default_cpu_shapes(available_cores()) : config.cpu_shapes) {
    if (stopped(side.stop)) return;
    const std::string what = "CPU " + shape_text(shape);
    ServeConfig c = config.serve;
    c.workers = shape.workers, c.threads = shape.threads;
    RunConfig rc;
    rc.threads = {shape.threads};
    std::vector<std::unique_ptr<PinnedBackend>> backends;  // worker 0's candidates, then workers 1..K-1
    for (auto& k : make_cpu_backends(rc, side.r.notes)) {
      backends.push_back(std::make_unique<PinnedBackend>(std::move(k), 0));
      say(config, what + ": checking " + backends.back()->name());
      const std::string failure = check_backend(*backends.back(), side.model, side.gate);
      if (!failure.empty()) throw RuntimeError("CPU backend " + backends.back()->name() + " (" + backends.back()->config() + ") is " + failure + "; not served");
    }
    std::vector<Candidate> candidates;
    for (auto& b : backends) {
      if (stopped(side.stop)) return;
      candidates.push_back(rate_candidate(side, *b, c, cells, what));
    }
    const Candidate& chosen = choose(candidates, side, what);
    std::vector<Backend*> workers{chosen.backend};
    for (int k = 1; k < shape.workers; ++k) {  // the same kind, each on its own cores, checked as worker 0 was
      std::vector<std::string> unused;
      for (auto& b : make_cpu_backends(rc, unused)) {
        if (b->name() != chosen.backend->name()) continue;
        backends.push_back(std::make_unique<PinnedBackend>(std::move(b), k * shape.threads));
        const std::string failure = check_backend(*backends.back(), side.model, side.gate);
        if (!failure.empty()) throw RuntimeError("CPU backend " + backends.back()->name() + " is " + failure + "; not served");
        workers.push_back(backends.back().get());
        break;
      }
    }
    if (stopped(side.stop)) return;
    keep_off_cpus(0, shape.workers * shape.threads);  // this thread (a look at the step each millisecond) off theirs, if any are left
    serve_chosen(side, workers, chosen, c, "CPU", shape_text(shape),
                 "the CPU's per-batch latencies measured in this run (" + chosen.backend->name() + ", " + chosen.backend->config() + ")");
    keep_off_cpus(0, 0);
  }
}

// No usable GPU: the reference's GPU column (its cells added to the table), simulated under `c`.
void simulate_reference_gpu(Side& side, const GpuBackends& gpu, const ServeConfig& c, const std::string& shape) {
  const std::string why = !gpu.emulator.empty() ? "the GPU backends run on a CUDA emulator here (" + gpu.emulator + "): emulated time is no GPU time"
                                                : "no usable GPU: " + gpu.unavailable;
  side.r.not_measured["GPU"] = why;
  const std::string file = side.config.reference_file.empty() ? default_reference_file() : side.config.reference_file;
  const Results reference = read_results(file);
  if (const std::string misfit = reference_misfit(reference, side.model, Precision::FP32, file); !misfit.empty()) {
    side.r.notes.push_back("serve: the GPU is not simulated: " + misfit);
    return;
  }
  std::vector<std::pair<int, double>> table;
  bool measured = true;
  std::string backend;
  std::vector<int> ref_sizes;
  for (const auto& [b, cell] : reference.table.cells.count("GPU") ? reference.table.cells.at("GPU") : std::map<int, Cell>{}) {
    if (cell.source == Source::Emulated || cell.median_ms() <= 0) continue;
    table.emplace_back(b, cell.median_ms());
    ref_sizes.push_back(b);
    measured = measured && is_measurement(cell);
    if (backend.empty()) backend = cell.backend;
  }
  if (table.empty()) {
    side.r.notes.push_back("serve: the GPU is not simulated: " + file + " holds no GPU times");
    return;
  }
  // The table shows the cells the simulation read.
  std::vector<int> all = side.r.table.batch_sizes;
  all.insert(all.end(), ref_sizes.begin(), ref_sizes.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  side.r.table.batch_sizes = all;
  fill_reference(side.r.table, "GPU", ref_sizes, reference, file, why);
  say(side.config, "GPU: simulating from " + file);
  side.serving.runs.push_back(ServingRun{"GPU", backend, shape, "simulated", file + (measured ? ", reference" : ", illustrative"), simulate(table, c)});
}

// The GPU: live on its backends where one is usable (a graph per batch size where graphs apply, copy I/O through
// pinned buffers, one backend and stream per worker), simulated beside it; else simulate_reference_gpu.
void serve_gpu(Side& side, GpuBackends& gpu, const GpuSide& factory, std::vector<std::vector<BackendRun>>& cells) {
  const ServeRunConfig& config = side.config;
  ServeConfig c = config.serve;
  c.workers = config.gpu_streams, c.threads = 1;
  const std::string shape = "streams=" + std::to_string(config.gpu_streams);
  if (gpu.backends.empty() || !gpu.emulator.empty()) return simulate_reference_gpu(side, gpu, c, shape);
  say(config, "GPU: checking " + std::to_string(gpu.backends.size()) + " backends");
  std::vector<Backend*> ok = gate_gpu_backends(gpu.backends, side.model, side.gate, side.r.notes);
  if (ok.empty()) throw RuntimeError("serve: no GPU backend passed its check (see the notes)");
  std::vector<Backend*> graphs;
  for (Backend* b : ok) {
    if (b->name().find("+graph") != std::string::npos) graphs.push_back(b);
  }
  std::vector<Candidate> candidates;
  for (Backend* b : graphs.empty() ? ok : graphs) {  // plain launches where no graph applies
    if (stopped(side.stop)) return;
    candidates.push_back(rate_candidate(side, *b, c, cells, "GPU"));
  }
  const Candidate& chosen = choose(candidates, side, "GPU " + shape);
  std::vector<GpuBackends> extra;
  std::vector<Backend*> workers{chosen.backend};
  for (int k = 1; k < config.gpu_streams; ++k) {
    extra.push_back(factory.backends(Precision::FP32, {GpuIo::Copy}));
    for (auto& b : extra.back().backends) {
      if (b->name() != chosen.backend->name()) continue;
      const std::string failure = check_backend(*b, side.model, side.gate);
      if (!failure.empty()) throw RuntimeError("GPU backend " + b->name() + " (stream " + std::to_string(k) + ") is " + failure + "; not served");
      workers.push_back(b.get());
      break;
    }
  }
  if (static_cast<int>(workers.size()) != config.gpu_streams) throw RuntimeError("serve: could not make " + shape + " of " + chosen.backend->name());
  if (stopped(side.stop)) return;
  serve_chosen(side, workers, chosen, c, "GPU", shape, "the GPU's per-batch latencies measured in this run (" + chosen.backend->name() + ")");
}

}  // namespace

Results run_serving(const Model& model, const ServeRunConfig& config, const GpuSide& gpu_side, const std::atomic<bool>* stop) {
  const std::time_t start = std::time(nullptr);
  const int cores = available_cores();
  validate_serve_run(config, cores);
  Results r;
  r.model = model_info(model);
  const std::vector<int> sizes = service_batch_sizes(config.serve.max_batch);
  r.table.batch_sizes = sizes;
  Serving serving;
  serving.config = config.serve;
  say(config, "computing the expected outputs at batch sizes " + list_text(sizes));
  const GateInputs gate = make_gate_inputs(model, sizes, config.serve.seed);
  Side side{model, config, sizes, gate, stop, r, serving};

  GpuBackends gpu;
  if (config.device != "cpu" && gpu_side.backends) gpu = gpu_side.backends(Precision::FP32, {GpuIo::Copy});
  if (config.device == "gpu" && (gpu.backends.empty() || !gpu.emulator.empty()) && !gpu.unavailable.empty()) {
    say(config, "no usable GPU: " + gpu.unavailable);
  }

  std::vector<std::vector<BackendRun>> cpu_cells(sizes.size()), gpu_cells(sizes.size());
  if (config.device != "gpu") serve_cpu(side, cpu_cells);
  add_cells(r.table, "CPU", sizes, cpu_cells);
  if (config.device != "cpu" && !stopped(stop)) serve_gpu(side, gpu, gpu_side, gpu_cells);
  add_cells(r.table, "GPU", sizes, gpu_cells);

  r.serving = std::move(serving);
  int most_threads = 1;
  for (const ServeShape& s : config.cpu_shapes.empty() ? default_cpu_shapes(cores) : config.cpu_shapes) most_threads = std::max(most_threads, s.workers * s.threads);
  r.machine = collect_machine_info(most_threads, &gpu);
  r.build = build_info(gpu.built_with_cuda);
  if (config.prices) r.prices = *config.prices;
  RunInfo& info = r.run;
  info.started_utc = utc_iso8601(start);
  info.command = config.command;
  info.batch_sizes = sizes;
  info.device = config.device;
  info.precision = "fp32";
  info.gpu_io = "copy";
  info.cache = "hot";
  info.quick = config.quick;
  info.input_seed = config.serve.seed;
  return r;
}

}  // namespace mlpbench
