// Measuring the machine's roof (FMA peak, read bandwidth per cache level, OpenMP costs), caching it, and
// the floor of a cell. See machine.hpp.
#include "mlpbench/machine.hpp"

#include <unistd.h>

#include <Eigen/Core>
#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <omp.h>
#include <sstream>

#include "mlpbench/build_info.hpp"
#include "mlpbench/defaults.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/files.hpp"
#include "mlpbench/sysinfo.hpp"
#include "mlpbench/threads.hpp"

namespace mlpbench {
namespace {

using Clock = std::chrono::steady_clock;
using Packet = Eigen::internal::packet_traits<float>::type;
constexpr int P = Eigen::internal::packet_traits<float>::size;
using AlignedVector = std::vector<float, Eigen::aligned_allocator<float>>;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Independent FMA chains of one packet each: latency (4-5 cycles) x pipes (2) needs 8-10 in flight; the
// register file must also hold the two constant operands, or the loop spills and the "peak" is too low.
constexpr int kFmaChains = fma_chains_for(EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS);
static_assert(kFmaChains + 2 <= EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS, "the FMA probe must not spill");

// `iters` x kFmaChains independent FMA chains. Returns a value the compiler must keep.
__attribute__((noinline)) float fma_chains(long iters) {
  using namespace Eigen::internal;
  Packet acc[kFmaChains];
  const Packet a = pset1<Packet>(0.999f), b = pset1<Packet>(0.001f);
  for (int i = 0; i < kFmaChains; ++i) acc[i] = pset1<Packet>(static_cast<float>(i));
  for (long it = 0; it < iters; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < kFmaChains; ++i) acc[i] = pmadd(a, acc[i], b);
  }
  Packet s = acc[0];
  for (int i = 1; i < kFmaChains; ++i) s = padd(s, acc[i]);
  return predux(s);
}

// Sums n floats with 8 independent packet accumulators: a pure read stream.
__attribute__((noinline)) float read_sum(const float* p, std::size_t n) {
  using namespace Eigen::internal;
  Packet a[8];
  for (auto& v : a) v = pset1<Packet>(0.0f);
  for (std::size_t i = 0; i + 8 * P <= n; i += 8 * P) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) a[j] = padd(a[j], pload<Packet>(p + i + j * P));
  }
  for (int j = 1; j < 8; ++j) a[0] = padd(a[0], a[j]);
  return predux(a[0]);
}

// The best of five tries of `run` (which returns units done per second).
template <class F>
double best_of_tries(F run) {
  double best = 0;
  for (int i = 0; i < 5; ++i) best = std::max(best, run());
  return best;
}

// How many timed tries a figure takes and the least each lasts: the roof's five of 40 ms (long enough to reach boost
// clocks), the live probe's three of 8 ms.
struct Tries {
  int count;
  double seconds;
};
constexpr Tries kRoofTries{5, 0.04}, kLiveTries{3, 0.008};

// The best rate (units per second) of `tries` calls of `work(n)` (n units) lasting tries.seconds each: the slowest
// (a clock still ramping, a neighbour's burst) are dropped. A shorter call only sizes n for the next (x8 at most, else to
// 1.25 x the length, so a machine a little faster than when sized still lasts it).
template <class F>
double best_rate(F work, long n, Tries tries) {
  double best = 0;
  for (int done = 0; done < tries.count;) {
    const auto t0 = Clock::now();
    work(n);
    const double s = seconds_since(t0);
    if (s >= tries.seconds) {
      best = std::max(best, n / s);
      ++done;
    } else {
      n = static_cast<long>(std::ceil(n * std::min(8.0, 1.25 * tries.seconds / s)));
    }
  }
  return best;
}

double fma_peak_per_core(int threads, Tries tries) {
  const double rate = best_rate(
      [&](long iters) {
        float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += fma_chains(iters);
        asm volatile("" : : "r"(sink));
      },
      1 << 16, tries);
  return rate * 2.0 * kFmaChains * P / 1e9;  // FLOPs of an iteration on each thread
}

// Read bandwidth (GB/s, all threads together) over a working set of `bytes` split across the threads.
double read_bandwidth(std::size_t bytes, int threads, Tries tries) {
  const std::size_t per_thread = std::max<std::size_t>(bytes / threads / sizeof(float) / (8 * P), 1) * 8 * P;
  std::vector<AlignedVector> buffers(threads);
#pragma omp parallel num_threads(threads)
  buffers[omp_get_thread_num()].assign(per_thread, 1.0f);  // first touch by the thread that reads it
  const double rate = best_rate(
      [&](long reps) {
        float sink = 0;
#pragma omp parallel num_threads(threads) reduction(+ : sink)
        {
          const AlignedVector& b = buffers[omp_get_thread_num()];
          for (long r = 0; r < reps; ++r) {
            asm volatile("" : : "r"(b.data()) : "memory");  // every pass really reads
            sink += read_sum(b.data(), b.size());
          }
        }
        asm volatile("" : : "r"(sink));
      },
      1, tries);
  return rate * static_cast<double>(per_thread) * sizeof(float) * threads / 1e9;
}

double fork_join_us(int threads) {
  return 1e6 / best_of_tries([&] {
    const int n = 20000;
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) {
#pragma omp parallel num_threads(threads)
      asm volatile("");
    }
    return n / seconds_since(t0);
  });
}

double barrier_us(int threads) {
  if (threads < 2) return 0;
  return 1e6 / best_of_tries([&] {
    const int n = 20000;
    const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads)
    for (int i = 0; i < n; ++i) {
#pragma omp barrier
    }
    return n / seconds_since(t0);
  });
}

// Size in bytes of the unified/data cache of `level` as Linux's sysfs reports it for CPU 0 (more
// trustworthy than sysconf, which some VMs scale by the number of sharing cores); 0 if unknown.
double cache_bytes(int level) {
  for (int i = 0; i < 8; ++i) {
    const std::string dir = "/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(i) + "/";
    std::ifstream lv(dir + "level"), ty(dir + "type"), sz(dir + "size");
    int l = 0;
    std::string type, size;
    if (!(lv >> l) || !(ty >> type) || !(sz >> size)) continue;
    if (l != level || type == "Instruction" || size.empty()) continue;
    double v = std::atof(size.c_str());
    if (size.back() == 'K') v *= 1024;
    if (size.back() == 'M') v *= 1024 * 1024;
    return v;
  }
  const long s = ::sysconf(level == 2 ? _SC_LEVEL2_CACHE_SIZE : _SC_LEVEL3_CACHE_SIZE);
  return s > 0 ? static_cast<double>(s) : 0;
}

double l2_bytes_per_core() {
  const double l2 = cache_bytes(2);
  return l2 > 0 ? l2 : 1 << 20;
}

std::filesystem::path cache_dir() {
  if (const char* d = std::getenv("MLPBENCH_CACHE_DIR")) return d;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::filesystem::path(x) / "mlpbench";
  if (const char* h = std::getenv("HOME"); h && *h) return std::filesystem::path(h) / ".cache" / "mlpbench";
  return {};
}

std::string file_key(std::string s) {
  for (char& c : s) c = std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : '-';
  return s;
}

double weight_bytes(const Model& m, double bytes_per_weight) {
  double params = 0;
  for (const Layer& l : m.layers) params += static_cast<double>(l.in) * l.out;
  double bias = 0;
  for (const Layer& l : m.layers) bias += l.out;
  return params * bytes_per_weight + bias * 4;
}

}  // namespace

double all_last_level_caches_bytes() {
  // Every CPU's caches in sysfs; an instance of the last level (the highest level seen) counted once, by the
  // CPUs that share it.
  namespace fs = std::filesystem;
  int top = 0;
  std::map<std::string, double> instances;  // shared_cpu_list -> bytes, at level `top`
  std::error_code ec;
  for (const auto& cpu : fs::directory_iterator("/sys/devices/system/cpu", ec)) {
    const std::string name = cpu.path().filename().string();
    if (name.rfind("cpu", 0) != 0 || name.size() < 4 || !std::isdigit(static_cast<unsigned char>(name[3]))) continue;
    for (int i = 0; i < 8; ++i) {
      const fs::path dir = cpu.path() / "cache" / ("index" + std::to_string(i));
      std::ifstream lv(dir / "level"), ty(dir / "type"), sz(dir / "size"), shared(dir / "shared_cpu_list");
      int level = 0;
      std::string type, size, cpus;
      if (!(lv >> level) || !(ty >> type) || !(sz >> size) || !(shared >> cpus) || type == "Instruction" || size.empty()) continue;
      double bytes = std::atof(size.c_str());
      if (size.back() == 'K') bytes *= 1024;
      if (size.back() == 'M') bytes *= 1024 * 1024;
      if (level > top) top = level, instances.clear();
      if (level == top) instances[cpus] = bytes;
    }
  }
  double total = 0;
  for (const auto& [cpus, bytes] : instances) total += bytes;
  if (total > 0) return total;
  const double l3 = cache_bytes(3);
  return l3 > 0 ? l3 : cache_bytes(2);
}

const CpuThreadsRoof* CpuRoof::find(int threads) const {
  for (const CpuThreadsRoof& t : by_threads) {
    if (t.threads == threads) return &t;
  }
  return nullptr;
}

CpuRoof measure_cpu_roof(const std::vector<int>& thread_counts) {
  CpuRoof r;
  r.model = cpu_model();
  r.cores = available_cores();
  const double l3 = cache_bytes(3);
  r.l2_bytes_per_core = l2_bytes_per_core();
  r.l3_bytes = l3 > 0 ? l3 : 32 << 20;
  std::vector<int> counts = thread_counts;  // and always 1 thread and every core
  counts.push_back(1);
  counts.push_back(r.cores);
  for (int t : normal_thread_counts(counts)) {
    CpuThreadsRoof m;
    m.threads = t;
    m.fma_gflops_per_core = fma_peak_per_core(t, kRoofTries);
    const int cores_used = std::min(t, r.cores);
    m.l2_gbs = read_bandwidth(static_cast<std::size_t>(0.5 * r.l2_bytes_per_core * cores_used), t, kRoofTries);
    m.l3_gbs = read_bandwidth(static_cast<std::size_t>(std::max(0.5 * r.l3_bytes, 2.0 * r.l2_bytes_per_core * cores_used)), t, kRoofTries);
    m.dram_gbs = read_bandwidth(static_cast<std::size_t>(4 * r.l3_bytes), t, kRoofTries);
    m.fork_join_us = fork_join_us(t);
    m.barrier_us = barrier_us(t);
    r.by_threads.push_back(m);
  }
  return r;
}

Json roof_to_json(const MachineRoof& roof) {
  Json j;
  j["schema"] = "mlpbench-machine/1";
  Json c;
  c["model"] = roof.cpu.model;
  c["cores"] = roof.cpu.cores;
  c["l2_bytes_per_core"] = roof.cpu.l2_bytes_per_core;
  c["l3_bytes"] = roof.cpu.l3_bytes;
  Json by = Json::array();
  for (const CpuThreadsRoof& t : roof.cpu.by_threads) {
    by.push_back({{"threads", t.threads},
                  {"fma_gflops_per_core", t.fma_gflops_per_core},
                  {"l2_gbs", t.l2_gbs},
                  {"l3_gbs", t.l3_gbs},
                  {"dram_gbs", t.dram_gbs},
                  {"fork_join_us", t.fork_join_us},
                  {"barrier_us", t.barrier_us}});
  }
  c["by_threads"] = std::move(by);
  j["cpu"] = std::move(c);
  if (roof.gpu) {
    const GpuRoof& g = *roof.gpu;
    j["gpu"] = {{"name", g.name},
                {"sms", g.sms},
                {"clock_ghz", g.clock_ghz},
                {"fp32_tflops", g.fp32_tflops},
                {"tf32_tflops", g.tf32_tflops},
                {"bf16_tflops", g.bf16_tflops},
                {"fp32_fma_tflops", g.fp32_fma_tflops},
                {"l2_bytes", g.l2_bytes},
                {"l2_gbs", g.l2_gbs},
                {"hbm_gbs", g.hbm_gbs},
                {"h2d_gbs", g.h2d_gbs},
                {"launch_us", g.launch_us},
                {"graph_us", g.graph_us}};
  } else {
    j["gpu"] = nullptr;
  }
  return j;
}

MachineRoof roof_from_json(const Json& j) {
  try {
    if (j.at("schema") != "mlpbench-machine/1") throw InputError("machine cache: unknown schema");
    MachineRoof r;
    const Json& c = j.at("cpu");
    r.cpu.model = c.at("model").get<std::string>();
    r.cpu.cores = c.at("cores").get<int>();
    r.cpu.l2_bytes_per_core = c.at("l2_bytes_per_core").get<double>();
    r.cpu.l3_bytes = c.at("l3_bytes").get<double>();
    for (const Json& t : c.at("by_threads")) {
      r.cpu.by_threads.push_back({t.at("threads").get<int>(), t.at("fma_gflops_per_core").get<double>(), t.at("l2_gbs").get<double>(),
                                  t.at("l3_gbs").get<double>(), t.at("dram_gbs").get<double>(), t.at("fork_join_us").get<double>(),
                                  t.at("barrier_us").get<double>()});
    }
    if (j.contains("gpu") && j["gpu"].is_object()) {
      const Json& g = j["gpu"];
      GpuRoof gr;
      gr.name = g.at("name").get<std::string>();
      gr.sms = g.at("sms").get<int>();
      gr.clock_ghz = g.at("clock_ghz").get<double>();
      gr.fp32_tflops = g.at("fp32_tflops").get<double>();
      gr.tf32_tflops = g.at("tf32_tflops").get<double>();
      gr.bf16_tflops = g.at("bf16_tflops").get<double>();
      gr.fp32_fma_tflops = g.at("fp32_fma_tflops").get<double>();  // a cache from before these were measured: measured anew
      gr.l2_bytes = g.at("l2_bytes").get<double>();
      gr.l2_gbs = g.at("l2_gbs").get<double>();
      gr.hbm_gbs = g.at("hbm_gbs").get<double>();
      gr.h2d_gbs = g.at("h2d_gbs").get<double>();
      gr.launch_us = g.at("launch_us").get<double>();
      gr.graph_us = g.at("graph_us").get<double>();
      r.gpu = gr;
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw InputError(std::string("machine cache: ") + e.what());
  }
}

MachineRoof best_roof(const MachineRoof& before, const MachineRoof& now) {
  const auto lowest = [](double x, double y) { return x > 0 && y > 0 ? std::min(x, y) : std::max(x, y); };  // 0: not measured
  MachineRoof r = now;
  for (const CpuThreadsRoof& b : before.cpu.by_threads) {
    const auto t = std::find_if(r.cpu.by_threads.begin(), r.cpu.by_threads.end(), [&](const CpuThreadsRoof& n) { return n.threads == b.threads; });
    if (t == r.cpu.by_threads.end()) {
      r.cpu.by_threads.push_back(b);
      continue;
    }
    t->fma_gflops_per_core = std::max(t->fma_gflops_per_core, b.fma_gflops_per_core);
    t->l2_gbs = std::max(t->l2_gbs, b.l2_gbs);
    t->l3_gbs = std::max(t->l3_gbs, b.l3_gbs);
    t->dram_gbs = std::max(t->dram_gbs, b.dram_gbs);
    t->fork_join_us = lowest(t->fork_join_us, b.fork_join_us);
    t->barrier_us = lowest(t->barrier_us, b.barrier_us);
  }
  std::sort(r.cpu.by_threads.begin(), r.cpu.by_threads.end(), [](const CpuThreadsRoof& x, const CpuThreadsRoof& y) { return x.threads < y.threads; });
  if (!r.gpu) {
    r.gpu = before.gpu;
  } else if (before.gpu) {
    GpuRoof& g = *r.gpu;
    const GpuRoof& b = *before.gpu;
    g.fp32_fma_tflops = std::max(g.fp32_fma_tflops, b.fp32_fma_tflops);
    g.l2_gbs = std::max(g.l2_gbs, b.l2_gbs);
    g.hbm_gbs = std::max(g.hbm_gbs, b.hbm_gbs);
    g.h2d_gbs = std::max(g.h2d_gbs, b.h2d_gbs);
    g.launch_us = lowest(g.launch_us, b.launch_us);
    g.graph_us = lowest(g.graph_us, b.graph_us);
  }
  return r;
}

LiveProbe measure_live_probe() {
  const auto t0 = Clock::now();
  LiveProbe p;
  p.fma_gflops_per_core = fma_peak_per_core(1, kLiveTries);
  p.l2_gbs = read_bandwidth(static_cast<std::size_t>(0.5 * l2_bytes_per_core()), 1, kLiveTries);  // as the roof's 1-thread L2
  p.ms = seconds_since(t0) * 1e3;
  return p;
}

Json live_probe_to_json(const LiveProbe& live) {
  return {{"threads", 1}, {"fma_gflops_per_core", live.fma_gflops_per_core}, {"l2_gbs", live.l2_gbs}, {"ms", live.ms}};
}

MachineRoof machine_roof(const std::vector<int>& thread_counts, const std::string& gpu, const RoofProbes& probes, bool refresh,
                         const LiveProbe* live, std::string* cache_file) {
  const std::vector<int> counts = normal_thread_counts(thread_counts);
  const std::string cpu = cpu_model();
  // The GPU's name is part of the key; without CUDA or a device there is none.
  const bool want_gpu = !gpu.empty() && probes.gpu != nullptr;
  const std::string gpu_name = want_gpu ? gpu : "nogpu";
  const std::filesystem::path dir = cache_dir();
  const std::filesystem::path file =
      dir.empty() ? std::filesystem::path()
                  : dir / ("machine-" + file_key(cpu + "-" + std::to_string(available_cores()) + "c-" + gpu_name + "-" + std::to_string(32 * P) +
                                                 "bit-" + kBuildType) +
                           ".json");  // the FMA peak depends on the build's vector width and optimization
  if (cache_file) *cache_file = file.string();

  std::optional<MachineRoof> cached;
  if (!file.empty()) {
    try {
      std::ifstream in(file);
      if (in) cached = roof_from_json(Json::parse(in));
    } catch (const std::exception&) {
      // A damaged cache is measured anew and rewritten.
    }
  }
  const bool complete = cached && (!want_gpu || cached->gpu) &&
                        std::all_of(counts.begin(), counts.end(), [&](int t) { return cached->cpu.find(t) != nullptr; });
  bool changed = refresh || !complete;
  MachineRoof r;
  if (changed) {
    MachineRoof now;
    now.cpu = probes.cpu(counts);
    if (want_gpu) now.gpu = probes.gpu();
    r = cached ? best_roof(*cached, now) : now;  // a lower measurement never lowers the cache
  } else {
    r = *cached;
  }
  for (CpuThreadsRoof& t : r.cpu.by_threads) {  // the live probe raises the 1-thread figures it beat
    if (!live || t.threads != 1) continue;
    changed = changed || live->fma_gflops_per_core > t.fma_gflops_per_core || live->l2_gbs > t.l2_gbs;
    t.fma_gflops_per_core = std::max(t.fma_gflops_per_core, live->fma_gflops_per_core);
    t.l2_gbs = std::max(t.l2_gbs, live->l2_gbs);
  }
  if (changed && !file.empty()) {
    try {
      write_text_atomic(file.string(), dump_json(roof_to_json(r)), /*force=*/true);
    } catch (const std::exception&) {
      if (cache_file) cache_file->clear();  // not cached; the run goes on with what it measured
    }
  }
  return r;
}

std::optional<Floor> cpu_floor(const CpuRoof& roof, int threads, const Model& model, int batch, double bytes_per_weight, CacheMode cache) {
  const CpuThreadsRoof* t = roof.find(threads);
  if (!t || t->fma_gflops_per_core <= 0) return std::nullopt;
  const double flops = model.flops_per_sample() * batch;
  const double compute_s = flops / (t->fma_gflops_per_core * 1e9 * threads);
  const double io = 4.0 * batch * (model.input_width() + model.output_width());
  const double bytes = weight_bytes(model, bytes_per_weight) + io;
  // At best each level holds what it can: the threads' L2s first, then L3, the rest from DRAM; each part
  // is read at its level's bandwidth. The bound named is the slowest level touched.
  // Cold: the caches were evicted, so everything comes from DRAM.
  const double l2 = cache == CacheMode::Cold ? 0 : roof.l2_bytes_per_core * std::min(threads, roof.cores);
  const double in_l2 = std::min(bytes, l2);
  const double in_l3 = cache == CacheMode::Cold ? 0 : std::min(bytes - in_l2, std::max(0.0, roof.l3_bytes - in_l2));
  const double in_dram = bytes - in_l2 - in_l3;
  const double memory_s = in_l2 / (t->l2_gbs * 1e9) + in_l3 / (t->l3_gbs * 1e9) + in_dram / (t->dram_gbs * 1e9);
  const std::string level = in_dram > 0 ? "DRAM" : in_l3 > 0 ? "L3" : "L2";
  const double overhead_s = (t->fork_join_us + (static_cast<double>(model.layers.size()) - 1) * t->barrier_us) * 1e-6;
  Floor f;
  f.ms = (std::max(compute_s, memory_s) + overhead_s) * 1e3;
  f.bound = compute_s >= memory_s ? "compute" : level;
  return f;
}

std::optional<Floor> gpu_floor(const GpuRoof& roof, Precision precision, const Model& model, int batch, CacheMode cache) {
  const double peak = precision == Precision::FP32   ? std::max(roof.fp32_tflops, roof.fp32_fma_tflops)
                      : precision == Precision::TF32 ? roof.tf32_tflops
                                                     : roof.bf16_tflops;
  if (peak <= 0 || roof.hbm_gbs <= 0 || roof.launch_us <= 0) return std::nullopt;
  const double compute_s = model.flops_per_sample() * batch / (peak * 1e12);
  // The weights from L2 when they fit (hot), else HBM; input and output cross the host link (each at best once).
  const double weights = weight_bytes(model, 4);
  const bool in_l2 = cache == CacheMode::Hot && weights <= roof.l2_bytes && roof.l2_gbs > 0;
  const double memory_s = weights / ((in_l2 ? roof.l2_gbs : roof.hbm_gbs) * 1e9);
  const double link_s = roof.h2d_gbs > 0 ? 4.0 * batch * (model.input_width() + model.output_width()) / (roof.h2d_gbs * 1e9) : 0;
  const double work_s = std::max({compute_s, memory_s, link_s});
  const double overhead_s = roof.launch_us * 1e-6;
  Floor f;
  f.ms = (work_s + overhead_s) * 1e3;
  f.bound = overhead_s >= work_s ? "launch" : work_s == compute_s ? "compute" : work_s == link_s ? "host link" : in_l2 ? "L2" : "HBM";
  return f;
}

void apply_floor(Cell& cell, const std::optional<Floor>& f) {
  if (!f) return;
  cell.floor_ms = f->ms;
  cell.floor_bound = f->bound;
  if (cell.median_ms() < f->ms) {
    std::ostringstream w;
    w.precision(4);
    w << "faster than its floor of " << f->ms << " ms (" << f->bound << "): the machine's roof under-estimates this machine "
      << "(mlpbench machine --refresh measures it again); the floor is taken as the cell's median";
    cell.warnings.push_back(w.str());
    cell.floor_ms = cell.median_ms();
    cell.floor_bound = f->bound + ", lowered to the cell's median";
  }
}

double drift_probe_ms() {
  // Fixed work, the same on every machine of this build: a sample is 2.5 MFLOP of FMA chains, then 2.5 MiB read
  // from a 256 KiB buffer (L2), on the calling thread. Its time moves when the machine's speed does.
  static const AlignedVector buffer(256 << 10 >> 2, 1.0f);
  const long iters = static_cast<long>(2.5e6 / (2.0 * kFmaChains * P));
  constexpr int kSamples = 200, kReads = 10;
  std::vector<double> ms(kSamples);
  float sink = 0;
  for (double& m : ms) {
    const auto t0 = Clock::now();
    sink += fma_chains(iters);
    for (int r = 0; r < kReads; ++r) {
      asm volatile("" : : "r"(buffer.data()) : "memory");
      sink += read_sum(buffer.data(), buffer.size());
    }
    m = seconds_since(t0) * 1e3;
  }
  asm volatile("" : : "r"(sink));
  std::nth_element(ms.begin(), ms.begin() + kSamples / 2, ms.end());
  return ms[kSamples / 2];
}

std::string roof_text(const MachineRoof& roof) {
  std::ostringstream out;
  out.precision(4);
  const CpuRoof& c = roof.cpu;
  out << "CPU: " << c.model << ", " << c.cores << " cores, L2 " << c.l2_bytes_per_core / (1 << 20) << " MiB/core, L3 " << c.l3_bytes / (1 << 20)
      << " MiB\n";
  for (const CpuThreadsRoof& t : c.by_threads) {
    out << "  threads " << t.threads << ": fp32 FMA peak " << t.fma_gflops_per_core << " GFLOP/s per core (" << t.fma_gflops_per_core * t.threads
        << " total); read " << t.l2_gbs << " GB/s (L2), " << t.l3_gbs << " GB/s (L3), " << t.dram_gbs << " GB/s (DRAM); fork/join "
        << t.fork_join_us << " us, barrier " << t.barrier_us << " us\n";
  }
  if (roof.gpu) {
    const GpuRoof& g = *roof.gpu;
    out << "GPU: " << g.name << ", " << g.sms << " SMs at " << g.clock_ghz << " GHz: fp32 " << g.fp32_tflops << " (measured FMA "
        << g.fp32_fma_tflops << "), tf32 " << g.tf32_tflops << ", bf16 " << g.bf16_tflops << " TFLOP/s dense (0: unknown architecture); L2 "
        << g.l2_bytes / (1 << 20) << " MiB read at " << g.l2_gbs << " GB/s, HBM " << g.hbm_gbs << " GB/s, host to device " << g.h2d_gbs
        << " GB/s; graph of one empty kernel, launch + sync " << g.launch_us << " us; with a 4-byte copy each way " << g.graph_us << " us\n";
  } else {
    out << "GPU: none measured\n";
  }
  return out.str();
}

}  // namespace mlpbench
