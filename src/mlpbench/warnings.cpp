// See warnings.hpp.
#include "mlpbench/warnings.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>

#include "mlpbench/backend.hpp"
#include "mlpbench/threads.hpp"

namespace mlpbench {
namespace {

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", 100 * share);
  return buf;
}

std::string ms(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

}  // namespace

std::string cpu_governor() {
  std::ifstream in("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor");
  std::string g;
  in >> g;
  return g;
}

namespace {

// The warnings of every measured cell of `table`, added to the cell and, with where it is, to `lines`.
void cell_warnings(Table& table, double clock_read_ns, bool quick, std::vector<std::string>& lines) {
  for (auto& [dev, per_batch] : table.cells) {
    for (auto it = per_batch.begin(); it != per_batch.end(); ++it) {
      Cell& c = it->second;
      if (c.source != Source::Measured) continue;
      const int b = it->first;
      const std::string where = dev + " batch " + std::to_string(b) + (c.cache == CacheMode::Cold ? " cold" : "") + ": ";
      if (c.stats.cv > kMaxCv) {
        c.warnings.push_back("cv " + percent(c.stats.cv) + " is above " + percent(kMaxCv) +
                             ": other work on the machine or a changing clock; an idle machine with a fixed CPU clock gives steadier numbers");
      }
      // Two clock reads per sample, against the sample's length.
      const double sample_ns = c.stats.median_ms * 1e6 * std::max(1, c.stats.passes_per_sample);
      if (clock_read_ns > 0 && sample_ns > 0 && 2 * clock_read_ns / sample_ns > kMaxTimerShare) {
        c.warnings.push_back("clock reads take " + percent(2 * clock_read_ns / sample_ns) + " of a sample, above " + percent(kMaxTimerShare));
      }
      if (!c.stats.converged) {
        char known[32];
        std::snprintf(known, sizeof known, "%.3g%%", 100 * c.stats.ci_rel);  // 0.513%, never a rounded 0.5% against a 0.5% target
        const std::string target = c.stats.target_rel_ci > 0 ? ", the target +-" + ms(100 * c.stats.target_rel_ci) + "%" : "";
        c.warnings.push_back("did not converge: its median is known to +-" + std::string(known) + " (95% interval)" + target + ", after " +
                             std::to_string(c.stats.samples) + " samples; " +
                             (quick ? "a run without --quick or a quieter machine gives a firmer number" : "a quieter machine gives a firmer number"));
      }
      if (c.stats.min_samples > 0 && c.stats.samples < c.stats.min_samples) {
        c.warnings.push_back("its median rests on " + std::to_string(c.stats.samples) + " samples, fewer than the minimum of " +
                             std::to_string(c.stats.min_samples) + ": a forward takes " + ms(c.median_ms()) +
                             " ms and a cell stops at its time cap; fewer batch sizes or a smaller model give a firmer number");
      }
      // Slower than a larger batch beyond both medians' intervals: more rows never take less time.
      const auto next = std::find_if(std::next(it), per_batch.end(), [](const auto& kv) { return kv.second.source == Source::Measured; });
      if (next != per_batch.end()) {
        const Cell& n = next->second;
        if (c.median_ms() * (1 - c.stats.ci_rel) > n.median_ms() * (1 + n.stats.ci_rel)) {
          c.warnings.push_back("slower than at batch " + std::to_string(next->first) + " (" + ms(c.median_ms()) + " vs " + ms(n.median_ms()) +
                               " ms) beyond both medians' 95% intervals: the machine changed speed between them, or the backend is "
                               "mis-tuned at this size");
        }
      }
      for (const std::string& w : c.warnings) lines.push_back(where + w);
    }
  }
}

}  // namespace

std::string live_probe_warning(const LiveProbe& live, const CpuRoof& roof) {
  const CpuThreadsRoof* one = roof.find(1);
  if (!one) return "";
  std::string low;
  const auto check = [&](const char* what, double now, double best, const char* unit) {
    if (now >= (1 - kMaxLiveShortfall) * best) return;
    low += std::string(low.empty() ? "" : ", ") + what + " " + ms(now) + " against " + ms(best) + " " + unit + " (" + percent(1 - now / best) +
           " below)";
  };
  check("FMA peak", live.fma_gflops_per_core, one->fma_gflops_per_core, "GFLOP/s per core");
  check("L2 read", live.l2_gbs, one->l2_gbs, "GB/s");
  if (low.empty()) return "";
  return "the live probe on 1 thread is below the cached roof (" + low + "): the machine is loaded now; this run's numbers are suspect";
}

namespace {

// The GPU's SM clock while the cells were timed. A reading before the rounds finds the GPU idle (an H200 at 345 MHz),
// so only the readings taken right after GPU slices are judged.
void gpu_clock_warnings(const MachineInfo& m, std::vector<std::string>& warnings) {
  if (!m.gpu_clocks_mhz || !m.gpu_clocks_mhz->timed) return;
  const GpuClockReadings& c = *m.gpu_clocks_mhz;
  const GpuClockSamples& t = *c.timed;
  if (t.readings > 0 && c.max > 0 && t.median < kMinGpuClockShare * c.max) {
    warnings.push_back("GPU SM clock while timing was " + std::to_string(t.median) + " MHz (the median of " + std::to_string(t.readings) +
                       " readings, lowest " + std::to_string(t.min) + "), below " + percent(kMinGpuClockShare) + " of its " + std::to_string(c.max) +
                       " MHz maximum: the GPU cells were timed at a low clock");
  }
  if (t.reasons && !t.reasons->empty()) warnings.push_back("GPU clock held back while timing: " + *t.reasons);
}

}  // namespace

std::vector<std::string> add_warnings(Results& r, const std::vector<int>& thread_counts, double clock_read_ns) {
  std::vector<std::string> lines;
  for (Table* t : tables_of(r)) cell_warnings(*t, clock_read_ns, r.run.quick.value_or(false), lines);
  if (r.run.drift && r.run.drift->spread > kMaxDriftSpread) {
    r.warnings.push_back("the drift probe moved by " + percent(r.run.drift->spread) +
                         " over the rounds (from its median " + ms(r.run.drift->median_ms) +
                         " ms): the machine changed speed while measuring; the rounds spread that over every cell, and compare "
                         "corrects CPU cells for it");
  }
  const std::string governor = cpu_governor();
  if (!governor.empty() && governor != "performance") {
    r.warnings.push_back("CPU frequency governor is '" + governor + "', not 'performance': clocks may change during the run");
  }
  for (int t : thread_counts) {
    if (t > available_cores()) {
      r.warnings.push_back(std::to_string(t) + " threads on " + std::to_string(available_cores()) + " cores: threads share cores, timings suffer");
    }
  }
  gpu_clock_warnings(r.machine, r.warnings);
  for (const std::string& w : r.warnings) lines.push_back(w);
  return lines;
}

}  // namespace mlpbench
