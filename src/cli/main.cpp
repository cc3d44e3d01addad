// The mlpbench command: `run` (fill the CPU/GPU table and name the faster device), `infer` (one forward
// pass on a user's input, to check our outputs against their framework), `report` (print a results file),
// `compare` (results files side by side, exit 1 on a regression), `plot` (SVG chart), `machine` (measure
// the roof) and `export-weights`. Options are parsed here; the work is done by the library.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <optional>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <new>
#include <set>

#include "mlpbench/backend.hpp"
#include "mlpbench/build_info.hpp"
#include "mlpbench/check.hpp"
#include "mlpbench/compare.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/machine.hpp"
#include "mlpbench/parse.hpp"
#include "mlpbench/plot.hpp"
#include "mlpbench/report.hpp"
#include "mlpbench/results.hpp"
#include "mlpbench/runner.hpp"
#include "mlpbench/safetensors.hpp"
#include "mlpbench/warnings.hpp"

namespace mlpbench {
namespace {

constexpr int kMaxBatch = 1 << 24;

const char* kExitCodes =
    "Exit codes: 0 ok, 1 regression (compare: a measured cell significantly slower by more than --threshold), 2 bad usage or input (one "
    "line on stderr says what and where), 3 runtime or device failure.";

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=,:+") == std::string::npos) return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string command_line(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) s += (i ? " " : "") + shell_quote(argv[i]);
  return s;
}

// Options shared by run and infer: which model.
struct ModelOptions {
  std::string layers = "784,512,512,10";
  std::string weights;
  std::string seed = "1";
  std::string threads = "0";

  void add(CLI::App& app, bool with_threads = true) {
    auto* l = app.add_option("--layers", layers, "Widths of a seeded MLP, input first: 784,512,512,10")->capture_default_str();
    auto* w = app.add_option("--weights", weights,
                             "A PyTorch state_dict of nn.Linear layers saved as safetensors (F32, F16 or BF16): "
                             "'<prefix>.weight' [out, in] and '<prefix>.bias' [out], ordered by the number in the prefix");
    l->excludes(w);
    app.add_option("--seed", seed, "Seed of the weights (with --layers) and of the inputs")->capture_default_str();
    if (with_threads) app.add_option("--threads", threads, "CPU thread counts, e.g. 1,2 (run: each is measured, the best is the headline); 0 means every core")
        ->capture_default_str();
  }

  // The widths of the seeded model (checked before any weight is made), or of the weights file.
  std::vector<int> seeded_widths() const {
    std::vector<int> w = parse_int_list(layers, "--layers", 1, kMaxWidth);
    validate_widths(w);
    return w;
  }
  // Checks that the model fits in memory at these batch sizes with `backends` CPU backends, then makes or
  // loads it.
  Model model(const std::vector<int>& batch_sizes, int backends = 1) const {
    if (!weights.empty()) {
      Model m = load_model(weights);
      check_memory(m.widths(), batch_sizes, backends);
      return m;
    }
    const std::vector<int> widths = seeded_widths();
    check_memory(widths, batch_sizes, backends);
    return make_seeded_model(widths, seed_value());
  }
  std::uint64_t seed_value() const { return static_cast<std::uint64_t>(parse_int(seed, "--seed", 0, INT64_MAX)); }
  std::vector<int> thread_counts() const {
    std::vector<int> t = parse_int_list(threads, "--threads", 0, 4096);
    for (int& n : t) n = n == 0 ? available_cores() : n;  // so "0,2" on 2 cores is one count, not two
    std::sort(t.begin(), t.end());
    t.erase(std::unique(t.begin(), t.end()), t.end());
    return t;
  }
  int thread_count() const {
    const std::vector<int> t = thread_counts();
    if (t.size() != 1) throw InputError("--threads: infer takes one thread count, not '" + threads + "'");
    return t.front();
  }
};

std::string default_reference() {
  const std::string local = "results/reference.json";
  if (std::filesystem::exists(local)) return local;
  const std::string installed = std::string(kSourceDir) + "/results/reference.json";
  if (std::filesystem::exists(installed)) return installed;
  return local;  // reading it will say it is missing
}

// What `run` takes besides the model.
struct RunOptions {
  std::string batch_sizes = "1,10,100";
  std::string batch_size = "10";
  std::string device = "all";
  std::string precision = "fp32";
  std::string gpu_io = "both";
  std::string reference;
  std::string out;
  bool force = false;
  bool quick = false;
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

// Progress lines on stderr while a run goes, only when stderr is a terminal.
std::function<void(const std::string&)> progress_printer() {
  if (!::isatty(STDERR_FILENO)) return {};
  const auto start = std::chrono::steady_clock::now();
  return [start](const std::string& line) {
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::fprintf(stderr, "\r\x1b[K[%6.1f s] %s", s, line.c_str());
    std::fflush(stderr);
  };
}

int cmd_run(const ModelOptions& mo, const RunOptions& ro, const PriceOptions& po, const std::string& cmdline) {
  const Precision precision = parse_precision(ro.precision);
  std::vector<int> sizes = parse_int_list(ro.batch_sizes, "--batch-sizes", 1, kMaxBatch);
  const int headline_batch = static_cast<int>(parse_int(ro.batch_size, "--batch-size", 1, kMaxBatch));
  sizes.push_back(headline_batch);  // the headline batch size is always measured
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  const std::vector<int> threads = mo.thread_counts();
  const std::optional<Prices> prices = po.get();
  // The reference backend, then eigen and eigen-omp-packed (and the bf16 one) at every thread count.
  const int cpu_backends = 1 + static_cast<int>(threads.size()) * (precision == Precision::BF16 ? 3 : 2);
  const Model model = mo.model(sizes, cpu_backends);

  const std::time_t start = std::time(nullptr);
  const std::string out = ro.out.empty() ? "results/" + host_name() + "-" + utc_compact(start) + ".json" : ro.out;

  check_writable(out, ro.force);
  // A --reference given is read now, whatever is measured: a bad file is an input error, not a surprise later.
  std::optional<Results> reference;
  if (!ro.reference.empty()) reference = read_results(ro.reference);

  RunConfig config;
  config.batch_sizes = sizes;
  config.device = ro.device;
  config.threads = threads;
  config.reference_file = ro.reference.empty() ? default_reference() : ro.reference;
  config.reference = reference ? &*reference : nullptr;
  config.quick = ro.quick;
  config.input_seed = mo.seed_value();
  config.precision = precision;
  config.log = progress_printer();
  GpuBackends gpu = ro.device == "cpu" ? GpuBackends{} : make_gpu_backends(precision, parse_gpu_io(ro.gpu_io));
  if (ro.device == "gpu" && gpu.backends.empty()) throw RuntimeError("--device gpu: no usable GPU: " + gpu.unavailable);
  if (ro.device == "cpu") gpu.unavailable = "--device cpu";
  // The machine's roof gives every measured cell its floor (cached after the first run).
  if (config.log) config.log("measuring the machine's roof (cached after the first run)");
  const MachineRoof roof = machine_roof(threads, gpu.backends.empty() ? "" : gpu.gpu_name, measure_gpu_roof, /*refresh=*/false);
  config.roof = &roof;

  const bool on_gpu = !gpu.backends.empty();
  const GpuClocks clocks_start = on_gpu ? read_gpu_clocks() : GpuClocks{};
  Results r = run_benchmark(model, config, std::move(gpu));
  const GpuClocks clocks_end = on_gpu ? read_gpu_clocks() : GpuClocks{};
  if (config.log) std::fprintf(stderr, "\r\x1b[K");
  add_warnings(r, threads, clock_read_ns(), clocks_start, clocks_end);
  if (clocks_start.valid) {
    r.machine["gpu_clocks_mhz"] = {{"start", clocks_start.sm_mhz}, {"end", clocks_end.sm_mhz}, {"max", clocks_start.sm_max_mhz}};
  }
  if (prices) r.prices = *prices;
  r.run["started_utc"] = utc_iso8601(start);
  r.run["command"] = cmdline;
  r.run["batch_sizes"] = sizes;
  r.run["device"] = ro.device;
  r.run["precision"] = precision_name(precision);
  r.run["gpu_io"] = ro.gpu_io;
  r.run["quick"] = ro.quick;
  r.run["input_seed"] = config.input_seed;
  r.run["threads"] = threads;
  r.machine["roof"] = roof_to_json(roof);

  write_text_atomic(out, dump_json(to_json(r)), ro.force);
  std::cout << text_report(r, headline_batch) << "\nResults written to " << out << "\n";
  return kExitOk;
}

int cmd_infer(const ModelOptions& mo, const std::string& input, const std::string& output, const std::string& device,
              const std::string& precision_text, bool force) {
  const Precision precision = parse_precision(precision_text);
  if (device == "cpu" && precision != Precision::FP32) {
    throw InputError("--precision " + precision_text + " applies to --device gpu; the CPU computes infer's output in fp32");
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
  const Model model = mo.model({batch});
  if (x.shape[1] != model.input_width()) {
    throw InputError(input + ": tensor 'input' is " + std::to_string(x.shape[1]) + " wide, the model takes " + std::to_string(model.input_width()));
  }

  auto cpu = make_cpu_backend(mo.thread_count());
  cpu->prepare(model, batch);
  Tensor y;
  y.dtype = "F32";
  y.shape = {batch, model.output_width()};
  y.data.resize(static_cast<std::size_t>(batch) * model.output_width());
  check_cpu_backend(*cpu, model, x.data, batch, y.data);
  if (device == "gpu") {
    // The first GPU backend that runs and agrees with the CPU computes the output.
    GpuBackends gpu = make_gpu_backends(precision);
    if (gpu.backends.empty()) throw RuntimeError("--device gpu: no usable GPU: " + gpu.unavailable);
    std::string failures;
    bool done = false;
    for (auto& g : gpu.backends) {
      try {
        g->prepare(model, batch);
        std::vector<float> gy(y.data.size());
        g->forward(x.data.data(), gy.data(), batch);
        const CheckResult c = check_close(gy.data(), y.data.data(), gy.size(), tolerance_for(precision));
        if (c.ok) {
          y.data = std::move(gy);
          std::cerr << "mlpbench: output computed by GPU backend " << g->name() << " (" << precision_name(precision) << ")\n";
          done = true;
          break;
        }
        failures += "; " + g->name() + " disagrees with the CPU: " + c.first_mismatches;
      } catch (const std::exception& e) {
        failures += "; " + g->name() + ": " + e.what();
      }
    }
    if (!done) throw RuntimeError("--device gpu: no GPU backend produced a correct output" + failures);
  }
  write_binary_atomic(output, serialize_safetensors({{"output", y}}), force);
  std::cout << "Wrote output [" << batch << ", " << model.output_width() << "] to " << output << "\n";
  return kExitOk;
}

// The model as a PyTorch-style state_dict ("0.weight", "0.bias", "2.weight", ...: nn.Sequential numbering,
// with a ReLU between the Linear layers), so a peer framework can run exactly the weights we run.
int cmd_export(const ModelOptions& mo, const std::string& out, bool force) {
  const Model model = mo.model({1});
  TensorMap t;
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    const Layer& l = model.layers[i];
    t[std::to_string(2 * i) + ".weight"] = Tensor{"F32", {l.out, l.in}, l.weight};
    t[std::to_string(2 * i) + ".bias"] = Tensor{"F32", {l.out}, l.bias};
  }
  write_binary_atomic(out, serialize_safetensors(t), force);
  std::cout << "Wrote " << model.layers.size() << " layers (" << model.parameter_count() << " parameters) to " << out << "\n";
  return kExitOk;
}

int cmd_machine(const std::string& threads_text, bool refresh) {
  std::vector<int> threads = parse_int_list(threads_text, "--threads", 0, 4096);
  const GpuBackends gpu = make_gpu_backends();
  std::string cache;
  const MachineRoof roof = machine_roof(threads, gpu.gpu_name, measure_gpu_roof, refresh, &cache);
  std::cout << roof_text(roof) << (cache.empty() ? std::string("Not cached (no writable cache folder).\n") : "Cached in " + cache + "\n");
  return kExitOk;
}

int cmd_report(const std::string& from, const std::string& batch_size_text, const std::string& format, const PriceOptions& po) {
  Results r = read_results(from);
  const int batch = static_cast<int>(parse_int(batch_size_text, "--batch-size", 1, kMaxBatch));
  if (std::find(r.table.batch_sizes.begin(), r.table.batch_sizes.end(), batch) == r.table.batch_sizes.end()) {
    std::string have;
    for (int b : r.table.batch_sizes) have += (have.empty() ? "" : ",") + std::to_string(b);
    throw InputError("--batch-size " + std::to_string(batch) + ": " + from + " has batch sizes " + have);
  }
  if (const std::optional<Prices> prices = po.get()) r.prices = *prices;  // prices given now replace stored ones
  if (format == "json") std::cout << dump_json(to_json(r));
  else if (format == "md") std::cout << markdown_report(r, batch);
  else std::cout << text_report(r, batch);
  return kExitOk;
}

std::vector<std::pair<std::string, Results>> read_all(const std::vector<std::string>& files) {
  std::vector<std::pair<std::string, Results>> all;
  for (const std::string& f : files) all.emplace_back(f, read_results(f));
  return all;
}

int cmd_compare(const std::vector<std::string>& files, double threshold) {
  if (files.size() < 2) throw InputError("compare: give a BASE and at least one NEW results file");
  const Comparison c = compare_results(read_all(files), threshold);
  std::cout << comparison_text(c);
  return c.regression ? kExitRegression : kExitOk;
}

int cmd_plot(const std::vector<std::string>& files, const std::string& out, bool force) {
  check_writable(out, force);
  write_text_atomic(out, plot_svg(read_all(files)), force);
  std::cout << "Wrote " << out << "\n";
  return kExitOk;
}

int main_impl(int argc, char** argv) {
  CLI::App app{
      "mlpbench: times a dense MLP forward pass on the CPU (Eigen + OpenMP) and on an NVIDIA GPU (CUDA, cuBLASLt) "
      "at several batch sizes, and says which is faster."};
  app.name("mlpbench");
  app.footer(kExitCodes);
  app.require_subcommand(1);

  ModelOptions run_model, infer_model;
  RunOptions ro;
  PriceOptions run_prices, report_prices;
  CLI::App* run = app.add_subcommand("run", "Measure every cell of the table, print the verdict for one batch size, write results JSON");
  run_model.add(*run);
  run->add_option("--batch-sizes", ro.batch_sizes, "Batch sizes of the table (any list, e.g. 1,2,4,...,1024)")->capture_default_str();
  run->add_option("--batch-size", ro.batch_size, "Batch size of the three headline lines (added to the table if missing)")->capture_default_str();
  run->add_option("--device", ro.device, "Which columns to measure; the others come from --reference")
      ->check(CLI::IsMember({"cpu", "gpu", "all"}))
      ->capture_default_str();
  run->add_option("--precision", ro.precision, "Matrix-product precision: fp32 (default), tf32 (GPU) or bf16 (GPU, and CPU bf16 weights)")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
  run->add_option("--gpu-io", ro.gpu_io,
                  "How GPU backends move input and output: copy (H2D/D2H copies around the layers), zero-copy (kernels read and "
                  "write mapped host memory; a forward is a graph of kernels only) or both")
      ->check(CLI::IsMember({"copy", "zero-copy", "both"}))
      ->capture_default_str();
  run->add_option("--reference", ro.reference, "Results file the unmeasured column comes from (default results/reference.json)");
  run->add_option("--out", ro.out, "Results file to write (default results/<host>-<UTC time>.json)");
  run->add_flag("--force", ro.force, "Replace --out if it exists");
  run->add_flag("--quick", ro.quick, "Cap the whole run at a few seconds (CI)");
  run_prices.add(*run);

  std::string input, output, infer_device = "cpu", infer_precision = "fp32";
  bool infer_force = false;
  CLI::App* infer = app.add_subcommand("infer", "One forward pass: tensor 'input' [batch, in] from a safetensors file -> tensor 'output' [batch, out]");
  infer_model.add(*infer);
  infer->add_option("--input", input, "safetensors file holding tensor 'input' [batch, in]")->required();
  infer->add_option("--output", output, "safetensors file to write tensor 'output' [batch, out] (F32) to")->required();
  infer->add_option("--device", infer_device, "Where to run the pass")->check(CLI::IsMember({"cpu", "gpu"}))->capture_default_str();
  infer->add_option("--precision", infer_precision, "GPU precision with --device gpu: fp32, tf32 or bf16")
      ->check(CLI::IsMember({"fp32", "tf32", "bf16"}))
      ->capture_default_str();
  infer->add_flag("--force", infer_force, "Replace --output if it exists");

  ModelOptions export_model;
  std::string export_out;
  bool export_force = false;
  CLI::App* exp = app.add_subcommand("export-weights", "Write the seeded model as a PyTorch-style state_dict (safetensors), for peers");
  export_model.add(*exp, /*with_threads=*/false);
  exp->add_option("--out", export_out, "safetensors file to write")->required();
  exp->add_flag("--force", export_force, "Replace --out if it exists");

  std::string machine_threads = "0";
  bool machine_refresh = false;
  CLI::App* mach = app.add_subcommand("machine", "Measure this machine's roof (FMA peak, read bandwidth per cache level, OpenMP costs; GPU peaks, L2/HBM bandwidth, graph launch) and cache it");
  mach->add_option("--threads", machine_threads, "Thread counts to measure (0: every core); 1 and all cores are always measured")->capture_default_str();
  mach->add_flag("--refresh", machine_refresh, "Measure again even if cached");

  std::vector<std::string> compare_files;
  double threshold = 5;
  CLI::App* cmp = app.add_subcommand("compare", "Compare results files cell by cell (Mann-Whitney U on the samples); exit 1 on a significant slowdown");
  cmp->add_option("files", compare_files, "BASE.json NEW.json [MORE.json ...]: with more than two, one column per file")->required()->expected(2, -1);
  cmp->add_option("--threshold", threshold, "Slowdown in percent that counts as a regression when significant")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();

  std::vector<std::string> plot_files;
  std::string plot_out;
  bool plot_force = false;
  CLI::App* plt = app.add_subcommand("plot", "Draw latency and throughput against batch size (log-log) as a standalone SVG");
  plt->add_option("files", plot_files, "Results files, one line per device and file")->required()->expected(1, -1);
  plt->add_option("--out", plot_out, "SVG file to write")->required();
  plt->add_flag("--force", plot_force, "Replace --out if it exists");

  std::string from, report_batch = "10", report_format = "text";
  CLI::App* report = app.add_subcommand("report", "Print the three headline lines and the table of a results file");
  report->add_option("--from", from, "Results JSON written by `mlpbench run` (or results/reference.json)")->required();
  report->add_option("--batch-size", report_batch, "Batch size of the headline")->capture_default_str();
  report->add_option("--format", report_format, "text, md (Markdown, for a pull-request comment) or json")
      ->check(CLI::IsMember({"text", "md", "json"}))
      ->capture_default_str();
  report_prices.add(*report);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    std::cerr << "mlpbench: error: " << msg << " (see mlpbench --help)\n";
    return kExitUsage;
  }

  if (*run) return cmd_run(run_model, ro, run_prices, command_line(argc, argv));
  if (*cmp) return cmd_compare(compare_files, threshold);
  if (*plt) return cmd_plot(plot_files, plot_out, plot_force);
  if (*mach) return cmd_machine(machine_threads, machine_refresh);
  if (*exp) return cmd_export(export_model, export_out, export_force);
  if (*infer) return cmd_infer(infer_model, input, output, infer_device, infer_precision, infer_force);
  return cmd_report(from, report_batch, report_format, report_prices);
}

}  // namespace
}  // namespace mlpbench

int main(int argc, char** argv) {
  using namespace mlpbench;
  install_interrupt_cleanup();
  try {
    return main_impl(argc, argv);
  } catch (const InputError& e) {
    std::cerr << "mlpbench: error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const RuntimeError& e) {
    std::cerr << "mlpbench: error: " << e.what() << "\n";
    return kExitRuntime;
  } catch (const std::bad_alloc&) {
    std::cerr << "mlpbench: error: out of memory\n";
    return kExitRuntime;
  } catch (const std::exception& e) {
    std::cerr << "mlpbench: error: " << e.what() << "\n";
    return kExitRuntime;
  }
}
