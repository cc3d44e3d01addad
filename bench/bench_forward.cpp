// BM_forward/<backend>/<batch>[/cpu_threads:<n>] (eigen, eigen-omp-packed[, eigen-omp-packed-bf16] at each of `mlpbench
// run`'s default thread counts: 1, every core and the powers of two between, or MLPBENCH_THREADS=1,2,...; then every
// GPU backend): one forward pass of the default MLP (784-512-512-10, or MLPBENCH_LAYERS), input and output in host
// memory, synchronized; then .../cold (CPU backends at every core only), each timed pass after the backend's
// evict_caches() (untimed), as `run --cache cold`. Each backend is checked against the CPU reference before it is
// timed; a wrong one is reported with SkipWithError. Time comes from the measurement core (wall_clock +
// calibrate_passes, as `mlpbench run` uses) through UseManualTime, so bench/ and the CLI agree; the label is the
// backend's config, as `run` records it ("threads=2,pinned,...").
// Usage: mlpbench_bench [--benchmark_filter=cpu_threads:1] [--benchmark_repetitions=6] [--benchmark_out=bench.json]
//        (scripts/crosscheck.sh sets these as the run it compares with was made)
#include <memory>

#include "bench_common.hpp"

int main(int argc, char** argv) {
  using namespace mlpbench;
  return bench::bench_main(argc, argv, "mlpbench_bench", [](const Model& model) {
    static std::vector<std::unique_ptr<Backend>> backends;
    const std::vector<int> counts = bench::bench_thread_counts();
    std::vector<Backend*> cold;  // the CPU backends at every core (the largest count), and every GPU backend
    for (int t : counts) {
      const std::size_t first = backends.size();
      backends.push_back(make_cpu_backend(t));
      backends.push_back(make_cpu_packed_backend(t));
      if (auto bf16 = make_cpu_packed_bf16_backend(t)) backends.push_back(std::move(bf16));
      if (t == counts.back()) {
        for (std::size_t i = first; i < backends.size(); ++i) cold.push_back(backends[i].get());
      }
    }
    GpuBackends gpu = make_gpu_backends();
    for (auto& g : gpu.backends) {
      cold.push_back(g.get());
      backends.push_back(std::move(g));
    }
    benchmark::AddCustomContext("mlpbench.gpu", gpu.gpu_name.empty() ? "none: " + gpu.unavailable : gpu.gpu_name);
    benchmark::AddCustomContext("mlpbench.cpu_threads", list_text(counts));
    for (auto& b : backends) bench::register_backend_forward(b.get(), &model, CacheMode::Hot);
    for (Backend* b : cold) bench::register_backend_forward(b, &model, CacheMode::Cold);
  });
}
