// The mlpbench command: `run` (fill the CPU/GPU table and name the faster device), `serve` (the answer under load),
// `infer` (one forward pass on a user's input, to check our outputs against their framework), `report` (print a results file),
// `compare` (results files side by side, exit 1 on a regression), `plot` (SVG chart), `machine` (measure
// the roof) and `export-weights`. Options are parsed here; the work is done by the library.
#include <glob.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <new>
#include <set>
#include <mutex>
#include <thread>

#include "mlpbench/backend.hpp"
#include "mlpbench/compare.hpp"
#include "mlpbench/defaults.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/files.hpp"
#include "mlpbench/machine.hpp"
#include "mlpbench/parse.hpp"
#include "mlpbench/plot.hpp"
#include "mlpbench/reference.hpp"
#include "mlpbench/report.hpp"
#include "mlpbench/results.hpp"
#include "mlpbench/runner.hpp"
#include "mlpbench/safetensors.hpp"
#include "mlpbench/serve_run.hpp"
#include "mlpbench/threads.hpp"
#include "mlpbench/sysinfo.hpp"

namespace mlpbench {
namespace {

const char* kExitCodes =
    "Exit codes: 0 ok, 1 regression (compare: a measured cell significantly slower by more than --threshold), 2 bad usage or input (one "
    "line on stderr says what and where), 3 runtime or device failure.";

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+") == std::string::npos) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

// Levenshtein distance: how many single-character edits turn a into b.
std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// The closest of `names` to `typed` when it is close enough to be a typo (a third of its length, at least 2
// edits) or the start of exactly one name (--out for --output), else "".
std::string closest(const std::string& typed, const std::vector<std::string>& names) {
  std::string best;
  std::size_t best_distance = std::max<std::size_t>(2, typed.size() / 3) + 1;
  for (const std::string& n : names) {
    const std::size_t d = edit_distance(typed, n);
    if (d < best_distance) best = n, best_distance = d;
  }
  if (!best.empty()) return best;
  std::vector<std::string> starting;
  for (const std::string& n : names) {
    if (n.size() > typed.size() && n.compare(0, typed.size(), typed) == 0) starting.push_back(n);
  }
  return starting.size() == 1 ? starting.front() : "";
}

// A way forward for a command line CLI11 refused: the unknown subcommand or option named, with the closest valid
// one ("did you mean --batch-sizes?"); "" when there is nothing to suggest.
std::string suggestion(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string> subcommands;
  for (const CLI::App* sub : app.get_subcommands({})) subcommands.push_back(sub->get_name());
  if (argc < 2) return "";
  const std::string first = argv[1];
  if (first.empty() || first[0] == '-') return "";
  const auto sub = std::find(subcommands.begin(), subcommands.end(), first);
  if (sub == subcommands.end()) {
    const std::string near = closest(first, subcommands);
    return "unknown subcommand '" + first + "'" + (near.empty() ? "" : "; did you mean " + near + "?");
  }
  std::vector<std::string> options;
  for (const CLI::Option* o : app.get_subcommand(first)->get_options()) {
    for (const std::string& n : o->get_lnames()) options.push_back("--" + n);
  }
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg.rfind("--", 0) != 0) continue;
    arg = arg.substr(0, arg.find('='));
    if (std::find(options.begin(), options.end(), arg) != options.end()) continue;
    const std::string near = closest(arg, options);
    return "unknown option '" + arg + "' for " + first + (near.empty() ? "" : "; did you mean " + near + "?");
  }
  return "";
}

std::string command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + shell_quote(argv[i]);
  return s;
}

std::string list_of(const std::vector<std::string>& names) {
  std::string s;
  for (const std::string& n : names) s += (s.empty() ? "" : ", ") + n;
  return s;
}

// --backend's names, each a known backend (kCpuBackendNames, kGpuBackendNames) or a GPU backend's variant
// ("cuda-tiled+graph", "cublaslt+graph+zerocopy").
std::vector<std::string> backend_list(const std::string& text) {
  if (text.empty()) return {};
  const std::vector<std::string> names = parse_name_list(text, "--backend");
  for (const std::string& name : names) {
    const std::string kernel = name.substr(0, name.find('+')), variant = name.substr(kernel.size());
    const auto in = [&](const std::vector<std::string>& v) { return std::find(v.begin(), v.end(), kernel) != v.end(); };
    const bool ok = in(kCpuBackendNames) ? variant.empty() : in(kGpuBackendNames) && (variant.empty() || variant == "+graph" || variant == "+graph+zerocopy");
    if (!ok) {
      throw InputError("--backend: no backend named '" + name + "' (CPU: " + list_of(kCpuBackendNames) + "; GPU: " + list_of(kGpuBackendNames) +
                       ", or a GPU backend's variant such as cuda-tiled+graph or cublaslt+graph+zerocopy)");
    }
  }
  return names;
}

// Options shared by run and infer: which model.
struct ModelOptions {
  std::string layers = list_text(kDefaultLayers);
  std::string weights;
  std::string layer_order;
  CLI::Option* layer_order_option = nullptr;
  std::string seed = "1";
  std::string threads;  // "": run's default_thread_counts, infer's every core

  // seed_help, threads_help: what --seed and --threads mean to this command ("" threads_help: no --threads).
  void add(CLI::App& app, const std::string& seed_help, const std::string& threads_help) {
    auto* l = app.add_option("--layers", layers, "Widths of a seeded MLP, input first: 784,512,512,10")->capture_default_str();
    auto* w = app.add_option("--weights", weights,
                             "A PyTorch state_dict of nn.Linear layers saved as safetensors (F32, F16 or BF16): "
                             "'<prefix>.weight' [out, in] and '<prefix>.bias' [out] (optional), ordered by the numbers in the prefixes, "
                             "else by the only order in which the layers chain");
    l->excludes(w);
    layer_order_option = app.add_option("--layer-order", layer_order,
                                        "The order of the --weights layers, every prefix once, first to last: proj,head (default: the "
                                        "file's __metadata__ layer_order, else as --weights says)");
    layer_order_option->needs(w);
    app.add_option("--seed", seed, seed_help)->capture_default_str();
    if (!threads_help.empty()) app.add_option("--threads", threads, threads_help)->capture_default_str();
  }

  // The widths of the seeded model (checked before any weight is made), or of the weights file.
  std::vector<int> seeded_widths() const {
    std::vector<int> w = parse_int_list(layers, "--layers", 1, kMaxWidth);
    validate_widths(w);
    return w;
  }
  // Checks that the model fits in memory at these batch sizes with `backends` CPU backends, then makes or
  // loads it.
  // say(line) prints what a user must hear of the layers (their order, a missing bias): on stderr by default.
  Model model(const std::vector<int>& batch_sizes, int backends = 1,
              const std::function<void(const std::string&)>& say = [](const std::string& line) { std::cerr << line << "\n"; }) const {
    if (!weights.empty()) {
      Model m = load_model(weights, layer_order_option->count() ? std::optional<std::string>(layer_order) : std::nullopt);
      const std::string said = layer_order_summary(m);
      if (!said.empty()) say("mlpbench: " + said);
      check_memory(m.widths(), batch_sizes, backends);
      return m;
    }
    const std::vector<int> widths = seeded_widths();
    check_memory(widths, batch_sizes, backends);
    return make_seeded_model(widths, seed_value());
  }
  std::uint64_t seed_value() const { return static_cast<std::uint64_t>(parse_int(seed, "--seed", 0, INT64_MAX)); }
  std::vector<int> thread_counts() const {
    if (threads.empty()) return default_thread_counts(resolve_threads(0));
    return normal_thread_counts(parse_int_list(threads, "--threads", 0, 4096));
  }
  int thread_count() const {
    const std::vector<int> t = threads.empty() ? std::vector<int>{resolve_threads(0)} : thread_counts();
    if (t.size() != 1) throw InputError("--threads: infer takes one thread count, not '" + threads + "'");
    return t.front();
  }
};

// --cpu-usd-per-hour and --gpu-usd-per-hour: both or neither.
struct PriceOptions {
  double cpu = 0, gpu = 0;
  void add(CLI::App& app) {
    app.add_option("--cpu-usd-per-hour", cpu, "Hourly price of the CPU machine: adds the cost per million inferences and the cheaper device")
        ->check(CLI::PositiveNumber);
    app.add_option("--gpu-usd-per-hour", gpu, "Hourly price of the GPU machine (give both prices)")->check(CLI::PositiveNumber);
  }
  std::optional<Prices> get() const {
    if ((cpu > 0) != (gpu > 0)) throw InputError("--cpu-usd-per-hour and --gpu-usd-per-hour go together: give both or neither");
    if (cpu <= 0) return std::nullopt;
    return Prices{cpu, gpu};
  }
};

// Where a command's own messages go: standard error when its output is standard output (--out -), so a pipe gets
// the file alone.
std::ostream& messages_for(const std::string& output) { return is_stdout(output) ? std::cerr : std::cout; }

// Progress on stderr while a run goes. On a terminal the current step in place, its clock ticking; in a log (stderr
// not a terminal) the lasting lines (a round done, a cell's result), one each, as Google Benchmark prints each
// benchmark, and the current step again whenever 5 s (MLPBENCH_HEARTBEAT_S) pass without a line, so a slow step (a
// large model's setup, a cell whose passes take seconds) never leaves a log silent.
class Progress {
 public:
  Progress()
      : terminal_(::isatty(STDERR_FILENO) == 1),
        every_(heartbeat_seconds()),
        start_(Clock::now()),
        last_(start_),
        beat_([this] { heartbeat(); }) {}
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;
  ~Progress() { stop(); }

  // The RunConfig::log to hand the runner; valid while this object lives.
  std::function<void(const std::string&, bool)> printer() {
    return [this](const std::string& line, bool lasting) { print(line, lasting); };
  }
  // A step (lasting: false), shown until the next one; or a finished thing to keep in a log (a round, a cell).
  void print(const std::string& line, bool lasting) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!lasting) status_ = line;
    if (terminal_ || lasting) emit(line);
  }
  // A message of its own (not progress): a whole line, then the current step again on a terminal.
  void message(const std::string& line) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::fprintf(stderr, terminal_ ? "\r\x1b[K%s\n" : "%s\n", line.c_str());
    if (terminal_ && !status_.empty()) emit(status_);
    std::fflush(stderr);
  }
  // Ends the heartbeat and clears the terminal's status line: what is printed next stands alone.
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (done_) return;
      done_ = true;
    }
    wake_.notify_all();
    beat_.join();
    if (terminal_) std::fprintf(stderr, "\r\x1b[K");
  }

 private:
  using Clock = std::chrono::steady_clock;
  void emit(const std::string& line) {  // with mutex_ held
    const double s = std::chrono::duration<double>(Clock::now() - start_).count();
    std::fprintf(stderr, terminal_ ? "\r\x1b[K[%6.1f s] %s" : "[%6.1f s] %s\n", s, line.c_str());
    std::fflush(stderr);
    last_ = Clock::now();
  }
  static std::chrono::duration<double> heartbeat_seconds() {
    const char* env = std::getenv("MLPBENCH_HEARTBEAT_S");
    return std::chrono::duration<double>(env ? parse_double(env, "MLPBENCH_HEARTBEAT_S", 0.05, 3600) : 5.0);
  }
  void heartbeat() {
    std::unique_lock<std::mutex> lock(mutex_);
    const auto tick = std::min<std::chrono::duration<double>>(every_, std::chrono::seconds(1));
    while (!wake_.wait_for(lock, tick, [this] { return done_; })) {
      if (status_.empty()) continue;
      if (terminal_) emit(status_);
      else if (Clock::now() - last_ >= every_) emit(status_ + " (still running)");
    }
  }

  const bool terminal_;
  const std::chrono::duration<double> every_;
  const Clock::time_point start_;
  Clock::time_point last_;
  std::string status_;
  bool done_ = false;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::thread beat_;  // last: it starts once every other member is ready
};

// Each subcommand: its options, add() to register them on the program, and execute() to do it.

struct RunCommand {
  ModelOptions model;
  PriceOptions prices;
  std::string batch_sizes = list_text(kDefaultBatchSizes);
  std::string batch_size = std::to_string(kDefaultHeadlineBatch);
  std::string device = "all";
  std::string precision = "fp32";
  std::string gpu_io = "both";
  std::string cache = "hot";
  std::string reference;
  std::string out;
  std::string backends, warmup_ms, min_time_ms, min_samples;
  bool force = false;
  bool quick = false;
  CLI::App* app = nullptr;

  void add(CLI::App& parent) {
    app = parent.add_subcommand("run", "Measure every cell of the table, print the verdict for one batch size, write results JSON");
    model.add(*app, "Seed of the weights (with --layers) and of the inputs",
              "CPU thread counts, e.g. 1,2: each is measured, the best is the headline; 0 means every core (default: 1, every "
              "core, and the powers of two between)");
    app->add_option("--batch-sizes", batch_sizes, "Batch sizes of the table (any list, e.g. 1,2,4,...,1024)")->capture_default_str();
    app->add_option("--batch-size", batch_size, "Batch size of the three headline lines (added to the table if missing)")->capture_default_str();
    app->add_option("--device", device, "Which columns to measure; the others come from --reference")
        ->check(CLI::IsMember({"cpu", "gpu", "all"}))
        ->capture_default_str();
    app->add_option("--precision", precision, "Matrix-product precision: fp32 (default), tf32 (GPU) or bf16 (GPU, and CPU bf16 weights)")
        ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
        ->capture_default_str();
    app->add_option("--gpu-io", gpu_io,
                    "How GPU backends move input and output: copy (H2D/D2H copies around the layers), zero-copy (kernels read and "
                    "write mapped host memory; a forward is a graph of kernels only), both (copy and zero-copy), or registered "
                    "(as zero-copy, in the caller's own buffers registered with the device once, as a server's request buffers: "
                    "no host-side copy either)")
        ->check(CLI::IsMember({"copy", "zero-copy", "registered", "both"}))
        ->capture_default_str();
    app->add_option("--cache", cache,
                    "Whether the weights are in the caches: hot (forwards back to back, as most benchmarks), cold (before every "
                    "timed forward the CPU caches or the GPU's L2 are evicted, untimed, as a model served between other work "
                    "meets them) or both (every cell twice; the three lines stay hot, one more gives the cold verdict)")
        ->check(CLI::IsMember({"hot", "cold", "both"}))
        ->capture_default_str();
    app->add_option("--reference", reference, "Results file the unmeasured column comes from (default results/reference.json)");
    app->add_option("--out", out,
                    "Results file to write; a folder (an existing one, or ending in /) gets <folder>/<host>/<UTC time>-<commit>.json, "
                    "the layout for committing runs to git, -2, -3, ... added where that name is taken (default: the folder "
                    "results/); - writes the JSON to standard output and the report to standard error");
    app->add_flag("--force", force, "Replace --out if it exists");
    app->add_flag("--quick", quick, "Shorter warm-up and sampling per cell (CI): seconds for a small model; each cell still takes its minimum samples");
    app->add_option("--backend", backends,
                    "Time only these backends, e.g. eigen-omp-packed,cublaslt (CPU: " + list_of(kCpuBackendNames) + "; GPU: " +
                        list_of(kGpuBackendNames) + ", each with its variants, or a full name such as cuda-tiled+graph); a column "
                        "left without a backend comes from --reference");
    app->add_option("--warmup-ms", warmup_ms, "Untimed forwards before each cell's samples, in ms (default 200; --quick: less)");
    app->add_option("--min-time-ms", min_time_ms, "Least sampling time of each cell, in ms, over all rounds (default 500; --quick: less)");
    app->add_option("--min-samples", min_samples,
                    "Least samples of each cell's median (default 10; --quick: 5); a cell stops short only at the 60 s cap, and says so");
    prices.add(*app);
  }

  int execute(const std::string& command) const {
    RunConfig config;
    config.precision = parse_precision(precision);
    const int headline_batch = static_cast<int>(parse_int(batch_size, "--batch-size", 1, kMaxBatch));
    std::vector<int> sizes = parse_int_list(batch_sizes, "--batch-sizes", 1, kMaxBatch);
    sizes.push_back(headline_batch);  // the headline batch size is always measured
    config.batch_sizes = normal_batch_sizes(std::move(sizes));
    config.threads = model.thread_counts();
    config.device = device;
    config.gpu_io = parse_gpu_io(gpu_io);
    config.cache = parse_cache_modes(cache);
    config.reference_file = reference;
    config.quick = quick;
    config.backends = backend_list(backends);
    check_backend_choice(config);
    if (!warmup_ms.empty()) config.warmup_s = parse_double(warmup_ms, "--warmup-ms", 0, 600e3) / 1e3;
    if (!min_time_ms.empty()) config.min_time_s = parse_double(min_time_ms, "--min-time-ms", 0, 600e3) / 1e3;
    if (!min_samples.empty()) config.min_samples = static_cast<int>(parse_int(min_samples, "--min-samples", 1, MeasureConfig{}.max_samples));
    config.input_seed = model.seed_value();
    config.command = command;
    config.prices = prices.get();
    Progress progress;
    config.log = progress.printer();
    progress.print(model.weights.empty() ? "making the model " + model.layers + " from seed " + model.seed : "loading " + model.weights, false);
    const Model m = model.model(config.batch_sizes, cpu_backend_count(config), [&](const std::string& line) { progress.message(line); });
    // A folder's file name is taken now, exclusively, so runs started together each get their own (-2, -3, ...) and
    // a failed or interrupted run leaves none; a named file is checked now (it exists without --force: stop here).
    std::string path = results_path(out, std::time(nullptr));
    std::optional<ReservedOutput> reserved;
    if (names_a_folder(out)) path = reserved.emplace(path).path();
    else check_writable(path, force);

    const Results r = run(m, config, GpuSide{make_gpu_backends, measure_gpu_roof});
    progress.stop();
    if (reserved) reserved->write(dump_json(to_json(r)));
    else write_text_atomic(path, dump_json(to_json(r)), force);
    messages_for(path) << text_report(r, headline_batch) << "\nResults written to " << output_name(path) << "\n";
    return kExitOk;
  }
};

// serve's stop: the first SIGINT/SIGTERM ends the current step (it drains what it issued) and puts back the cleanup
// handlers, so a second one ends the process at once (removing any reserved output).
std::atomic<bool> g_serve_stop{false};
volatile std::sig_atomic_t g_serve_signal = 0;
extern "C" void serve_stop_handler(int sig) {
  g_serve_signal = sig;
  g_serve_stop.store(true);
  install_interrupt_cleanup();
}

// The K x T shapes of --workers and --threads: lists of one length, paired in order; one given alone gets the other
// as the cores / it; neither: default_cpu_shapes.
std::vector<ServeShape> serve_shapes(const std::string& workers, const std::string& threads, int cores) {
  if (workers.empty() && threads.empty()) return {};
  std::vector<int> k = workers.empty() ? std::vector<int>{} : parse_int_list(workers, "--workers", 1, 4096);
  std::vector<int> t = threads.empty() ? std::vector<int>{} : parse_int_list(threads, "--threads", 1, 4096);
  if (k.empty()) for (int x : t) k.push_back(std::max(1, cores / x));
  if (t.empty()) for (int x : k) t.push_back(std::max(1, cores / x));
  if (k.size() != t.size()) {
    throw InputError("--workers " + workers + " and --threads " + threads + ": give lists of one length (paired in order: K x T)");
  }
  std::vector<ServeShape> out;
  for (std::size_t i = 0; i < k.size(); ++i) out.push_back({k[i], t[i]});
  return out;
}

// The answer under load: an open-loop load generator in this process, a dynamic batcher and workers; see serve_run.hpp.
struct ServeCommand {
  ModelOptions model;
  PriceOptions prices;
  std::string device = "all", qps, slo_ms = "1", max_batch = "32", max_queue_delay_us = "100", workers, threads, streams = "1";
  std::string min_requests, min_step_s, reference, out;
  bool force = false, quick = false;
  CLI::App* app = nullptr;

  void add(CLI::App& parent) {
    app = parent.add_subcommand(
        "serve",
        "The answer under load: requests of one sample arrive at Poisson times (open loop, in this process), a dynamic batcher "
        "hands batches to workers; finds the highest rate whose p99 latency meets --slo-ms on the CPU and the GPU (simulated "
        "from the reference's per-batch latencies where no GPU is usable), and the simulator beside every live run");
    model.add(*app, "Seed of the weights (with --layers), of the inputs and of the arrival times", /*threads_help=*/"");
    app->add_option("--device", device, "Which devices to serve (a GPU not usable here is simulated from --reference)")
        ->check(CLI::IsMember({"cpu", "gpu", "all"}))
        ->capture_default_str();
    app->add_option("--qps", qps, "Rates to measure, requests/s, e.g. 1000,2000,5000 (default: search for the highest rate meeting --slo-ms)");
    app->add_option("--slo-ms", slo_ms, "The bound on the p99 latency (completion minus scheduled arrival), in ms")->capture_default_str();
    app->add_option("--max-batch", max_batch, "The dynamic batcher's largest batch")->capture_default_str();
    app->add_option("--max-queue-delay-us", max_queue_delay_us, "The longest the oldest queued request waits for a fuller batch, in us")
        ->capture_default_str();
    app->add_option("--workers", workers,
                    "CPU workers K (a list, paired with --threads): K workers of T threads each, each on its own cores, K x T <= the "
                    "cores (default: 1 x every core, then every core x 1)");
    app->add_option("--threads", threads, "CPU threads T of each worker (a list, paired with --workers; alone: K = cores / T)");
    app->add_option("--streams", streams, "GPU workers, each a stream with a backend (a graph per batch size) of its own")->capture_default_str();
    app->add_option("--min-requests", min_requests, "Least requests of each step (default 2000; --quick 1000)");
    app->add_option("--min-step-s", min_step_s, "Least seconds of each step (default 0.5; --quick 0.1)");
    app->add_option("--reference", reference, "Results file the GPU's per-batch latencies come from without a GPU (default results/reference.json)");
    app->add_option("--out", out,
                    "Results file to write (the per-batch table and the serving section); a folder gets <folder>/<host>/<UTC "
                    "time>-<commit>.json (default: the folder results/); - writes the JSON to standard output");
    app->add_flag("--force", force, "Replace --out if it exists");
    app->add_flag("--quick", quick, "Shorter steps and measurements (CI): a search takes seconds; its p99 rests on fewer requests");
    prices.add(*app);
  }

  int execute(const std::string& command) const {
    const int cores = available_cores();
    ServeRunConfig config;
    ServeConfig& s = config.serve;
    if (!qps.empty()) {
      for (const std::string& q : parse_name_list(qps, "--qps")) s.qps.push_back(parse_double(q, "--qps", -1e300, 1e300));
    }
    s.slo_ms = parse_double(slo_ms, "--slo-ms", -1e300, 1e300);
    s.max_batch = static_cast<int>(parse_int(max_batch, "--max-batch", INT32_MIN, INT32_MAX));
    s.max_queue_delay_us = parse_double(max_queue_delay_us, "--max-queue-delay-us", -1e300, 1e300);
    if (quick) s.min_requests = 1000, s.min_step_s = 0.1, s.search_tolerance = 0.1;
    if (!min_requests.empty()) s.min_requests = static_cast<int>(parse_int(min_requests, "--min-requests", 1, 100000000));
    if (!min_step_s.empty()) s.min_step_s = parse_double(min_step_s, "--min-step-s", 0, 3600);
    s.seed = model.seed_value();
    s.search_floor_qps = s.min_requests / 5.0;  // a failing search's slowest step lasts about 5 s
    config.device = device;
    config.cpu_shapes = serve_shapes(workers, threads, cores);
    config.gpu_streams = static_cast<int>(parse_int(streams, "--streams", INT32_MIN, INT32_MAX));
    config.quick = quick;
    config.reference_file = reference;
    config.command = command;
    config.prices = prices.get();
    validate_serve_run(config, cores);  // every option before the model is made

    Progress progress;
    config.log = progress.printer();
    int backends = 2;  // the gate's reference, a candidate of each kind, K workers
    for (const ServeShape& sh : config.cpu_shapes.empty() ? default_cpu_shapes(cores) : config.cpu_shapes) backends = std::max(backends, 2 + sh.workers);
    const Model m = model.model({s.max_batch}, backends, [&](const std::string& line) { progress.message(line); });
    std::string path = results_path(out, std::time(nullptr));
    std::optional<ReservedOutput> reserved;
    if (names_a_folder(out)) path = reserved.emplace(path).path();
    else check_writable(path, force);

    struct sigaction sa {};
    sa.sa_handler = serve_stop_handler;
    sigemptyset(&sa.sa_mask);
    ::sigaction(SIGINT, &sa, nullptr);
    ::sigaction(SIGTERM, &sa, nullptr);
    const Results r = run_serving(m, config, GpuSide{make_gpu_backends, nullptr}, &g_serve_stop);
    progress.stop();
    if (g_serve_stop.load()) {
      // Every request issued completed (a step drains before it ends); nothing is written, and the process ends as the
      // signal would (the cleanup handler removes the reserved name).
      std::int64_t issued = 0, completed = 0;
      for (const ServingRun& run : r.serving->runs) {
        if (run.source != "measured") continue;  // simulated steps issue nothing
        for (const StepResult& step : run.search.steps) issued += step.issued, completed += step.completed;
      }
      std::cerr << "mlpbench: interrupted: issued " << issued << " = completed " << completed << " requests; no results written\n";
      const int sig = g_serve_signal ? static_cast<int>(g_serve_signal) : SIGINT;
      install_interrupt_cleanup();
      std::raise(sig);
      return kExitRuntime;  // not reached
    }
    install_interrupt_cleanup();
    if (reserved) reserved->write(dump_json(to_json(r)));
    else write_text_atomic(path, dump_json(to_json(r)), force);
    std::ostream& o = messages_for(path);
    for (const std::string& line : serving_lines(r)) o << line << "\n";
    o << "\n" << serving_table(r);
    for (const std::string& n : r.notes) o << "Note: " << n << "\n";
    for (const auto& [dev, why] : r.not_measured) o << "Note: " << dev << " not served live: " << why << "\n";
    o << "\nResults written to " << output_name(path) << "\n";
    return kExitOk;
  }
};

struct InferCommand {
  ModelOptions model;
  std::string input, output, device = "cpu", precision = "fp32";
  bool force = false;
  CLI::App* app = nullptr;

  void add(CLI::App& parent) {
    app = parent.add_subcommand("infer", "One forward pass: tensor 'input' [batch, in] from a safetensors file -> tensor 'output' [batch, out]");
    model.add(*app, "Seed of the weights (with --layers; the input comes from --input)",
              "CPU threads of the forward pass (one count); 0 means every core");
    app->add_option("--input", input, "safetensors file holding tensor 'input' [batch, in]")->required();
    app->add_option("--output", output, "safetensors file to write tensor 'output' [batch, out] (F32) to; - for standard output")->required();
    app->add_option("--device", device, "Where to run the pass")->check(CLI::IsMember({"cpu", "gpu"}))->capture_default_str();
    app->add_option("--precision", precision, "GPU precision with --device gpu: fp32, tf32 or bf16")
        ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
        ->capture_default_str();
    app->add_flag("--force", force, "Replace --output if it exists");
  }

  int execute() const {
    const Precision p = parse_precision(precision);
    if (device == "cpu" && p != Precision::FP32) {
      throw InputError("--precision " + precision + " applies to --device gpu; the CPU computes infer's output in fp32");
    }
    check_writable(output, force);
    const TensorMap tensors = read_safetensors(input);
    const auto it = tensors.find("input");
    if (it == tensors.end()) throw InputError(input + ": no tensor named 'input'");
    const Tensor& x = it->second;
    if (x.shape.size() != 2 || x.shape[0] < 1 || x.shape[0] > kMaxBatch) {
      throw InputError(input + ": tensor 'input' must be [batch, in] with batch in [1, " + std::to_string(kMaxBatch) + "]");
    }
    const int batch = static_cast<int>(x.shape[0]);
    const Model m = model.model({batch});
    if (x.shape[1] != m.input_width()) {
      throw InputError(input + ": tensor 'input' is " + std::to_string(x.shape[1]) + " wide, the model takes " + std::to_string(m.input_width()));
    }

    auto cpu = make_cpu_backend(model.thread_count());
    cpu->prepare(m, batch);
    Tensor y;
    y.dtype = "F32";
    y.shape = {batch, m.output_width()};
    y.data.resize(static_cast<std::size_t>(batch) * m.output_width());
    check_cpu_backend(*cpu, m, x.data, batch, y.data);
    if (device == "gpu") {
      // The first GPU backend through run's gate (against the CPU's output) computes the output.
      GpuBackends gpu = make_gpu_backends(p);
      if (gpu.backends.empty()) throw RuntimeError("--device gpu: no usable GPU: " + gpu.unavailable);
      const GateInputs gate{{batch}, {x.data}, {y.data}};
      std::vector<std::string> failures;
      const std::vector<Backend*> ok = gate_gpu_backends(gpu.backends, m, gate, failures);
      if (ok.empty()) {
        std::string why;
        for (const std::string& f : failures) why += "; " + f;
        throw RuntimeError("--device gpu: no GPU backend produced a correct output" + why);
      }
      ok.front()->forward(x.data.data(), y.data.data(), batch);
      std::cerr << "mlpbench: output computed by GPU backend " << ok.front()->name() << " (" << precision_name(p) << ")\n";
    }
    write_binary_atomic(output, serialize_safetensors({{"output", y}}), force);
    messages_for(output) << "Wrote output [" << batch << ", " << m.output_width() << "] to " << output_name(output) << "\n";
    return kExitOk;
  }
};

// The model as a PyTorch-style state_dict ("0.weight", "0.bias", "2.weight", ...: nn.Sequential numbering,
// with a ReLU between the Linear layers), so a peer framework can run exactly the weights we run.
struct ExportCommand {
  ModelOptions model;
  std::string out;
  bool force = false;
  CLI::App* app = nullptr;

  void add(CLI::App& parent) {
    app = parent.add_subcommand("export-weights", "Write the seeded model as a PyTorch-style state_dict (safetensors), for peers");
    model.add(*app, "Seed of the weights (with --layers)", /*threads_help=*/"");
    app->add_option("--out", out, "safetensors file to write; - for standard output")->required();
    app->add_flag("--force", force, "Replace --out if it exists");
  }

  int execute() const {
    const Model m = model.model({1});
    TensorMap t;
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
      const Layer& l = m.layers[i];
      t[std::to_string(2 * i) + ".weight"] = Tensor{"F32", {l.out, l.in}, l.weight};
      t[std::to_string(2 * i) + ".bias"] = Tensor{"F32", {l.out}, l.bias};
    }
    write_binary_atomic(out, serialize_safetensors(t), force);
    messages_for(out) << "Wrote " << m.layers.size() << " layers (" << m.parameter_count() << " parameters) to " << output_name(out) << "\n";
    return kExitOk;
  }
};

struct MachineCommand {
  std::string threads = "0";
  bool refresh = false;
  CLI::App* app = nullptr;

  void add(CLI::App& parent) {
    app = parent.add_subcommand(
        "machine", "Measure this machine's roof (FMA peak, read bandwidth per cache level, OpenMP costs; GPU peaks, L2/HBM bandwidth, graph launch) and cache it");
    app->add_option("--threads", threads, "Thread counts to measure (0: every core); 1 and all cores are always measured")->capture_default_str();
    app->add_flag("--refresh", refresh, "Measure again even if cached (the cache keeps the best of each figure ever measured here)");
  }

  int execute() const {
    const std::vector<int> counts = normal_thread_counts(parse_int_list(threads, "--threads", 0, 4096));
    const GpuBackends gpu = make_gpu_backends();
    std::string cache;
    const MachineRoof roof = machine_roof(counts, gpu.gpu_name, RoofProbes{measure_cpu_roof, measure_gpu_roof}, refresh, nullptr, &cache);
    std::cout << roof_text(roof) << (cache.empty() ? std::string("Not cached (no writable cache folder).\n") : "Cached in " + cache + "\n");
    return kExitOk;
  }
};

struct ReportCommand {
  PriceOptions prices;
  std::string from, batch_size = std::to_string(kDefaultHeadlineBatch), format = "text";
  CLI::App* app = nullptr;

  void add(CLI::App& parent) {
    app = parent.add_subcommand("report", "Print the three headline lines and the table of a results file");
    app->add_option("--from", from, "Results JSON written by `mlpbench run` or `mlpbench serve` (or results/reference.json)")->required();
    app->add_option("--batch-size", batch_size,
                    "Batch size of the headline (default " + std::to_string(kDefaultHeadlineBatch) +
                        ", or the file's first batch size where it has none of that, as a serve file's per-batch table)");
    app->add_option("--format", format,
                    "text, md (Markdown, for a pull-request comment), json, or gbench (Google Benchmark's JSON, for its compare.py and "
                    "dashboards: the measured cells only)")
        ->check(CLI::IsMember({"text", "md", "json", "gbench"}))
        ->capture_default_str();
    prices.add(*app);
  }

  int execute() const {
    Results r = read_results(from);
    int batch = static_cast<int>(parse_int(batch_size, "--batch-size", 1, kMaxBatch));
    const std::vector<int>& sizes = r.table.batch_sizes;
    if (app->count("--batch-size") == 0 && !sizes.empty() && std::find(sizes.begin(), sizes.end(), batch) == sizes.end()) batch = sizes.front();
    if (std::find(r.table.batch_sizes.begin(), r.table.batch_sizes.end(), batch) == r.table.batch_sizes.end()) {
      throw InputError("--batch-size " + std::to_string(batch) + ": " + from + " has batch sizes " + list_text(r.table.batch_sizes));
    }
    if (const std::optional<Prices> p = prices.get()) r.prices = *p;  // prices given now replace stored ones
    if (format == "json") std::cout << dump_json(to_json(r));
    else if (format == "gbench") std::cout << gbench_json(r);
    else if (format == "md") std::cout << markdown_report(r, batch);
    else std::cout << text_report(r, batch);
    return kExitOk;
  }
};

std::vector<std::pair<std::string, Results>> read_all(const std::vector<std::string>& files) {
  std::vector<std::pair<std::string, Results>> all;
  for (const std::string& f : files) all.emplace_back(f, read_results(f));
  return all;
}

// The files a --baseline names: a file, or a glob ('results/ci/*.json', quoted so that the shell leaves it to us)
// in sorted order. InputError when a glob matches nothing.
std::vector<std::string> baseline_files(const std::vector<std::string>& patterns) {
  std::vector<std::string> files;
  for (const std::string& p : patterns) {
    if (p.find_first_of("*?[") == std::string::npos) {
      files.push_back(p);
      continue;
    }
    glob_t g{};
    const int rc = ::glob(p.c_str(), 0, nullptr, &g);
    const std::size_t before = files.size();
    if (rc == 0) files.insert(files.end(), g.gl_pathv, g.gl_pathv + g.gl_pathc);
    ::globfree(&g);
    if (files.size() == before) throw InputError("compare: --baseline '" + p + "' matches no file");
  }
  return files;
}

struct CompareCommand {
  std::vector<std::string> files;
  std::vector<std::string> baselines;
  CompareOptions options;
  bool no_drift_correction = false;
  std::string format = "text";
  CLI::App* app = nullptr;

  void add(CLI::App& parent) {
    app = parent.add_subcommand("compare",
                                "Compare results files cell by cell (Mann-Whitney U on the round medians), or a run against a history of runs "
                                "(--baseline); exit 1 on a significant slowdown");
    app->add_option("files", files,
                    "BASE.json NEW.json [MORE.json ...]: with more than two, one column per file; with --baseline, NEW.json alone")
        ->required()
        ->expected(1, -1);
    app->add_option("--baseline", baselines,
                    "A baseline run, or a quoted glob of them ('results/ci/*.json'); repeat for more. With two or more, NEW is judged "
                    "against the spread of their medians (slower only when outside it and beyond --threshold); with one, as BASE")
        ->type_name("FILE|GLOB")
        ->allow_extra_args(false);
    // Not CLI11's NonNegativeNumber, whose message names the range [0 - 1.79769e+308].
    const CLI::Validator percent(
        [](std::string& text) {
          char* end = nullptr;
          const double v = std::strtod(text.c_str(), &end);
          const bool number = !text.empty() && *end == '\0' && std::isfinite(v);
          if (number && v >= 0) return std::string();
          return text + (number ? " is negative" : " is not a number") + ": give a slowdown in percent, 0 or more";
        },
        "PERCENT");
    app->add_option("--threshold", options.threshold_pct, "Slowdown in percent that counts as a regression when significant")
        ->check(percent)
        ->capture_default_str();
    app->add_option("--format", format, "text, or md (Markdown, for a pull-request comment or a CI job summary)")
        ->check(CLI::IsMember({"text", "md"}))
        ->capture_default_str();
    app->add_flag("--allow-different-models", options.allow_different_models,
                  "Compare files of different models or precisions (refused otherwise, exit 2); none of their cells counts as a "
                  "regression");
    app->add_flag("--no-drift-correction", no_drift_correction,
                  "Judge CPU cells on their plain ratio even where the drift probe's change is significant (the correction is "
                  "otherwise applied then, with the uncorrected verdict shown where they differ)");
  }

  int execute() {
    options.drift_correction = !no_drift_correction;
    if (baselines.empty()) {
      if (files.size() < 2) throw InputError("compare: give a BASE and at least one NEW results file, or --baseline FILES and one NEW file");
      const Comparison c = compare_results(read_all(files), options);
      std::cout << (format == "md" ? comparison_markdown(c) : comparison_text(c));
      return c.regression ? kExitRegression : kExitOk;
    }
    if (files.size() != 1) throw InputError("compare: with --baseline, give one NEW results file (" + std::to_string(files.size()) + " given)");
    const std::string& next = files.front();
    // A glob of the CI folder may hold the new run too: it is no baseline of itself.
    std::vector<std::string> base;
    std::error_code ec;
    for (const std::string& f : baseline_files(baselines)) {
      if (!std::filesystem::equivalent(f, next, ec)) base.push_back(f);
    }
    if (base.empty()) throw InputError("compare: --baseline names no file but " + next + " itself");
    if (base.size() == 1) {
      const Comparison c = compare_results(read_all({base.front(), next}), options);
      std::cout << (format == "md" ? comparison_markdown(c) : comparison_text(c));
      return c.regression ? kExitRegression : kExitOk;
    }
    const HistoryComparison h = compare_history(read_all(base), {next, read_results(next)}, options);
    std::cout << (format == "md" ? history_markdown(h) : history_text(h));
    return h.regression ? kExitRegression : kExitOk;
  }
};

struct ReferenceCommand {
  std::vector<std::string> from;
  std::string out;
  bool force = false;
  CLI::App* app = nullptr;

  void add(CLI::App& parent) {
    app = parent.add_subcommand("reference", "Build a reference table from measured runs (the newest cell per device and batch size), e.g. to "
                                             "replace results/reference.json with a real GPU run");
    app->add_option("--from", from, "A measured results file; repeat for more (a GPU run and a CPU run, say)")->required();
    app->add_option("--out", out, "Reference table to write, e.g. results/reference.json; - for standard output")->required();
    app->add_flag("--force", force, "Replace --out if it exists");
  }

  int execute() const {
    check_writable(out, force);
    const Results r = make_reference(read_all(from));
    write_text_atomic(out, dump_json(to_json(r)), force);
    int cells = 0;
    for (const auto& [device, per_batch] : r.table.cells) cells += static_cast<int>(per_batch.size());
    messages_for(out) << "Wrote " << output_name(out) << ": " << cells << " reference cells of " << list_text(r.model.layers) << " from "
                      << from.size() << " run(s)\n";
    return kExitOk;
  }
};

struct PlotCommand {
  std::vector<std::string> files;
  std::string out;
  bool force = false;
  CLI::App* app = nullptr;

  void add(CLI::App& parent) {
    app = parent.add_subcommand("plot", "Draw latency and throughput against batch size (log-log) as a standalone SVG");
    app->add_option("files", files, "Results files, one line per device and file")->required()->expected(1, -1);
    app->add_option("--out", out, "SVG file to write; - for standard output")->required();
    app->add_flag("--force", force, "Replace --out if it exists");
  }

  int execute() const {
    check_writable(out, force);
    write_text_atomic(out, plot_svg(read_all(files)), force);
    messages_for(out) << "Wrote " << output_name(out) << "\n";
    return kExitOk;
  }
};

int main_impl(int argc, char** argv) {
  CLI::App app{
      "mlpbench: times a dense MLP forward pass on the CPU (Eigen + OpenMP) and on an NVIDIA GPU (CUDA, cuBLASLt) "
      "at several batch sizes, and says which is faster."};
  app.name("mlpbench");
  app.footer(kExitCodes);
  app.set_version_flag("--version", version_text(), "Print the version, commit, build type, compiler and CUDA toolkit, and exit");
  app.require_subcommand(1);
  RunCommand run;
  ServeCommand serve;
  InferCommand infer;
  ReportCommand report;
  CompareCommand compare;
  PlotCommand plot;
  MachineCommand machine;
  ExportCommand exporter;
  ReferenceCommand reference;
  run.add(app);
  serve.add(app);
  infer.add(app);
  exporter.add(app);
  machine.add(app);
  compare.add(app);
  plot.add(app);
  reference.add(app);
  report.add(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = suggestion(app, argc, argv);
    if (msg.empty()) msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    std::cerr << "mlpbench: error: " << printable(msg) << " (see mlpbench --help)\n";
    return kExitUsage;
  }

  if (*run.app) return run.execute(command_line(argc, argv));
  if (*serve.app) return serve.execute(command_line(argc, argv));
  if (*compare.app) return compare.execute();
  if (*plot.app) return plot.execute();
  if (*machine.app) return machine.execute();
  if (*exporter.app) return exporter.execute();
  if (*infer.app) return infer.execute();
  if (*reference.app) return reference.execute();
  return report.execute();
}

}  // namespace
}  // namespace mlpbench

int main(int argc, char** argv) {
  using namespace mlpbench;
  install_interrupt_cleanup();
  try {
    return main_impl(argc, argv);
  } catch (const InputError& e) {
    std::cerr << "mlpbench: error: " << printable(e.what()) << "\n";
    return kExitUsage;
  } catch (const RuntimeError& e) {
    std::cerr << "mlpbench: error: " << printable(e.what()) << "\n";
    return kExitRuntime;
  } catch (const std::bad_alloc&) {
    std::cerr << "mlpbench: error: out of memory\n";
    return kExitRuntime;
  } catch (const std::exception& e) {
    std::cerr << "mlpbench: error: " << printable(e.what()) << "\n";
    return kExitRuntime;
  }
}
