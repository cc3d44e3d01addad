// The nested table {"CPU": {batch: cell}, "GPU": {...}}: each cell's number and where it came from
// (measured here, with its statistics, or taken from a reference file), and the per-batch verdicts.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlpbench/measure.hpp"

namespace mlpbench {

// Milliseconds (or seconds) with 4 significant digits, never an exponent, no trailing zeros: 400, 0.0843, 12.35.
std::string format_ms(double ms);

// Rows of text as columns, each as wide as its widest entry, separated by `gap`: right[c] right-aligns column c
// (numbers), else it is left-aligned; no line ends in a space.
std::string aligned_columns(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right, const std::string& gap = " ");

// Emulated: run on a CPU emulator of our CUDA code (a test build, GpuBackends::emulator): checked against the CPU and
// run, never timed; it holds no time and decides nothing.
enum class Source { Measured, Reference, Emulated };
inline const char* source_name(Source s) { return s == Source::Measured ? "measured" : s == Source::Reference ? "reference" : "emulated"; }

// Whether a forward finds its weights in the caches: hot, back to back as a benchmark runs them; cold, after the
// caches were evicted (Backend::evict_caches), as a model served between other work meets them.
enum class CacheMode { Hot, Cold };
inline const char* cache_name(CacheMode c) { return c == CacheMode::Hot ? "hot" : "cold"; }
// run --cache: "hot" -> {Hot}, "cold" -> {Cold}, "both" -> {Hot, Cold} (the first fills the headline table).
std::vector<CacheMode> parse_cache_modes(const std::string& s);

// Where a GPU forward's time goes: medians of each phase alone, timed by device events.
struct DeviceSplit {
  double h2d_ms = 0;      // input copy, pinned host -> device
  double compute_ms = 0;  // every layer: the device-only time
  double d2h_ms = 0;      // output copy, device -> pinned host
};

// The GPU's energy over a window of back-to-back forwards of a cell's headline backend, from NVML's total
// energy counter (the whole board, idle power included): what one inference costs at that rate.
struct Energy {
  double joules_per_inference = 0;  // joules / (forwards x batch)
  double watts = 0;                 // average board power over the window
  double window_s = 0;
  std::string unavailable;          // non-empty: why there is no figure (no NVML, counter not supported, ...)
};

// One backend's measurement of a cell: the cell keeps every backend's, and its headline is the fastest.
struct BackendRun {
  std::string backend;
  std::string config;
  std::string io;   // GPU: "copy" or "zero-copy" (Backend::io); "" for the CPU
  int threads = 0;  // CPU threads it ran on
  double bytes_per_weight = 4;
  Stats stats;
  std::optional<DeviceSplit> split;  // hot runs of a backend with device timers
  CacheMode cache = CacheMode::Hot;
};

// Where a reference cell's number comes from: measured on another machine or in another run (which, when), or
// an illustrative value (results/reference.json as shipped).
struct Provenance {
  std::string kind = "illustrative";  // "measured" or "illustrative"
  std::string machine;                // measured: the GPU's or CPU's name
  std::string commit;                 // measured: the build's git commit
  std::string date;                   // measured: when the run started (UTC)
};

struct Cell {
  Source source = Source::Measured;
  std::string backend;         // the backend that ran (or that the reference file names)
  std::string config;          // how it ran, e.g. "threads=2" (measured)
  std::string io;              // GPU (measured): "copy" or "zero-copy", as the headline run
  CacheMode cache = CacheMode::Hot;  // measured: hot or cold (files from before: hot)
  int threads = 0;             // CPU threads of the headline run (measured)
  double bytes_per_weight = 4; // as the headline run streams its weights
  Stats stats;                 // measured: every field; reference: median_ms only
  std::string reference_file;  // reference: the file the number came from
  Provenance provenance;       // reference: measured elsewhere or illustrative
  std::string why;             // reference: why this run did not measure the cell; emulated: why it holds no time
  std::string emulator;        // emulated: the CUDA emulator it ran on (GpuBackends::emulator)
  std::optional<DeviceSplit> split;  // measured on a GPU: the headline backend's phases
  std::vector<BackendRun> runs;      // measured: every backend timed for this cell, headline included; emulated: every
                                     // backend that ran (backend, config, io; no stats)
  double floor_ms = 0;               // measured: the least time this forward could take here (machine.hpp); 0: unknown
  std::string floor_bound;           // what sets the floor: compute, L2, L3, DRAM, HBM, host link, launch
  std::optional<Energy> energy;      // measured on a GPU: the headline backend's energy per inference, or why not
  std::vector<std::string> warnings; // measured: what makes this number less trustworthy (warnings.hpp)
  double efficiency() const { return floor_ms > 0 && stats.median_ms > 0 ? floor_ms / stats.median_ms : 0; }

  double median_ms() const { return stats.median_ms; }
};

// The cell of the fastest run (smallest median; the first on a tie). `runs` must not be empty.
Cell best_of(std::vector<BackendRun> runs);

// "the GPU cell ran on the CUDA emulator (<emulator>): checked against the CPU, not timed": an emulated cell's why.
std::string emulated_why(const std::string& emulator);
// The emulated cell of the backends that ran on `emulator` (no stats): the first is its backend. `runs` must not be empty.
Cell emulated_cell(std::vector<BackendRun> runs, const std::string& emulator);

inline const char* kDevices[] = {"CPU", "GPU"};

struct Table {
  std::vector<int> batch_sizes;                             // ascending, unique
  std::map<std::string, std::map<int, Cell>> cells;         // device -> batch -> cell

  const Cell* find(const std::string& device, int batch) const;
  void set(const std::string& device, int batch, Cell cell);
};

// Whether the table's measured cells were timed cold (--cache cold: the headline table itself is cold; a
// results file keeps one cache mode per table).
bool is_cold(const Table& table);

// Whether a cell may take part in a verdict (faster, cheaper, by how much, crossover): measured here, or measured
// elsewhere and promoted with its provenance (`mlpbench reference --from`). Illustrative values are shown, labelled
// where they stand, and decide nothing; emulated cells hold no time at all.
bool is_measurement(const Cell& cell);

// Why there is no verdict at this batch size ("" when there is one): a missing cell, an illustrative one, named
// with the file it came from, e.g. "the GPU time is an illustrative value from results/reference.json, not a
// measurement", or an emulated one, named with its emulator.
std::string why_no_verdict(const Table& table, int batch);

// Where a device's column comes from: "measured", "reference", "emulated", "mixed" or "none".
std::string column_source(const Table& table, const std::string& device);

// "CPU" or "GPU" by the smaller median at this batch size; nullopt when a cell is missing or is not a measurement
// (why_no_verdict says which). A tie (equal medians) goes to the CPU: no need to buy a GPU for no gain.
std::optional<std::string> faster_at(const Table& table, int batch);

// Where the GPU overtakes the CPU: the smallest batch size from which the GPU stays faster, interpolated on
// log-log axes between the last batch size where the CPU is faster and the first where the GPU is (and
// stays), rounded up to a whole batch, over the batch sizes where both cells are measurements (is_measurement).
// No batch (and why) when the lines never cross, cross more than once, or fewer than three batch sizes have both
// cells measured (too few points to tell; the why names the missing, the illustrative and the emulated cells).
struct Crossover {
  std::optional<int> batch;
  double exact = 0;   // the interpolated point, before rounding up
  std::string how;    // with batch: how it was found; without: why there is none
};
Crossover crossover(const Table& table);

// Hourly prices of the two machines, for the cost of a million inferences.
struct Prices {
  double cpu_usd_per_hour = 0;
  double gpu_usd_per_hour = 0;
  bool given() const { return cpu_usd_per_hour > 0 && gpu_usd_per_hour > 0; }
  double for_device(const std::string& device) const { return device == "GPU" ? gpu_usd_per_hour : cpu_usd_per_hour; }
};

// USD per million inferences on a machine at `usd_per_hour` when one forward of `batch` rows takes
// `latency_ms`: price / (3600 * batch / latency_s) * 1e6.
double usd_per_million(double usd_per_hour, int batch, double latency_ms);

// "CPU" or "GPU" by the smaller cost per million inferences at this batch size; nullopt without prices or
// without both cells measured (as faster_at). A tie goes to the CPU.
std::optional<std::string> cheaper_at(const Table& table, int batch, const Prices& prices);

}  // namespace mlpbench
