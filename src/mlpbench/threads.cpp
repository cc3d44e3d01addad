// See threads.hpp.
#include "mlpbench/threads.hpp"

#include <sched.h>

#include <cstdlib>
#include <omp.h>

#include "mlpbench/backend.hpp"
#include "mlpbench/defaults.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/machine.hpp"

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

bool pin_omp_threads(int threads, int first_cpu) {
  if (std::getenv("OMP_PROC_BIND") || std::getenv("OMP_PLACES")) return false;
  const std::vector<int>& cpus = process_cpus();
  if (first_cpu < 0 || threads < 1 || first_cpu + threads > static_cast<int>(cpus.size())) return false;
  bool ok = true;
#pragma omp parallel num_threads(threads) reduction(&& : ok)
  {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpus[static_cast<std::size_t>(first_cpu + omp_get_thread_num())], &one);
    ok = sched_setaffinity(0, sizeof one, &one) == 0;
  }
  return ok;
}

OmpBackend::OmpBackend(int threads) : threads_(resolve_threads(threads)) {}

void OmpBackend::prepare_threads(const Model& model, int max_batch) {
  if (max_batch < 1) throw InputError("prepare: max_batch must be >= 1");
  max_batch_ = max_batch;
  layers_ = static_cast<int>(model.layers.size());
  for (auto& b : buffers_) b.assign(static_cast<std::size_t>(max_batch) * model.max_width(), 0.0f);
  pinned_ = pin_omp_threads(threads_);
}

// Twice every last-level cache of the machine together (64 MiB where the sizes are unknown), so that whichever
// cores the team runs on, each of their caches sees at least twice its size go by (with the team's threads spread
// over the caches, as pinning places them).
std::vector<float>& cpu_eviction_buffer() {
  static std::vector<float> buffer = [] {
    const double llc = all_last_level_caches_bytes();
    return std::vector<float>(static_cast<std::size_t>((llc > 0 ? 2 * llc : 64.0 * (1 << 20)) / sizeof(float)), 1.0f);
  }();
  return buffer;
}

void OmpBackend::evict_caches() {
  std::vector<float>& buffer = cpu_eviction_buffer();
  float* p = buffer.data();
  const std::size_t n = buffer.size();
#pragma omp parallel num_threads(threads_)
  {
    // Each thread its share, one float per 64-byte line. Read-modify-write: ordinary stores that allocate lines
    // (a memset may stream past the caches).
    const std::size_t t = static_cast<std::size_t>(omp_get_thread_num()), nt = static_cast<std::size_t>(omp_get_num_threads());
    for (std::size_t i = n * t / nt; i < n * (t + 1) / nt; i += 16) p[i] += 1.0f;
  }
}

void OmpBackend::forward(const float* x, float* y, int batch) {
  if (batch < 1 || batch > max_batch_) {
    throw InputError(name() + ": batch " + std::to_string(batch) + " outside [1, " + std::to_string(max_batch_) + "]");
  }
  const int count = layers_;
#pragma omp parallel num_threads(threads_)
  {
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();  // nt may be fewer than asked (OMP_THREAD_LIMIT)
    for (int li = 0; li < count; ++li) {
      const float* in = li == 0 ? x : buffers_[(li - 1) % 2].data();
      float* out = li == count - 1 ? y : buffers_[li % 2].data();
      run_layer(li, in, out, batch, li < count - 1, t, nt);
      if (li < count - 1) {
#pragma omp barrier
      }
    }
  }
}

}  // namespace mlpbench
