// See threads.hpp.
#include "mlpbench/threads.hpp"

#include <sched.h>

#include <cstdlib>
#include <omp.h>

#include "mlpbench/backend.hpp"

namespace mlpbench {
namespace {

std::vector<int> read_affinity() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) {
    for (int c = 0; c < omp_get_num_procs(); ++c) cpus.push_back(c);
  }
  return cpus;
}

// Read during static initialization, before main() and so before any thread is pinned.
const std::vector<int> g_process_cpus = read_affinity();

}  // namespace

const std::vector<int>& process_cpus() { return g_process_cpus; }

int available_cores() { return static_cast<int>(g_process_cpus.size()); }

bool pin_omp_threads(int threads) {
  if (std::getenv("OMP_PROC_BIND") || std::getenv("OMP_PLACES")) return false;
  const std::vector<int>& cpus = process_cpus();
  if (threads > static_cast<int>(cpus.size())) return false;
  bool ok = true;
#pragma omp parallel num_threads(threads) reduction(&& : ok)
  {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[omp_get_thread_num()], &one);
    ok = sched_setaffinity(0, sizeof one, &one) == 0;
  }
  return ok;
}

}  // namespace mlpbench
