// The results JSON ("schema": "mlpbench/1"): what `run` writes, `report` reads and people commit.
// Key order is fixed (nlohmann::ordered_json); reading validates everything it uses. Files are written by
// files.hpp (atomically); machine, build and run are typed in metadata.hpp.
#pragma once

#include <ctime>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mlpbench/metadata.hpp"
#include "mlpbench/model.hpp"
#include "mlpbench/serve_load.hpp"
#include "mlpbench/table.hpp"

namespace mlpbench {

inline constexpr const char* kSchema = "mlpbench/1";

struct ModelInfo {
  std::vector<int> layers;
  std::string activation = "relu";  // between layers; none after the last
  std::string dtype = "f32";
  WeightsOrigin origin;
};

ModelInfo model_info(const Model& model);

// `mlpbench serve` (issue 22): the answer under load. Every configuration tried, live or simulated, with its steps.
struct ServingRun {
  std::string device;          // "CPU" or "GPU"
  std::string backend;         // the backend that served, e.g. "eigen-omp", "cuda-gemv+graph"
  std::string config;          // how, e.g. "workers=2,threads=1" or "streams=1"
  std::string source;          // "measured" (served live here) or "simulated" (serve_sim, from per-batch latencies)
  std::string simulated_from;  // simulated: where the latencies came from, e.g. "the CPU column of this run (measured)",
                               // "results/reference.json (reference)"; empty when measured
  SearchResult search;         // its steps and best_qps (the highest rate whose p99 met the bound; 0: none)
};
struct Serving {
  ServeConfig config;            // the bound (config.slo_ms), the batcher and the step settings
  std::vector<ServingRun> runs;  // in the order run
};

// The run a device's serving answer rests on: of its measured runs the one with the highest best_qps (the first on a
// tie); only when the device has no measured run, its simulated one with the highest; nullptr when it has no run.
// Check ->source: a simulated run is labelled so and decides nothing.
const ServingRun* best_serving_run(const Serving& serving, const std::string& device);

struct Results {
  std::string note;                // free text; reference.json says its values are illustrative
  ModelInfo model;
  MachineInfo machine;             // collect_machine_info(), the GPU clocks, the roof
  BuildInfo build;                 // build_info()
  RunInfo run;                     // start time, command line, settings
  Table table;                     // the headline cells: hot, or cold when only cold was measured
  std::optional<Table> cold;       // --cache both: the cold cells (`table` holds the hot ones)
  Prices prices;                   // when given: cost per million inferences per cell, and `cheaper`
  std::map<std::string, std::string> not_measured;  // device -> why its column is not measured here
  std::vector<std::string> notes;  // anything else the reader must know (a backend left out, ...)
  std::vector<std::string> warnings;  // run-wide measurement warnings (warnings.hpp); cells hold their own
  std::optional<Serving> serving;     // `mlpbench serve`
};

// The tables of a run: the headline one, then the cold one when there is one.
inline std::vector<const Table*> tables_of(const Results& r) { return r.cold ? std::vector<const Table*>{&r.table, &*r.cold} : std::vector<const Table*>{&r.table}; }
inline std::vector<Table*> tables_of(Results& r) { return r.cold ? std::vector<Table*>{&r.table, &*r.cold} : std::vector<Table*>{&r.table}; }

Json to_json(const Results& results);

// JSON text with two-space indents, but arrays of numbers on one line (samples stay one line per cell,
// so committed files diff well). Ends with a newline.
std::string dump_json(const Json& json);

// Validates and reads; `what` names the source in errors. Throws InputError.
Results results_from_json(const Json& json, const std::string& what);
Results read_results(const std::string& path);
// The text of a results file (as read_results reads it): every JSON or schema error is an InputError, its
// message printable (a binary file, such as safetensors, is said to be one, none of its bytes quoted).
Results parse_results_text(const std::string& text, const std::string& what);

// Where `run` writes: `out` itself when it names a file ("-": standard output); a folder (an existing one, or ending
// in '/') -> <folder>/<host>/<UTC time>-<commit>.json, the layout for runs committed to git (host and commit made safe
// for a file name; the commit's first 12 characters); "" -> the same under results/.
std::string results_path(const std::string& out, std::time_t started);
// Whether `out` names a folder for results_path (an existing one, one ending in '/', or "" for results/).
bool names_a_folder(const std::string& out);

}  // namespace mlpbench
