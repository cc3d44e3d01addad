// `run` as a library call, in named steps (as google/benchmark's benchmark_runner.cc), each testable alone:
//   make_gate_inputs    seeded inputs per batch size and the CPU reference backend's outputs (themselves checked
//                       against the double-precision loop): what every backend must match
//   check_backend       the gate: prepared for the largest batch, planned and compared at every batch size
//   gate_gpu_backends   every GPU backend through the gate; a wrong one is left out with why
//   make_cpu_backends   every CPU backend at every thread count (the line-up check_memory also counts)
//   gate_cpu_backends   every CPU backend through the gate; a wrong one ends the run
//   measure_all         every backend at every batch size (hot, cold or both) in interleaved rounds
//                       (measure_rounds), a drift probe between rounds; then each GPU backend's device split
//   run_emulated        on a CUDA emulator, in place of measure_all for the GPU: every backend run, never timed
//   cell_of             a device's runs at one batch size: the fastest is the cell's headline
//   clock_readings      the GPU's SM clock after the gate, while timing (after each GPU slice) and at the end
//   measure_energy      energy per inference over a window of forwards, between two steps of the counter
//   read_reference      the reference file, read before anything is measured
//   fill_reference      a column not measured here, from the reference file, labelled as such
//   apply_floors        every measured cell's floor from the machine's roof, never above 100%
//   run_benchmark       the steps above, in order, for given GPU backends and energy counter
//   run                 all that `mlpbench run` does: GPU backends, clocks, run_benchmark, the live probe, the roof
//                       and floors (measured again once if a cell beats it), warnings, metadata
// The CLI parses options into a RunConfig, calls run() and prints.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mlpbench/backend.hpp"
#include "mlpbench/defaults.hpp"
#include "mlpbench/machine.hpp"
#include "mlpbench/measure.hpp"
#include "mlpbench/metadata.hpp"
#include "mlpbench/nvml.hpp"
#include "mlpbench/results.hpp"

namespace mlpbench {

struct RunConfig {
  std::vector<int> batch_sizes = kDefaultBatchSizes;   // normal form: normal_batch_sizes()
  std::string device = "all";                          // "cpu", "gpu" or "all": which columns to measure
  std::vector<int> threads = default_thread_counts(resolve_threads(0));  // CPU thread counts, normal form: normal_thread_counts()
  Precision precision = Precision::FP32;               // GPU matrix-product precision (the CPU runs fp32)
  std::vector<GpuIo> gpu_io = {GpuIo::Copy, GpuIo::ZeroCopy};
  std::vector<CacheMode> cache = {CacheMode::Hot};     // hot, cold, or both (the first fills the headline table)
  std::string reference_file;                          // where missing columns come from; "" = default_reference_file()
  bool quick = false;                                  // whole run within a few seconds (CI)
  std::vector<std::string> backends;                   // --backend: the backends to time (kBackendNames); empty: all
  // --warmup-ms, --min-time-ms, --min-samples: each cell's untimed warm-up, least sampling time and least samples,
  // over the defaults (or --quick's).
  std::optional<double> warmup_s, min_time_s;
  std::optional<int> min_samples;
  std::uint64_t input_seed = 1;                        // inputs are U(-1, 1) from this seed
  std::string command;                                 // the command line, recorded in the results
  std::optional<Prices> prices;                        // cost per million inferences, when given
  bool drift_probe = true;                             // run the drift probe between rounds
  // Progress: `lasting` lines (a round done, a cell's result) belong in a log; the others only say what runs
  // now (a terminal shows them in place). May be empty.
  std::function<void(const std::string& line, bool lasting)> log;
};

// results/reference.json in the current folder, else the one installed beside this program
// (<prefix>/share/mlpbench), else the one in the source tree.
std::string default_reference_file();

// Throws InputError when the model (widths, input first) run by `backends` CPU backends at these batch
// sizes would need more than half of this machine's memory (weights per backend, activations, inputs and
// outputs). Called before the weights are made or loaded, so a too-large request fails at once.
void check_memory(const std::vector<int>& widths, const std::vector<int>& batch_sizes, int backends);

// The CPU backend against the double-precision reference on up to 8 rows (rows are independent, so a
// subset checks the arithmetic at a fraction of the cost). Throws RuntimeError on a mismatch.
void check_cpu_backend(Backend& cpu, const Model& model, const std::vector<float>& x, int batch, std::vector<float>& y);

// What every backend is checked against: for each batch size, its input and the expected output.
struct GateInputs {
  std::vector<int> batch_sizes;
  std::vector<std::vector<float>> inputs, expected;
};

// Inputs U(-1, 1) from `seed` per batch size, and the outputs of the plain Eigen backend (all cores), itself
// checked against the double-precision loop (check_cpu_backend).
GateInputs make_gate_inputs(const Model& model, const std::vector<int>& batch_sizes, std::uint64_t seed);

// The gate every backend passes before it is timed (run, infer and bench/ alike): prepared for the largest
// batch, then at each batch size planned, run and compared at tolerance_for(its precision). Returns "" when it
// passes, else what was wrong. Exceptions from the backend propagate.
std::string check_backend(Backend& backend, const Model& model, const GateInputs& gate);

// The GPU backends that pass the gate, in order; each one that fails (or throws) adds a note with why.
std::vector<Backend*> gate_gpu_backends(const std::vector<std::unique_ptr<Backend>>& backends, const Model& model, const GateInputs& gate,
                                        std::vector<std::string>& notes);

// Every CPU backend at every thread count: eigen and eigen-omp-packed, and with bf16 also the bf16-weight
// backend (or a note where this build has none).
std::vector<std::unique_ptr<Backend>> make_cpu_backends(const RunConfig& config, std::vector<std::string>& notes);
// Throws InputError when --backend (config.backends) names no backend that can run on the devices and at the
// precision asked for: no CPU backend with --device cpu, no GPU backend with --device gpu, none at all at this
// precision (eigen-omp-packed-bf16 runs with --precision bf16 only; our CUDA kernels with fp32 only).
void check_backend_choice(const RunConfig& config);

// How many CPU backends a run holds at once (the reference backend and make_cpu_backends'), for check_memory.
int cpu_backend_count(const RunConfig& config);

// Every CPU backend through the gate; throws RuntimeError naming the first that fails (the CPU column has no
// other source).
void gate_cpu_backends(const std::vector<std::unique_ptr<Backend>>& backends, const Model& model, const GateInputs& gate);

// The sampling budgets of a run: the rounds (each cell's share), the device phases (secondary, shorter), the
// energy window.
struct MeasureBudget {
  RoundsConfig rounds;
  MeasureConfig phases;
  double energy_window_s = 2;  // at least, between two steps of the counter (measure_energy)
  // A GPU backend's slice warm-up after a CPU backend's slice (RoundsConfig::idle_warmup_s): the GPU idled through
  // it, and its clock takes milliseconds to come back up.
  double gpu_idle_warmup_s = 0.02;
};
MeasureBudget measure_budget(bool quick, int timed_cells);
// The same with the run's --warmup-ms, --min-time-ms and --min-samples over it (max_time_s grows to min_time_s).
MeasureBudget measure_budget(const RunConfig& config, int timed_cells);

// A cold timer: before each pass the backend's caches are evicted (untimed), then the pass is timed alone.
TimedRun cold_clock(Backend& backend, std::function<void()> pass);

// What a cell records of a run of `be`: its name, config, I/O, threads and bytes per weight, with `stats` (none for
// an emulated run) in cache `mode`.
BackendRun backend_run(const Backend& be, const Stats& stats = {}, CacheMode mode = CacheMode::Hot);

// Every backend (prepared) at every batch size of the gate in every cache mode, in interleaved rounds (a cold
// item takes one pass per sample: one eviction, one timed forward; a GPU item's slice after a CPU item's warms up
// for budget.gpu_idle_warmup_s); then, for
// hot runs where a backend has device timers, its device-only time and the copies around it. runs[m][i][k]:
// backend k at gate.batch_sizes[i] in modes[m]. After each round: the drift probe (probe_ms, when given, its value
// in `drift_ms`) and a lasting log line. after_gpu_slice, when given, runs right after each GPU backend's slice, the
// GPU still busy (a clock reading).
std::vector<std::vector<std::vector<BackendRun>>> measure_all(const std::vector<Backend*>& backends, const GateInputs& gate, int output_width,
                                                              const std::vector<CacheMode>& modes, const MeasureBudget& budget,
                                                              const std::function<double()>& probe_ms, std::vector<double>& drift_ms,
                                                              const std::function<void(const std::string&, bool)>& log,
                                                              const std::function<void()>& after_gpu_slice = nullptr);

// On a CUDA emulator (GpuBackends::emulator), in place of measure_all for the GPU backends (emulated time is no GPU
// time): each backend at every batch size of the gate in every mode, outside any timing, planned, then two forwards
// (cold: evict_caches() before each) whose outputs must hold the same bits, and each of its phase timers called
// once for one pass (what it returns is ignored). runs[m][i][k] as measure_all's, without stats. Throws RuntimeError
// naming a backend whose second forward gives other bits than its first: an emulated kernel must be deterministic.
std::vector<std::vector<std::vector<BackendRun>>> run_emulated(const std::vector<Backend*>& backends, const GateInputs& gate, int output_width,
                                                               const std::vector<CacheMode>& modes);

// The cell of a device's runs at one batch size: the fastest is the headline (best_of).
Cell cell_of(std::vector<BackendRun> runs);

// What the results say of the GPU's SM clock: `start` (after the gate, before any timing), `timed` (one reading after
// each GPU slice: min, median, max and the slowdown reasons of any) and `end`; the maximum from any reading. Invalid
// readings (no NVML) are left out; nullopt when none is valid.
std::optional<GpuClockReadings> clock_readings(const GpuClocks& start, const std::vector<GpuClocks>& timed, const GpuClocks& end);

// Energy per inference over back-to-back calls of `forward` (batch rows each): from one step of the counter (waited
// for up to `window_s`, forwards running) to its first step after at least `window_s` (waited for up to another
// `window_s`), so a counter that moves in steps gives whole steps over the time they took. `unavailable` says why
// when the counter is missing, fails or does not advance.
Energy measure_energy(EnergyCounter& counter, const std::function<void()>& forward, int batch, double window_s);

// Why `reference` (read from `file`) can't stand in for a column of this run: another model or precision, as
// "no reference for 20-64-33-5 at fp32 in FILE (it holds 784-512-512-10 at fp32)"; "" when it can.
std::string reference_misfit(const Results& reference, const Model& model, Precision precision, const std::string& file);

// The reference's cells of `device` at these batch sizes, as reference cells naming `file`, carrying their
// provenance (a measured cell: measured on which GPU or CPU, commit, date; a reference cell: its own) and `why`
// this run did not measure them. Emulated cells hold no time: they are left out.
void fill_reference(Table& table, const std::string& device, const std::vector<int>& batch_sizes, const Results& reference, const std::string& file,
                    const std::string& why);

// The reference file: read when it was given (so a bad one fails before anything is measured) or when a column
// needs it (`needed`); nullopt otherwise. Throws InputError.
std::optional<Results> read_reference(const RunConfig& config, bool needed);

// What run_benchmark works with besides the model and the settings.
struct RunContext {
  GpuBackends gpu;                   // what make_gpu_backends() gave
  EnergyCounter* energy = nullptr;    // the GPU's energy counter; null: GPU cells get none
  std::function<GpuClocks()> clocks;  // the GPU's clocks, read after the gate, after each GPU slice and at the end; empty: none
  std::optional<Results> reference;  // read_reference(); read here if a column needs it and it is missing
};

// The run's core: gates, measures and fills the table. Records notes, not_measured, machine (with the GPU's clocks
// from context.clocks: after the gate, after each GPU slice, at the end) and build. GPU backends
// on a CUDA emulator (context.gpu.emulator) are gated and run (run_emulated), never timed: their cells are emulated,
// without energy. Throws InputError (bad reference file, ...) or RuntimeError (a backend failed its check and
// nothing else can fill the column).
Results run_benchmark(const Model& model, const RunConfig& config, RunContext context);

// How many measured cells are faster than the floor `roof` gives them: each one proves the roof too low.
int cells_beating_floor(const Table& table, const MachineRoof& roof, const Model& model, Precision precision);
// Every measured cell's floor from `roof` (apply_floor: a cell faster than its floor lowers it, with a warning).
void apply_floors(Table& table, const MachineRoof& roof, const Model& model, Precision precision);

// The GPU side, passed in by the program (make_gpu_backends and measure_gpu_roof of kernels/), so this library
// never links the CUDA code it would otherwise depend on.
struct GpuSide {
  GpuBackends (*backends)(Precision, const std::vector<GpuIo>&) = nullptr;
  std::optional<GpuRoof> (*roof)() = nullptr;
};

// The CPU's probes (machine.hpp): the real ones, or a test's fakes.
struct CpuSide {
  CpuRoof (*roof)(const std::vector<int>& thread_counts) = measure_cpu_roof;
  LiveProbe (*live)() = measure_live_probe;
};

// Everything `mlpbench run` does, the Results complete: the GPU backends (RuntimeError for --device gpu without
// one); the reference, read before anything is measured; the live probe after the cells, and the machine's roof
// (cached, raised by the probe where it did better; a warning where the probe is well below it); the GPU's energy
// counter and clocks (NVML) for run_benchmark; warnings; prices; the run's settings and start time. Backends on a CUDA emulator get no energy
// meter, no clocks and no GPU roof: there is no GPU.
Results run(const Model& model, const RunConfig& config, const GpuSide& gpu, const CpuSide& cpu = {});

}  // namespace mlpbench
