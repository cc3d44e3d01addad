// Helpers shared by the tests: a per-test temporary folder, reading and writing a whole file, "expect an
// InputError, give its message", and a reference cell as results/reference.json holds them.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "mlpbench/errors.hpp"
#include "mlpbench/results.hpp"
#include "mlpbench/serve_load.hpp"
#include "mlpbench/table.hpp"

namespace mlpbench::testing {

// A fresh folder per test (named by test suite and test), removed afterwards.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path = std::filesystem::temp_directory_path() /
           ("mlpbench_" + std::to_string(::getpid()) + "_" + info->test_suite_name() + "_" + info->name());
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string file(const std::string& name) const { return (path / name).string(); }
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(path)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }
};

// MLPBENCH_CACHE_DIR at a fresh folder for one test (the machine's roof is cached there), restored afterwards.
struct ScopedRoofCache {
  TempDir dir;
  const char* set = std::getenv("MLPBENCH_CACHE_DIR");
  const std::string before = set ? set : "";
  ScopedRoofCache() { ::setenv("MLPBENCH_CACHE_DIR", dir.path.c_str(), 1); }
  ~ScopedRoofCache() {
    if (set) ::setenv("MLPBENCH_CACHE_DIR", before.c_str(), 1);
    else ::unsetenv("MLPBENCH_CACHE_DIR");
  }
};

// The whole file ("" when it can't be read).
inline std::string slurp(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline void write_plain(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  ASSERT_TRUE(out.good());
}

// Runs f, expects an InputError and returns its message (empty, with a failure, when it doesn't throw one).
template <class F>
std::string input_error(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got another exception: " << e.what();
    return {};
  }
  ADD_FAILURE() << "expected InputError, nothing was thrown";
  return {};
}

// A cell taken from a reference table: the illustrative backend, a median, the file it came from.
inline Cell reference_cell(double ms, const std::string& file = "results/reference.json") {
  Cell c;
  c.source = Source::Reference;
  c.backend = "illustrative";
  c.stats.median_ms = ms;
  c.reference_file = file;
  return c;
}

// A cell measured elsewhere and promoted (mlpbench reference --from): a reference cell that is a measurement.
inline Cell promoted_cell(double ms, const std::string& file = "results/reference.json") {
  Cell c = reference_cell(ms, file);
  c.backend = "cublaslt+graph";
  c.provenance = Provenance{"measured", "NVIDIA H200", "0123456789abcdef", "2026-11-29T12:00:00Z"};
  return c;
}

// A GPU cell run on a CUDA emulator (a gpu-emu build): two backends ran, none timed.
inline constexpr const char* kEmulator = "mlpbench CUDA emulator (H100-like device, 132 SMs)";
inline Cell emulated_test_cell(CacheMode cache = CacheMode::Hot) {
  BackendRun a, b;
  a.backend = "cuda-tiled+graph", a.io = "copy", a.cache = cache;
  b.backend = "cublaslt+graph+zerocopy", b.io = "zero-copy", b.cache = cache;
  return emulated_cell({a, b}, kEmulator);
}

// A serving run of `device` whose steps ran at the given (rate, p99 ms) pairs, in order: achieved = offered, the other
// latencies around the p99, counts consistent; a step above config.slo_ms fails the bound. best_qps is the highest rate
// that met it (0: none), as the search sets it. source "simulated" says it came from `simulated_from` (default: the
// reference table) and marks every step simulated.
inline ServingRun serving_run(const std::string& device, const std::string& source, const std::vector<std::pair<double, double>>& qps_p99,
                              const ServeConfig& config = {}, const std::string& config_text = "workers=1,threads=1") {
  ServingRun r;
  r.device = device;
  r.backend = device == "CPU" ? "eigen-omp" : "cuda-gemv+graph";
  r.config = config_text;
  r.source = source;
  if (source == "simulated") r.simulated_from = "results/reference.json (reference)";
  r.search.config = config;
  r.search.searched = true;
  for (const auto& [qps, p99] : qps_p99) {
    StepResult s;
    s.offered_qps = s.achieved_qps = qps;
    s.p50_ms = p99 / 4, s.p90_ms = p99 / 2, s.p99_ms = p99, s.p999_ms = p99 * 1.5, s.max_ms = p99 * 2, s.mean_ms = p99 / 3;
    s.mean_wait_ms = p99 / 10;
    s.mean_batch = 1.5;
    s.mean_service_ms = p99 / 5;
    s.issued = s.completed = 2000;
    s.batches = 1333;
    s.max_queue = 7;
    s.mean_queue = 0.25;
    s.issue_lag_p99_us = source == "simulated" ? 0 : 12.5;
    s.issue_lag_max_us = source == "simulated" ? 0 : 80;
    s.drain_s = 0.0004;
    s.duration_s = 2000 / qps;
    s.simulated = source == "simulated";
    if (s.meets(config.slo_ms)) r.search.best_qps = std::max(r.search.best_qps, qps);
    r.search.steps.push_back(s);
  }
  r.search.simulated = source == "simulated" && !r.search.steps.empty();
  return r;
}

}  // namespace mlpbench::testing
