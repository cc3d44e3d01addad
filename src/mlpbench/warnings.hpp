// Measurement warnings, as nvbench, trtexec and Google Benchmark give them: printed after the table and
// stored in the results JSON, each where it belongs (a cell's, or the run's).
//   cell: cv above 2%; clock reads above 0.1% of a sample; not converged; slower than at the next larger batch
//         size beyond both medians' 95% intervals;
//   run:  CPU frequency governor not "performance" (where Linux shows it); more threads than cores; the drift
//         probe moving by more than 3% over the rounds; the live probe more than 15% below the cached roof; on a
//         GPU, the SM clock read while timing (machine.gpu_clocks_mhz.timed) below 75% of its maximum at the median,
//         or a slowdown reason seen then. The idle readings before and after are recorded, not judged.
#pragma once

#include <string>
#include <vector>

#include "mlpbench/machine.hpp"
#include "mlpbench/results.hpp"

namespace mlpbench {

inline constexpr double kMaxCv = 0.02;              // trtexec warns above 1%, torch.utils.benchmark above 10%
inline constexpr double kMaxTimerShare = 0.001;     // clock reads per sample / sample time
inline constexpr double kMaxDriftSpread = 0.03;     // (slowest - fastest) / median of the drift probe's rounds
inline constexpr double kMaxLiveShortfall = 0.15;   // the live probe below the roof's 1-thread figures
inline constexpr double kMinGpuClockShare = 0.75;   // nvbench warns below 75% of the default clock

// The CPU frequency governor of cpu0 ("" where Linux doesn't show it).
std::string cpu_governor();

// The run's warning when its live probe is more than kMaxLiveShortfall below the roof's 1-thread FMA peak or L2
// read, naming both figures of each; "" otherwise (or where the roof has no 1-thread figures).
std::string live_probe_warning(const LiveProbe& live, const CpuRoof& roof);

// Adds the warnings to `results` (cells' and the run's) and returns them as printable lines.
// thread_counts: as asked (0 = all cores); clock_read_ns: the cost of one clock read (measure.hpp).
std::vector<std::string> add_warnings(Results& results, const std::vector<int>& thread_counts, double clock_read_ns);

}  // namespace mlpbench
