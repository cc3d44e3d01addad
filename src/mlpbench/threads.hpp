// CPU thread placement shared by the CPU backends: the cores this process may use (read once, at start-up,
// before any thread is pinned) and pinning OpenMP thread t to the t-th of them.
#pragma once

#include <vector>

namespace mlpbench {

// The CPUs in this process's affinity mask when it started.
const std::vector<int>& process_cpus();

// Pins OpenMP thread t of a `threads`-wide team to process_cpus()[t], unless the user chose a binding
// (OMP_PROC_BIND or OMP_PLACES set) or asked for more threads than CPUs. Returns whether it pinned.
bool pin_omp_threads(int threads);

}  // namespace mlpbench
