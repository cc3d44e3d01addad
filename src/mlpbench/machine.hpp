// What this machine can do at best, measured once and cached (`mlpbench machine`), and the floor of a cell:
// the least time a forward pass could take here.
//
//   floor = max(FLOPs / peak, bytes / bandwidth of the level the weights live in) + unavoidable overheads
//
// CPU: peak = measured per-core FMA peak x threads; the weights (+ input and output) are read at best from
// the threads' L2s as far as they hold them, the rest from L3, what exceeds L3 from DRAM; overheads = one
// OpenMP fork/join + a barrier between layers. GPU: peak for the precision from the device's SM count and clock (fp32:
// or the measured FMA peak, whichever is higher); the weights read from L2 if they fit it, else HBM; input and output
// across the host link (all measured); overhead = a measured launch + sync of a graph holding one empty kernel.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mlpbench/backend.hpp"
#include "mlpbench/results.hpp"

namespace mlpbench {

// Independent FMA chains the peak probe keeps in flight for a vector register file of this many registers:
// 3/4 of them (AVX2's 16 -> 12, AVX-512's 32 -> 24), enough for latency x pipes and never spilling (the
// probe's constants take 2 more).
constexpr int fma_chains_for(int vector_registers) { return vector_registers * 3 / 4; }

// Measured with a given number of threads.
struct CpuThreadsRoof {
  int threads = 0;
  double fma_gflops_per_core = 0;  // fp32 FMA peak per core (fma_chains_for(the build's registers) chains of packets)
  double l2_gbs = 0;               // read bandwidth, all `threads` together, working set within their L2
  double l3_gbs = 0;               // within L3
  double dram_gbs = 0;             // 4x L3
  double fork_join_us = 0;         // an empty OpenMP parallel region
  double barrier_us = 0;           // one OpenMP barrier
};

struct CpuRoof {
  std::string model;
  int cores = 0;
  double l2_bytes_per_core = 0;
  double l3_bytes = 0;
  std::vector<CpuThreadsRoof> by_threads;  // 1 and all cores (and any count asked for)
  const CpuThreadsRoof* find(int threads) const;
};

struct GpuRoof {
  std::string name;
  int sms = 0;
  double clock_ghz = 0;
  double fp32_tflops = 0, tf32_tflops = 0, bf16_tflops = 0;  // dense peaks from SMs x clock x per-SM rate; 0: unknown arch
  double fp32_fma_tflops = 0;  // measured: independent FMA chains on every SM (the floor uses the larger fp32 peak)
  double l2_bytes = 0;
  double l2_gbs = 0;     // measured: read within L2
  double hbm_gbs = 0;    // measured: read of 4x L2
  double h2d_gbs = 0;    // measured: a 64 MiB copy from pinned host memory (the host link)
  double launch_us = 0;  // measured: launch + sync of a graph holding one empty kernel (the least any forward costs)
  double graph_us = 0;   // measured: launch + sync of a graph with a 4-byte H2D and D2H copy (copy latency included)
};

struct MachineRoof {
  CpuRoof cpu;
  std::optional<GpuRoof> gpu;
};

// The bytes of every last-level cache instance on the machine together (each L3 of a multi-CCX or multi-socket
// machine once; L2 where there is no L3), from sysfs; CPU 0's L3 (else L2) when sysfs doesn't say; 0 when unknown.
double all_last_level_caches_bytes();

// CPU side, measured now (about a second per thread count).
CpuRoof measure_cpu_roof(const std::vector<int>& thread_counts);

// GPU side, measured now: defined in kernels/ (nullopt without CUDA or a device).
std::optional<GpuRoof> measure_gpu_roof();

// A run's live probe, taken right after its cells: the 1-thread FMA peak and L2 read of the roof, each the best of
// three tries of 8 ms (under 100 ms in all), so a run sees whether the machine is as fast now as its roof says.
struct LiveProbe {
  double fma_gflops_per_core = 0;
  double l2_gbs = 0;
  double ms = 0;  // how long the probe took
};
LiveProbe measure_live_probe();
Json live_probe_to_json(const LiveProbe& live);

// The best of two roofs of one machine, figure by figure: the higher rate (FMA peak, read and copy bandwidth), the
// lower cost (fork/join, barrier, launch); what isn't measured (cores, cache sizes, names, spec peaks) from `now`;
// a thread count either holds, kept.
MachineRoof best_roof(const MachineRoof& before, const MachineRoof& now);

// What machine_roof measures with: the real probes, or a test's fakes.
struct RoofProbes {
  CpuRoof (*cpu)(const std::vector<int>& thread_counts) = measure_cpu_roof;
  std::optional<GpuRoof> (*gpu)() = nullptr;  // measure_gpu_roof (passed in, so this library never links the CUDA side)
};

// From the cache (keyed by CPU model, cores and GPU name) when it has every thread count asked for, else
// measured. Cache: $MLPBENCH_CACHE_DIR, else $XDG_CACHE_HOME/mlpbench, else ~/.cache/mlpbench. `refresh` measures
// anew. The cache keeps the best ever measured here (best_roof): a measurement, or a `live` probe's 1-thread figures,
// raises a figure and never lowers it. A cache that can't be read or written is measured around.
// gpu_name: the device's name, "" for none (then the GPU is not measured, nor without probes.gpu).
MachineRoof machine_roof(const std::vector<int>& thread_counts, const std::string& gpu_name, const RoofProbes& probes, bool refresh,
                         const LiveProbe* live = nullptr, std::string* cache_file = nullptr);

Json roof_to_json(const MachineRoof& roof);
MachineRoof roof_from_json(const Json& j);  // throws InputError

struct Floor {
  double ms = 0;
  std::string bound;  // "compute", "L2", "L3", "DRAM", "HBM", "host link", "launch": what the floor is set by
};

// The floor of one forward of `model` at `batch` rows. CPU: with `threads` threads (fp32 weights, or
// bytes_per_weight = 2 for bf16). GPU: at `precision`. nullopt when the roof lacks what it needs.
// A cold forward (CacheMode::Cold: the caches evicted first) reads every byte from DRAM (CPU) or HBM (GPU).
std::optional<Floor> cpu_floor(const CpuRoof& roof, int threads, const Model& model, int batch, double bytes_per_weight = 4,
                               CacheMode cache = CacheMode::Hot);
std::optional<Floor> gpu_floor(const GpuRoof& roof, Precision precision, const Model& model, int batch, CacheMode cache = CacheMode::Hot);

// Gives a measured cell its floor. A cell faster than its floor proves the roof wrong (it under-estimates this
// machine): the floor is lowered to the cell's median, with a warning in the cell, so efficiency is never
// above 100%. Nothing without a floor.
void apply_floor(Cell& cell, const std::optional<Floor>& floor);

// The drift probe run after each measurement round, measured as a cell is: the median of 200 short samples (each
// 2.5 MFLOP of FMA chains and 2.5 MiB read from an L2-sized buffer, tens of us; ~10 ms in all) on the calling
// thread, in ms. It tracks the machine's speed through a run, and, as a cell's round median, sidesteps another
// process's time slices (DriftProbe version 2).
double drift_probe_ms();

// A text summary for `mlpbench machine`.
std::string roof_text(const MachineRoof& roof);

}  // namespace mlpbench
