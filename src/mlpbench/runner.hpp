// `run` as a library call: check every backend, time the correct ones through `measure`, fill the table,
// take missing columns from the reference table. The CLI parses options and prints; this does the work.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mlpbench/backend.hpp"
#include "mlpbench/machine.hpp"
#include "mlpbench/nvml.hpp"
#include "mlpbench/results.hpp"

namespace mlpbench {

struct RunConfig {
  std::vector<int> batch_sizes{1, 10, 100};
  std::string device = "all";     // "cpu", "gpu" or "all": which columns to measure
  std::vector<int> threads{0};    // CPU thread counts to measure, each with every CPU backend; 0: all cores
  Precision precision = Precision::FP32;  // GPU matrix-product precision (the CPU runs fp32)
  std::string reference_file;     // where missing columns come from
  const Results* reference = nullptr;  // reference_file already read by the caller (else read when needed)
  bool quick = false;             // whole run within a few seconds (CI)
  std::uint64_t input_seed = 1;   // inputs are U(-1, 1) from this seed
  std::function<void(const std::string&)> log;  // progress lines; may be empty
  const MachineRoof* roof = nullptr;  // when given, every measured cell gets its floor
};

// Throws InputError when the model (widths, input first) run by `backends` CPU backends at these batch
// sizes would need more than half of this machine's memory (weights per backend, activations, inputs and
// outputs). Called before the weights are made or loaded, so a too-large request fails at once.
void check_memory(const std::vector<int>& widths, const std::vector<int>& batch_sizes, int backends);

// The CPU backend against the double-precision reference on up to 8 rows (rows are independent, so a
// subset checks the arithmetic at a fraction of the cost). Throws RuntimeError on a mismatch.
void check_cpu_backend(Backend& cpu, const Model& model, const std::vector<float>& x, int batch, std::vector<float>& y);

// The gate every backend passes before it is timed (run and bench/ alike): prepared for the largest batch,
// then at each batch size planned, run on inputs[i] and compared with expected[i] at tolerance_for(its
// precision). Returns "" when it passes, else what was wrong. Exceptions from the backend propagate.
std::string check_backend(Backend& backend, const Model& model, const std::vector<int>& batch_sizes, const std::vector<std::vector<float>>& inputs,
                          const std::vector<std::vector<float>>& expected);

// Energy per inference: the counter read around back-to-back calls of `forward` (batch rows each) lasting at
// least `window_s`; `unavailable` says why when the counter is missing or does not advance.
Energy measure_energy(EnergyCounter& counter, const std::function<void()>& forward, int batch, double window_s);

// Runs everything; `gpu` is what make_gpu_backends() gave. Throws InputError (bad reference file, ...)
// or RuntimeError (a backend failed its check and nothing else can fill the column).
Results run_benchmark(const Model& model, const RunConfig& config, GpuBackends gpu);

}  // namespace mlpbench
