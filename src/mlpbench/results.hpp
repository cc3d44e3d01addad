// The results JSON ("schema": "mlpbench/1"): what `run` writes, `report` reads and people commit.
// Key order is fixed (nlohmann::ordered_json); reading validates everything it uses; writing goes to a
// temporary file in the same folder, renamed into place, and never replaces a file unless asked to.
#pragma once

#include <ctime>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlpbench/model.hpp"
#include "mlpbench/table.hpp"

namespace mlpbench {

inline constexpr const char* kSchema = "mlpbench/1";

using Json = nlohmann::ordered_json;

struct ModelInfo {
  std::vector<int> layers;
  std::string activation = "relu";  // between layers; none after the last
  std::string dtype = "f32";
  WeightsOrigin origin;
};

ModelInfo model_info(const Model& model);

struct Results {
  std::string note;                // free text; reference.json says its values are illustrative
  ModelInfo model;
  Json machine = Json::object();   // collect_machine_info()
  Json build = Json::object();     // build_info()
  Json run = Json::object();       // start time, command line
  Table table;
  Prices prices;                   // when given: cost per million inferences per cell, and `cheaper`
  std::map<std::string, std::string> not_measured;  // device -> why its column is not measured here
  std::vector<std::string> notes;  // anything else the reader must know (a backend left out, ...)
  std::vector<std::string> warnings;  // run-wide measurement warnings (warnings.hpp); cells hold their own
};

Json to_json(const Results& results);

// JSON text with two-space indents, but arrays of numbers on one line (samples stay one line per cell,
// so committed files diff well). Ends with a newline.
std::string dump_json(const Json& json);

// Validates and reads; `what` names the source in errors. Throws InputError.
Results results_from_json(const Json& json, const std::string& what);
Results read_results(const std::string& path);
// The text of a results file (as read_results reads it): every JSON or schema error is an InputError.
Results parse_results_text(const std::string& text, const std::string& what);

// Writes JSON (two-space indent, trailing newline) through a temporary file in the target's folder.
// Throws InputError if `path` exists and !force; RuntimeError if the folder can't be written.
// Creates the parent folder if it is missing.
void write_text_atomic(const std::string& path, const std::string& text, bool force);

// SIGINT/SIGTERM handlers that remove the temporary file of a write in progress, then end the process as
// the signal would: an interrupted run never leaves a partial or temporary file behind.
void install_interrupt_cleanup();
void write_binary_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes, bool force);

// Before the work that produces it: that `path` is not a folder, exists only if `force`, and that its
// folder exists (or can be made) and takes a file. Throws InputError (a folder, an existing file) or
// RuntimeError (the folder can't be written), so a run fails at once rather than after measuring.
void check_writable(const std::string& path, bool force);

// CPU model, cores, threads used, OS/kernel, host; GPU name, driver, runtime when given.
struct GpuBackends;
Json collect_machine_info(int threads_used, const GpuBackends* gpu);

// Compiler and version, flags, build type, Eigen version, CUDA version ("" without CUDA), git commit.
Json build_info(const std::string& cuda_version);

// UTC time as 2026-11-29T06:28:19Z, and as 20261129T062819Z for file names.
std::string utc_iso8601(std::time_t t);
std::string utc_compact(std::time_t t);
std::string host_name();
std::string cpu_model();  // /proc/cpuinfo's first "model name", or "unknown"

}  // namespace mlpbench
