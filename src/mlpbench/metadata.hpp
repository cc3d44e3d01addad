// What a results file records about where and how it was made: the machine, the build and the run, as typed
// structs with their own JSON. Every field is optional, because files come from older versions and from
// peers (scripts/peer-*.py) that record less; a field is written only when it is set, and keys this version
// does not know are kept in `extra` (written after the known ones), so reading never fails on them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mlpbench {

using Json = nlohmann::ordered_json;

// The shortest decimal with 6 significant digits: every measured number in a results file is written so, which
// keeps committed files small and diffs readable.
double round6(double v);

struct GpuInfo {
  std::string name;
  std::string driver;        // the driver's CUDA version, e.g. "13.0"
  std::string cuda_runtime;  // the runtime this program runs on
  Json extra = Json::object();
};

// The SM clock read right after each GPU slice of the rounds, the GPU still busy: what the GPU cells were timed at.
struct GpuClockSamples {
  int readings = 0;
  unsigned min = 0, median = 0, max = 0;
  std::optional<std::string> reasons;  // the slowdown reasons (NVML) seen in any reading, e.g. "sw power cap"
};

// SM clock in MHz, read through NVML: after the gate, before anything is timed (start: often the idle clock), after
// the last GPU work (end), the maximum, and the readings while timing (files before them: absent).
struct GpuClockReadings {
  unsigned start = 0, end = 0, max = 0;
  std::optional<GpuClockSamples> timed;
};

struct MachineInfo {
  std::optional<std::string> host, cpu;
  std::optional<int> cores;    // this process may run on
  std::optional<int> threads;  // the most CPU threads a backend used
  std::optional<std::string> os;
  bool gpu_recorded = false;   // the file says whether there was a GPU (false: it doesn't say)
  std::optional<GpuInfo> gpu;  // with gpu_recorded: the GPU, or none
  std::optional<GpuClockReadings> gpu_clocks_mhz;
  Json roof;                   // what `mlpbench machine` measured (machine.hpp's roof_to_json); null: not recorded
  Json extra = Json::object();
};

struct BuildInfo {
  std::optional<std::string> compiler, build_type, flags, eigen;
  bool cuda_recorded = false;
  std::optional<std::string> cuda;  // with cuda_recorded: the CUDA toolkit, or none (built without CUDA)
  std::optional<std::string> git_commit;
  Json extra = Json::object();
};

// The drift probe (machine.hpp's drift_probe_ms) run after each measurement round: fixed work whose time moves
// when the machine's speed does. Version 2 (drift_of): each round's value is the median of short samples, as a
// cell's round median is; version 1, files without the key: one long pass of tens of ms per round, which another
// process's time slices move while the cells' short samples sidestep them (compare never corrects by it).
struct DriftProbe {
  int version = 1;
  double median_ms = 0;
  double spread = 0;              // (slowest - fastest) / median over the rounds
  std::vector<double> rounds_ms;  // one per round, in order
};
DriftProbe drift_of(std::vector<double> rounds_ms);

struct RunInfo {
  std::optional<std::string> started_utc, command;
  std::optional<std::vector<int>> batch_sizes;
  std::optional<std::string> device, precision, gpu_io, cache;
  std::optional<bool> quick;
  std::optional<std::uint64_t> input_seed;
  std::optional<std::vector<int>> threads;
  std::optional<DriftProbe> drift;
  Json extra = Json::object();
};

// Keys in a fixed order; `what` names the section in errors (InputError on a known key of the wrong type).
Json to_json(const MachineInfo& m);
Json to_json(const BuildInfo& b);
Json to_json(const RunInfo& r);
MachineInfo machine_from_json(const Json& j, const std::string& what);
BuildInfo build_from_json(const Json& j, const std::string& what);
RunInfo run_from_json(const Json& j, const std::string& what);

// For compare's notes: a recorded value as text, "" where the file doesn't say.
std::string gpu_text(const MachineInfo& m);  // the GPU's name, "none" without one
std::string threads_text(const RunInfo& r);   // e.g. "[1,2]"

}  // namespace mlpbench
