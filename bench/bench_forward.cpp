// BM_forward/<backend>/<batch> (eigen, eigen-omp-packed, then every GPU backend): one forward pass of the default MLP (784-512-512-10, or MLPBENCH_LAYERS),
// input and output in host memory, synchronized; then BM_forward/<backend>/<batch>/cold, each timed pass after
// the backend's evict_caches() (untimed), as `run --cache cold`. Each backend is checked against the CPU reference before
// it is timed; a wrong one is reported with SkipWithError. Time comes from the measurement core
// (wall_clock + calibrate_passes, as `mlpbench run` uses) through UseManualTime, so bench/ and the CLI agree.
// Usage: mlpbench_bench [--benchmark_filter=cpu] [--benchmark_repetitions=5] [--benchmark_out=bench.json]
#include <memory>

#include "bench_common.hpp"

int main(int argc, char** argv) {
  using namespace mlpbench;
  return bench::bench_main(argc, argv, "mlpbench_bench", [](const Model& model) {
    static std::vector<std::unique_ptr<Backend>> backends;
    backends.push_back(make_cpu_backend(0));
    backends.push_back(make_cpu_packed_backend(0));
    if (auto bf16 = make_cpu_packed_bf16_backend(0)) backends.push_back(std::move(bf16));
    GpuBackends gpu = make_gpu_backends();
    for (auto& g : gpu.backends) backends.push_back(std::move(g));
    benchmark::AddCustomContext("mlpbench.gpu", gpu.gpu_name.empty() ? "none: " + gpu.unavailable : gpu.gpu_name);
    for (auto& b : backends) bench::register_forward(b->name(), bench::BM_forward, b.get(), &model);
    for (auto& b : backends) bench::register_cold_forward(b.get(), &model);
  });
}
