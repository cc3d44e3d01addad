// The results JSON: writing a Results in the schema's fixed key order, and reading one back, validated, one
// function per section. See results.hpp.
#include "mlpbench/results.hpp"

#include <algorithm>
#include <cmath>
#include <cctype>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string_view>
#include <type_traits>

#include "mlpbench/build_info.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/files.hpp"
#include "mlpbench/sysinfo.hpp"

namespace mlpbench {
namespace {

// ---- writing ---------------------------------------------------------------------------------------

void split_to_json(const DeviceSplit& d, Json& j) {
  j["device_ms"] = round6(d.compute_ms);
  j["h2d_ms"] = round6(d.h2d_ms);
  j["d2h_ms"] = round6(d.d2h_ms);
}

void stats_to_json(const Stats& s, Json& j) {
  j["median_ms"] = round6(s.median_ms);
  j["p90_ms"] = round6(s.p90_ms);
  j["p99_ms"] = round6(s.p99_ms);
  j["min_ms"] = round6(s.min_ms);
  j["max_ms"] = round6(s.max_ms);
  j["mean_ms"] = round6(s.mean_ms);
  j["cv"] = round6(s.cv);
  j["ci_rel"] = round6(s.ci_rel);
  j["samples"] = s.samples;
  if (s.min_samples > 0) j["min_samples"] = s.min_samples;
  j["passes_per_sample"] = s.passes_per_sample;
  j["converged"] = s.converged;
}

// The median of each round of measure_rounds, in round order: the unit of independent evidence.
void round_medians_to_json(const Stats& s, Json& j) {
  if (s.round_medians_ms.empty()) return;
  Json rounds = Json::array();
  for (double v : s.round_medians_ms) rounds.push_back(round6(v));
  j["round_medians_ms"] = std::move(rounds);
}

Json energy_to_json(const Energy& e) {
  if (!e.unavailable.empty()) return {{"unavailable", e.unavailable}};
  return {{"joules_per_inference", round6(e.joules_per_inference)}, {"watts", round6(e.watts)}, {"window_s", round6(e.window_s)}};
}

// What ran: the backend, and how (config, io) where it says.
Json backend_to_json(const BackendRun& r) {
  Json b;
  b["backend"] = r.backend;
  if (!r.config.empty()) b["config"] = r.config;
  if (!r.io.empty()) b["io"] = r.io;
  return b;
}

// Every backend (and thread count) timed for a cell; the headline is the fastest of them.
Json runs_to_json(const std::vector<BackendRun>& runs) {
  Json out = Json::array();
  for (const BackendRun& r : runs) {
    Json b = backend_to_json(r);
    b["median_ms"] = round6(r.stats.median_ms);
    b["p90_ms"] = round6(r.stats.p90_ms);
    b["min_ms"] = round6(r.stats.min_ms);
    b["cv"] = round6(r.stats.cv);
    b["ci_rel"] = round6(r.stats.ci_rel);
    b["samples"] = r.stats.samples;
    round_medians_to_json(r.stats, b);
    if (r.split) split_to_json(*r.split, b);
    out.push_back(std::move(b));
  }
  return out;
}

// An emulated cell's backends: each that ran, without a time.
Json ran_to_json(const std::vector<BackendRun>& runs) {
  Json out = Json::array();
  for (const BackendRun& r : runs) out.push_back(backend_to_json(r));
  return out;
}

Json cell_to_json(const Cell& c, int batch, double usd_per_hour) {
  Json j;
  j["source"] = source_name(c.source);
  j["backend"] = c.backend;
  if (c.source == Source::Emulated) {  // no time, so no cost, floor or statistics
    if (!c.config.empty()) j["config"] = c.config;
    if (!c.io.empty()) j["io"] = c.io;
    j["cache"] = cache_name(c.cache);
    j["emulator"] = c.emulator;
    j["why"] = c.why;
    j["backends"] = ran_to_json(c.runs);
    return j;
  }
  if (c.source == Source::Reference) {
    j["median_ms"] = round6(c.stats.median_ms);
    j["file"] = c.reference_file;
    j["kind"] = c.provenance.kind;
    if (!c.provenance.machine.empty()) j["machine"] = c.provenance.machine;
    if (!c.provenance.commit.empty()) j["commit"] = c.provenance.commit;
    if (!c.provenance.date.empty()) j["date"] = c.provenance.date;
    if (!c.why.empty()) j["why"] = c.why;
    if (usd_per_hour > 0) j["usd_per_million"] = round6(usd_per_million(usd_per_hour, batch, c.median_ms()));
    return j;
  }
  if (!c.config.empty()) j["config"] = c.config;
  if (!c.io.empty()) j["io"] = c.io;
  j["cache"] = cache_name(c.cache);
  stats_to_json(c.stats, j);
  if (c.split) split_to_json(*c.split, j);
  if (usd_per_hour > 0) j["usd_per_million"] = round6(usd_per_million(usd_per_hour, batch, c.median_ms()));
  if (!c.warnings.empty()) j["warnings"] = c.warnings;
  if (c.floor_ms > 0) {
    j["floor_ms"] = round6(c.floor_ms);
    j["floor_bound"] = c.floor_bound;
    j["efficiency"] = round6(c.efficiency());
  }
  if (c.energy) j["energy"] = energy_to_json(*c.energy);
  if (c.runs.size() > 1) j["backends"] = runs_to_json(c.runs);
  round_medians_to_json(c.stats, j);
  Json samples = Json::array();
  for (double v : c.stats.samples_ms) samples.push_back(round6(v));
  j["samples_ms"] = std::move(samples);
  return j;
}

Json model_to_json(const ModelInfo& m) {
  Json j;
  j["layers"] = m.layers;
  j["activation"] = m.activation;
  j["dtype"] = m.dtype;
  Json origin;
  origin["kind"] = m.origin.kind;
  if (m.origin.kind == "seed") origin["seed"] = m.origin.seed;
  if (m.origin.kind == "file") {
    origin["file"] = m.origin.file;
    origin["sha256"] = m.origin.sha256;
    if (!m.origin.layer_names.empty()) {
      origin["layer_names"] = m.origin.layer_names;
      origin["layer_order"] = m.origin.layer_order;
    }
    if (!m.origin.no_bias.empty()) origin["no_bias"] = m.origin.no_bias;
  }
  j["weights"] = std::move(origin);
  return j;
}

// A per-batch verdict ("CPU" or "GPU") for every batch size where `verdict` has one.
template <class Verdict>
Json verdicts(const Table& t, Verdict verdict) {
  Json j = Json::object();
  for (int b : t.batch_sizes) {
    if (auto v = verdict(b)) j[std::to_string(b)] = *v;
  }
  return j;
}

// ---- serving (`mlpbench serve`) ------------------------------------------------------------------

// Every setting of a serving run, in ServeConfig's order.
Json serve_config_to_json(const ServeConfig& c) {
  Json j;
  Json qps = Json::array();
  for (double q : c.qps) qps.push_back(round6(q));
  j["qps"] = std::move(qps);
  j["slo_ms"] = round6(c.slo_ms);
  j["max_batch"] = c.max_batch;
  j["max_queue_delay_us"] = round6(c.max_queue_delay_us);
  j["workers"] = c.workers;
  j["threads"] = c.threads;
  j["min_requests"] = c.min_requests;
  j["min_step_s"] = round6(c.min_step_s);
  j["drain_limit_s"] = round6(c.drain_limit_s);
  j["seed"] = c.seed;
  j["search_start_qps"] = round6(c.search_start_qps);
  j["search_tolerance"] = round6(c.search_tolerance);
  j["worker_spin_us"] = round6(c.worker_spin_us);
  return j;
}

// A run's settings where they differ from the serving section's (e.g. workers and threads); {} when none do.
Json serve_config_diff(const ServeConfig& run, const ServeConfig& all) {
  const Json mine = serve_config_to_json(run), theirs = serve_config_to_json(all);
  Json diff = Json::object();
  for (const auto& [key, value] : mine.items()) {
    if (value != theirs[key]) diff[key] = value;
  }
  return diff;
}

// A step's fields, each once, in file order: one visitor writes them (step_to_json), another reads them.
template <class Step, class Visit>
void step_fields(Step& s, Visit&& v) {
  v("offered_qps", s.offered_qps), v("achieved_qps", s.achieved_qps);
  v("p50_ms", s.p50_ms), v("p90_ms", s.p90_ms), v("p99_ms", s.p99_ms), v("p999_ms", s.p999_ms), v("max_ms", s.max_ms);
  v("mean_ms", s.mean_ms), v("mean_wait_ms", s.mean_wait_ms), v("mean_batch", s.mean_batch), v("mean_service_ms", s.mean_service_ms);
  v("issued", s.issued), v("completed", s.completed), v("batches", s.batches), v("max_queue", s.max_queue), v("mean_queue", s.mean_queue);
  v("issue_lag_p99_us", s.issue_lag_p99_us), v("issue_lag_max_us", s.issue_lag_max_us), v("drain_s", s.drain_s), v("duration_s", s.duration_s);
  v("overloaded", s.overloaded), v("interrupted", s.interrupted), v("simulated", s.simulated);
}

Json step_to_json(const StepResult& s) {
  Json j;
  step_fields(s, [&](const char* key, const auto& value) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, double>) j[key] = round6(value);
    else j[key] = value;
  });
  return j;
}

Json serving_run_to_json(const ServingRun& r, const ServeConfig& all) {
  Json j;
  j["device"] = r.device;
  j["backend"] = r.backend;
  j["config"] = r.config;
  j["source"] = r.source;
  if (!r.simulated_from.empty()) j["simulated_from"] = r.simulated_from;
  j["best_qps"] = round6(r.search.best_qps);
  j["searched"] = r.search.searched;
  j["interrupted"] = r.search.interrupted;
  if (Json diff = serve_config_diff(r.search.config, all); !diff.empty()) j["settings"] = std::move(diff);
  Json steps = Json::array();
  for (const StepResult& s : r.search.steps) steps.push_back(step_to_json(s));
  j["steps"] = std::move(steps);
  return j;
}

// The answer per device (best_serving_run): its best rate, where it comes from and which run; derived from the runs.
Json serving_best_to_json(const Serving& sv) {
  Json best = Json::object();
  for (const char* dev : kDevices) {
    const ServingRun* r = best_serving_run(sv, dev);
    if (!r) continue;
    best[dev] = {{"qps", round6(r->search.best_qps)}, {"source", r->source}, {"backend", r->backend}, {"config", r->config}};
  }
  return best;
}

Json serving_to_json(const Serving& sv) {
  Json j;
  j["config"] = serve_config_to_json(sv.config);
  j["best"] = serving_best_to_json(sv);
  Json runs = Json::array();
  for (const ServingRun& r : sv.runs) runs.push_back(serving_run_to_json(r, sv.config));
  j["runs"] = std::move(runs);
  return j;
}

// ---- reading ---------------------------------------------------------------------------------------

[[noreturn]] void bad(const std::string& what, const std::string& msg) { throw InputError(what + ": " + msg); }

const Json& member(const Json& obj, const char* key, const std::string& what) {
  if (!obj.is_object()) bad(what, "expected an object");
  const auto it = obj.find(key);
  if (it == obj.end()) bad(what, std::string("missing \"") + key + "\"");
  return *it;
}

double number(const Json& obj, const char* key, const std::string& what, bool positive) {
  const Json& v = member(obj, key, what);
  if (!v.is_number()) bad(what, std::string("\"") + key + "\" must be a number");
  const double d = v.get<double>();
  if (!std::isfinite(d) || d < 0 || (positive && d == 0)) bad(what, std::string("\"") + key + "\" must be a finite " + (positive ? "positive" : "non-negative") + " number");
  return d;
}

// A positive count that fits in an int.
int count(const Json& obj, const char* key, const std::string& what) {
  const double n = number(obj, key, what, true);
  if (n != std::floor(n) || n > 1e9) bad(what, std::string("\"") + key + "\" must be a positive integer");
  return static_cast<int>(n);
}

std::string string_member(const Json& obj, const char* key, const std::string& what) {
  const Json& v = member(obj, key, what);
  if (!v.is_string()) bad(what, std::string("\"") + key + "\" must be a string");
  return v.get<std::string>();
}

// The strings of an optional array (other entries are skipped, as older files may hold them).
std::vector<std::string> strings(const Json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array()) {
    for (const Json& v : j[key]) {
      if (v.is_string()) out.push_back(v.get<std::string>());
    }
  }
  return out;
}

int batch_key(const std::string& key, const std::string& what) {
  // Keys are decimal batch sizes: "1", "10", "100".
  if (key.empty() || key.size() > 9 || key[0] == '0' || key.find_first_not_of("0123456789") != std::string::npos) {
    bad(what, "batch size key \"" + key + "\" is not a positive integer");
  }
  return std::stoi(key);
}

// A measured cell's statistics (median_ms already read), in order.
void stats_from_json(const Json& j, const std::string& what, Stats& s) {
  s.p90_ms = number(j, "p90_ms", what, true);
  s.p99_ms = number(j, "p99_ms", what, true);
  s.min_ms = number(j, "min_ms", what, true);
  s.mean_ms = number(j, "mean_ms", what, true);
  s.cv = number(j, "cv", what, false);
  s.samples = count(j, "samples", what);
  if (j.contains("min_samples")) s.min_samples = count(j, "min_samples", what);
  if (!(s.min_ms <= s.median_ms && s.median_ms <= s.p90_ms && s.p90_ms <= s.p99_ms)) {
    bad(what, "statistics out of order (need min <= median <= p90 <= p99)");
  }
  if (j.contains("max_ms")) {
    s.max_ms = number(j, "max_ms", what, true);
    if (s.max_ms < s.p99_ms) bad(what, "statistics out of order (need p99 <= max)");
  }
  if (j.contains("ci_rel")) s.ci_rel = number(j, "ci_rel", what, false);
  if (j.contains("passes_per_sample")) s.passes_per_sample = count(j, "passes_per_sample", what);
  if (j.contains("converged")) {
    if (!j["converged"].is_boolean()) bad(what, "\"converged\" must be true or false");
    s.converged = j["converged"].get<bool>();
  }
}

std::optional<DeviceSplit> split_from_json(const Json& j, const std::string& what) {
  if (!j.contains("device_ms")) return std::nullopt;
  return DeviceSplit{number(j, "h2d_ms", what, false), number(j, "device_ms", what, false), number(j, "d2h_ms", what, false)};
}

Energy energy_from_json(const Json& e, const std::string& what) {
  Energy en;
  if (e.is_object() && e.contains("unavailable")) {
    en.unavailable = string_member(e, "unavailable", what);
    return en;
  }
  en.joules_per_inference = number(e, "joules_per_inference", what, false);
  en.watts = number(e, "watts", what, false);
  en.window_s = number(e, "window_s", what, false);
  return en;
}

// An array of positive numbers: samples_ms (as many as `samples`) or round_medians_ms (1 to `samples` of them).
std::vector<double> times_from_json(const Json& j, const char* key, const std::string& what, int samples) {
  const Json& arr = j[key];
  const std::string name = std::string("\"") + key + "\"";
  if (!arr.is_array()) bad(what, name + " must be an array");
  std::vector<double> out;
  for (const Json& v : arr) {
    if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0) bad(what, name + " holds a value that is not a positive number");
    out.push_back(v.get<double>());
  }
  const bool rounds = std::string(key) == "round_medians_ms";
  if (rounds ? out.empty() || out.size() > static_cast<std::size_t>(samples) : out.size() != static_cast<std::size_t>(samples)) {
    bad(what, name + " has " + std::to_string(out.size()) + " values but \"samples\" is " + std::to_string(samples));
  }
  return out;
}

std::vector<BackendRun> runs_from_json(const Json& runs, const std::string& what) {
  if (!runs.is_array()) bad(what, "\"backends\" must be an array");
  std::vector<BackendRun> out;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const Json& b = runs[i];
    const std::string where = what + ".backends[" + std::to_string(i) + "]";
    BackendRun r;
    r.backend = string_member(b, "backend", where);
    if (b.contains("config")) r.config = string_member(b, "config", where);
    if (b.contains("io")) r.io = string_member(b, "io", where);
    r.stats.median_ms = number(b, "median_ms", where, true);
    r.stats.p90_ms = number(b, "p90_ms", where, true);
    r.stats.min_ms = number(b, "min_ms", where, true);
    r.stats.cv = number(b, "cv", where, false);
    if (b.contains("ci_rel")) r.stats.ci_rel = number(b, "ci_rel", where, false);
    r.stats.samples = static_cast<int>(number(b, "samples", where, true));
    if (b.contains("round_medians_ms")) r.stats.round_medians_ms = times_from_json(b, "round_medians_ms", where, r.stats.samples);
    r.split = split_from_json(b, where);
    out.push_back(std::move(r));
  }
  return out;
}

CacheMode cache_from_json(const Json& j, const std::string& what) {
  const std::string cache = string_member(j, "cache", what);
  if (cache != "hot" && cache != "cold") bad(what, "\"cache\" must be \"hot\" or \"cold\"");
  return cache == "cold" ? CacheMode::Cold : CacheMode::Hot;
}

// A measured cell beyond source, backend and median.
void measured_from_json(const Json& j, const std::string& what, Cell& c) {
  c.source = Source::Measured;
  if (j.contains("config")) c.config = string_member(j, "config", what);
  if (j.contains("cache")) c.cache = cache_from_json(j, what);
  stats_from_json(j, what, c.stats);
  c.warnings = strings(j, "warnings");
  if (j.contains("floor_ms")) {
    c.floor_ms = number(j, "floor_ms", what, true);
    c.floor_bound = j.contains("floor_bound") ? string_member(j, "floor_bound", what) : "";
  }
  if (j.contains("io")) c.io = string_member(j, "io", what);
  if (j.contains("energy")) c.energy = energy_from_json(j["energy"], what + ".energy");
  c.split = split_from_json(j, what);
  if (j.contains("backends")) c.runs = runs_from_json(j["backends"], what);
  if (j.contains("round_medians_ms")) c.stats.round_medians_ms = times_from_json(j, "round_medians_ms", what, c.stats.samples);
  if (j.contains("samples_ms")) c.stats.samples_ms = times_from_json(j, "samples_ms", what, c.stats.samples);
}

// A reference cell's provenance and why (files before these keys: illustrative, no why).
void reference_from_json(const Json& j, const std::string& what, Cell& c) {
  if (j.contains("kind")) {
    c.provenance.kind = string_member(j, "kind", what);
    if (c.provenance.kind != "measured" && c.provenance.kind != "illustrative") bad(what, "\"kind\" must be \"measured\" or \"illustrative\"");
  }
  if (j.contains("machine")) c.provenance.machine = string_member(j, "machine", what);
  if (j.contains("commit")) c.provenance.commit = string_member(j, "commit", what);
  if (j.contains("date")) c.provenance.date = string_member(j, "date", what);
  if (j.contains("why")) c.why = string_member(j, "why", what);
}

// An emulated cell beyond source and backend: no time, only what ran where.
void emulated_from_json(const Json& j, const std::string& what, Cell& c) {
  c.source = Source::Emulated;
  if (j.contains("median_ms")) bad(what, "an emulated cell holds no time (\"median_ms\"): an emulator's time is no GPU time");
  if (j.contains("config")) c.config = string_member(j, "config", what);
  if (j.contains("io")) c.io = string_member(j, "io", what);
  c.cache = cache_from_json(j, what);
  c.emulator = string_member(j, "emulator", what);
  c.why = j.contains("why") ? string_member(j, "why", what) : emulated_why(c.emulator);
  const Json& ran = member(j, "backends", what);
  if (!ran.is_array() || ran.empty()) bad(what, "\"backends\" must be an array of the backends that ran");
  for (std::size_t i = 0; i < ran.size(); ++i) {
    const std::string where = what + ".backends[" + std::to_string(i) + "]";
    BackendRun r;
    r.backend = string_member(ran[i], "backend", where);
    if (ran[i].contains("config")) r.config = string_member(ran[i], "config", where);
    if (ran[i].contains("io")) r.io = string_member(ran[i], "io", where);
    r.cache = c.cache;
    c.runs.push_back(std::move(r));
  }
}

Cell cell_from_json(const Json& j, const std::string& what, const std::string& file) {
  Cell c;
  const std::string source = string_member(j, "source", what);
  c.backend = string_member(j, "backend", what);
  if (source == "emulated") {
    emulated_from_json(j, what, c);
    return c;
  }
  c.stats.median_ms = number(j, "median_ms", what, true);
  if (source == "reference") {
    c.source = Source::Reference;
    c.reference_file = j.contains("file") && j["file"].is_string() ? j["file"].get<std::string>() : file;
    reference_from_json(j, what, c);
  } else if (source == "measured") {
    measured_from_json(j, what, c);
  } else {
    bad(what, "\"source\" must be \"measured\", \"reference\" or \"emulated\", not \"" + source + "\"");
  }
  return c;
}

Table cells_from_json(const Json& j, const std::string& what) {
  const Json& cells = member(j, "cells", what);
  if (!cells.is_object()) bad(what, "\"cells\" must be an object");
  Table t;
  for (const auto& [dev, per_batch] : cells.items()) {
    if (dev != "CPU" && dev != "GPU") bad(what, "device \"" + dev + "\" in \"cells\" is not CPU or GPU");
    if (!per_batch.is_object()) bad(what, "cells." + dev + " must be an object");
    for (const auto& [key, cell] : per_batch.items()) {
      const int b = batch_key(key, what + ": cells." + dev);
      t.set(dev, b, cell_from_json(cell, what + ": cells." + dev + "." + key, what));
    }
  }
  if (t.batch_sizes.empty()) bad(what, "\"cells\" holds no cell");
  return t;
}

// inference_times_ms must agree with the cells it summarizes (catches hand edits of one but not the other).
void check_inference_times(const Json& j, const Table& t, const std::string& what) {
  if (!j.contains("inference_times_ms")) return;
  const Json& times = j["inference_times_ms"];
  if (!times.is_object()) bad(what, "\"inference_times_ms\" must be an object");
  for (const auto& [dev, per_batch] : times.items()) {
    if (!per_batch.is_object()) bad(what, "inference_times_ms." + dev + " must be an object");
    for (const auto& [key, v] : per_batch.items()) {
      const int b = batch_key(key, what + ": inference_times_ms." + dev);
      const Cell* c = t.find(dev, b);
      if (!c) bad(what, "inference_times_ms." + dev + "." + key + " has no matching cell");
      if (c->source == Source::Emulated) bad(what, "inference_times_ms." + dev + "." + key + " is a time for an emulated cell, which has none");
      if (!v.is_number() || std::fabs(v.get<double>() - c->median_ms()) > 1e-9 * std::max(1.0, c->median_ms())) {
        bad(what, "inference_times_ms." + dev + "." + key + " differs from cells." + dev + "." + key + ".median_ms");
      }
    }
  }
}

ModelInfo model_from_json(const Json& m, const std::string& what) {
  ModelInfo info;
  if (m.contains("layers") && m["layers"].is_array()) {
    for (const Json& w : m["layers"]) {
      if (!w.is_number_integer() || w.get<long long>() < 1 || w.get<long long>() > kMaxWidth) bad(what, "model.layers holds an invalid width");
      info.layers.push_back(w.get<int>());
    }
  }
  if (m.contains("activation") && m["activation"].is_string()) info.activation = m["activation"].get<std::string>();
  if (m.contains("dtype") && m["dtype"].is_string()) info.dtype = m["dtype"].get<std::string>();
  if (m.contains("weights") && m["weights"].is_object()) {
    const Json& o = m["weights"];
    if (o.contains("kind") && o["kind"].is_string()) info.origin.kind = o["kind"].get<std::string>();
    if (o.contains("seed") && o["seed"].is_number_unsigned()) info.origin.seed = o["seed"].get<std::uint64_t>();
    if (o.contains("file") && o["file"].is_string()) info.origin.file = o["file"].get<std::string>();
    if (o.contains("sha256") && o["sha256"].is_string()) info.origin.sha256 = o["sha256"].get<std::string>();
    // Files written before these keys lack them.
    info.origin.layer_names = strings(o, "layer_names");
    if (o.contains("layer_order") && o["layer_order"].is_string()) info.origin.layer_order = o["layer_order"].get<std::string>();
    info.origin.no_bias = strings(o, "no_bias");
  }
  return info;
}

Prices prices_from_json(const Json& p, const std::string& what) {
  return Prices{number(p, "CPU", what + ": prices_usd_per_hour", true), number(p, "GPU", what + ": prices_usd_per_hour", true)};
}

std::map<std::string, std::string> not_measured_from_json(const Json& nm) {
  std::map<std::string, std::string> out;
  for (const auto& [dev, why] : nm.items()) {
    if (why.is_string()) out[dev] = why.get<std::string>();
  }
  return out;
}

// An optional object section: read by `from` when it is an object (anything else is ignored, as before).
template <class T, class From>
void section(const Json& j, const char* key, const std::string& what, T& out, From from) {
  if (j.contains(key) && j[key].is_object()) out = from(j[key], what + ": " + key);
}

// ---- reading serving ----

bool boolean(const Json& obj, const char* key, const std::string& what) {
  const Json& v = member(obj, key, what);
  if (!v.is_boolean()) bad(what, std::string("\"") + key + "\" must be true or false");
  return v.get<bool>();
}

// A non-negative whole number (a count of requests, batches, a queue length).
std::int64_t whole(const Json& obj, const char* key, const std::string& what) {
  const double n = number(obj, key, what, false);
  if (n != std::floor(n) || n > 9e15) bad(what, std::string("\"") + key + "\" must be a non-negative integer");
  return static_cast<std::int64_t>(n);
}

// ServeConfig's keys over `c`: every key required (`all`, the section's own), or those present (a run's "settings").
ServeConfig serve_config_from_json(const Json& j, const std::string& what, ServeConfig c, bool all) {
  if (!j.is_object()) bad(what, "expected an object");
  const auto has = [&](const char* key) { return all || j.contains(key); };
  if (has("qps")) {
    const Json& qps = member(j, "qps", what);
    if (!qps.is_array()) bad(what, "\"qps\" must be an array");
    c.qps.clear();
    for (const Json& q : qps) {
      if (!q.is_number() || !std::isfinite(q.get<double>()) || q.get<double>() <= 0) bad(what, "\"qps\" holds a value that is not a positive number");
      c.qps.push_back(q.get<double>());
    }
  }
  if (has("slo_ms")) c.slo_ms = number(j, "slo_ms", what, true);
  if (has("max_batch")) c.max_batch = count(j, "max_batch", what);
  if (has("max_queue_delay_us")) c.max_queue_delay_us = number(j, "max_queue_delay_us", what, false);
  if (has("workers")) c.workers = count(j, "workers", what);
  if (has("threads")) c.threads = count(j, "threads", what);
  if (has("min_requests")) c.min_requests = count(j, "min_requests", what);
  if (has("min_step_s")) c.min_step_s = number(j, "min_step_s", what, false);
  if (has("drain_limit_s")) c.drain_limit_s = number(j, "drain_limit_s", what, true);
  if (has("seed")) {
    if (!member(j, "seed", what).is_number_unsigned()) bad(what, "\"seed\" must be a non-negative integer");
    c.seed = j["seed"].get<std::uint64_t>();
  }
  if (has("search_start_qps")) c.search_start_qps = number(j, "search_start_qps", what, true);
  if (has("search_tolerance")) c.search_tolerance = number(j, "search_tolerance", what, true);
  if (has("worker_spin_us")) c.worker_spin_us = number(j, "worker_spin_us", what, false);
  if (j.contains("generator_spin_us")) (void)number(j, "generator_spin_us", what, false);  // older files: a generator thread's poll
  return c;
}

StepResult step_from_json(const Json& j, const std::string& what) {
  StepResult s;
  step_fields(s, [&](const char* key, auto& value) {
    using T = std::decay_t<decltype(value)>;
    if (std::string_view(key) == "mean_service_ms" && !j.contains(key)) return;  // files before 2026-12-06: 0, not shown
    if constexpr (std::is_same_v<T, double>) value = number(j, key, what, false);
    else if constexpr (std::is_same_v<T, bool>) value = boolean(j, key, what);
    else value = whole(j, key, what);
  });
  if (s.offered_qps == 0) bad(what, "\"offered_qps\" must be a finite positive number");
  if (!(s.p50_ms <= s.p90_ms && s.p90_ms <= s.p99_ms && s.p99_ms <= s.p999_ms && s.p999_ms <= s.max_ms)) {
    bad(what, "latencies out of order (need p50 <= p90 <= p99 <= p99.9 <= max)");
  }
  if (s.completed > s.issued) bad(what, "more requests completed than issued");
  return s;
}

// A run: measured steps only in a measured run, simulated ones only in a simulated run, which says where from.
ServingRun serving_run_from_json(const Json& j, const std::string& what, const ServeConfig& all) {
  ServingRun r;
  r.device = string_member(j, "device", what);
  if (r.device != "CPU" && r.device != "GPU") bad(what, "\"device\" must be \"CPU\" or \"GPU\", not \"" + r.device + "\"");
  r.backend = string_member(j, "backend", what);
  r.config = string_member(j, "config", what);
  r.source = string_member(j, "source", what);
  if (r.source != "measured" && r.source != "simulated") bad(what, "\"source\" must be \"measured\" or \"simulated\", not \"" + r.source + "\"");
  if (j.contains("simulated_from")) r.simulated_from = string_member(j, "simulated_from", what);
  if ((r.source == "simulated") == r.simulated_from.empty()) bad(what, "a simulated run, and only one, says where its latencies came from (\"simulated_from\")");
  r.search.best_qps = number(j, "best_qps", what, false);
  r.search.searched = boolean(j, "searched", what);
  r.search.interrupted = boolean(j, "interrupted", what);
  r.search.config = j.contains("settings") ? serve_config_from_json(j["settings"], what + ".settings", all, false) : all;
  const Json& steps = member(j, "steps", what);
  if (!steps.is_array()) bad(what, "\"steps\" must be an array");
  for (std::size_t i = 0; i < steps.size(); ++i) {
    const std::string where = what + ".steps[" + std::to_string(i) + "]";
    r.search.steps.push_back(step_from_json(steps[i], where));
    if (r.search.steps.back().simulated != (r.source == "simulated")) bad(where, "a " + r.source + " run holds only " + r.source + " steps");
  }
  r.search.simulated = !r.search.steps.empty() && r.source == "simulated";  // as serve_load's search sets it
  return r;
}

Serving serving_from_json(const Json& j, const std::string& what) {
  Serving sv;
  sv.config = serve_config_from_json(member(j, "config", what), what + ".config", ServeConfig{}, true);
  const Json& runs = member(j, "runs", what);
  if (!runs.is_array()) bad(what, "\"runs\" must be an array");
  for (std::size_t i = 0; i < runs.size(); ++i) sv.runs.push_back(serving_run_from_json(runs[i], what + ".runs[" + std::to_string(i) + "]", sv.config));
  // "best" summarizes the runs: it must agree with them (catches hand edits of one but not the other).
  if (j.contains("best") && serving_best_to_json(sv) != j["best"]) bad(what, "\"best\" differs from the best rates of the runs");
  return sv;
}

}  // namespace

const ServingRun* best_serving_run(const Serving& serving, const std::string& device) {
  const ServingRun* best = nullptr;
  for (const ServingRun& r : serving.runs) {
    if (r.device != device) continue;
    const bool measured = r.source == "measured", best_measured = best && best->source == "measured";
    if (!best || (measured && !best_measured) || (measured == best_measured && r.search.best_qps > best->search.best_qps)) best = &r;
  }
  return best;
}

ModelInfo model_info(const Model& model) {
  ModelInfo m;
  m.layers = model.widths();
  m.origin = model.origin;
  return m;
}

namespace {

// A table's summary and cells, in file order: inference_times_ms, faster, crossover, [cheaper,] cells.
void table_to_json(const Table& t, const Prices& prices, Json& j) {
  Json times = Json::object(), cells = Json::object();
  for (const char* dev : kDevices) {
    Json tm = Json::object(), c = Json::object();
    for (int b : t.batch_sizes) {
      if (const Cell* cell = t.find(dev, b)) {
        if (cell->source != Source::Emulated) tm[std::to_string(b)] = round6(cell->median_ms());  // an emulated cell has no time
        c[std::to_string(b)] = cell_to_json(*cell, b, prices.given() ? prices.for_device(dev) : 0.0);
      }
    }
    times[dev] = std::move(tm);
    cells[dev] = std::move(c);
  }
  j["inference_times_ms"] = std::move(times);
  j["faster"] = verdicts(t, [&](int b) { return faster_at(t, b); });
  const Crossover x = crossover(t);
  j["crossover"] = x.batch ? Json{{"batch", *x.batch}, {"how", x.how}} : Json{{"batch", nullptr}, {"why", x.how}};
  if (prices.given()) {
    j["prices_usd_per_hour"] = {{"CPU", prices.cpu_usd_per_hour}, {"GPU", prices.gpu_usd_per_hour}};
    j["cheaper"] = verdicts(t, [&](int b) { return cheaper_at(t, b, prices); });
  }
  j["cells"] = std::move(cells);
}

}  // namespace

Json to_json(const Results& r) {
  Json j;
  j["schema"] = kSchema;
  if (!r.note.empty()) j["note"] = r.note;
  // First of all, whether a column was measured here or taken from a reference.
  j["sources"] = {{"CPU", column_source(r.table, "CPU")}, {"GPU", column_source(r.table, "GPU")}};
  table_to_json(r.table, r.prices, j);
  if (r.cold) {
    Json cold;
    table_to_json(*r.cold, Prices{}, cold);  // no cost per million: the prices' verdict (cheaper) is the hot cells'
    j["cold"] = std::move(cold);
  }
  if (r.serving) j["serving"] = serving_to_json(*r.serving);
  j["model"] = model_to_json(r.model);
  j["machine"] = to_json(r.machine);
  j["build"] = to_json(r.build);
  j["run"] = to_json(r.run);
  if (!r.not_measured.empty()) {
    Json nm = Json::object();
    for (const auto& [dev, why] : r.not_measured) nm[dev] = why;
    j["not_measured"] = std::move(nm);
  }
  if (!r.notes.empty()) j["notes"] = r.notes;
  if (!r.warnings.empty()) j["warnings"] = r.warnings;
  return j;
}

namespace {

void dump_to(const Json& j, int indent, std::string& out) {
  const std::string pad(indent + 2, ' ');
  if (j.is_object() && !j.empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& [key, value] : j.items()) {
      out += (first ? "" : ",\n") + pad + Json(key).dump() + ": ";
      dump_to(value, indent + 2, out);
      first = false;
    }
    out += "\n" + std::string(indent, ' ') + "}";
  } else if (j.is_array() && !j.empty() &&
             !std::all_of(j.begin(), j.end(), [](const Json& v) { return v.is_number(); })) {
    out += "[\n";
    for (std::size_t i = 0; i < j.size(); ++i) {
      out += (i ? ",\n" : "") + pad;
      dump_to(j[i], indent + 2, out);
    }
    out += "\n" + std::string(indent, ' ') + "]";
  } else {
    out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);  // scalars, {}, [], [numbers]
  }
}

}  // namespace

std::string dump_json(const Json& json) {
  std::string out;
  dump_to(json, 0, out);
  return out + "\n";
}

Results results_from_json(const Json& j, const std::string& what) {
  if (!j.is_object()) bad(what, "not a JSON object");
  const std::string schema = string_member(j, "schema", what);
  if (schema != kSchema) bad(what, "schema \"" + schema + "\" is not \"" + kSchema + "\"");
  Results r;
  if (j.contains("note") && j["note"].is_string()) r.note = j["note"].get<std::string>();
  r.table = cells_from_json(j, what);
  check_inference_times(j, r.table, what);
  // One cache mode per table: the headline cells all hot or all cold, and hot when a cold section holds the cold ones.
  std::optional<CacheMode> headline_mode;
  for (const auto& [device, per_batch] : r.table.cells) {
    for (const auto& [batch, cell] : per_batch) {
      if (cell.source != Source::Measured) continue;
      if (headline_mode && *headline_mode != cell.cache) bad(what, "the cells mix \"cache\": \"hot\" and \"cold\" (a cold run keeps them apart)");
      headline_mode = cell.cache;
    }
  }
  if (j.contains("cold")) {
    const Json& cold = j["cold"];
    const std::string where = what + ": cold";
    if (!cold.is_object()) bad(where, "not a JSON object");
    if (headline_mode == CacheMode::Cold) bad(what, "cold cells both in \"cells\" and in \"cold\" (with a cold section the cells are the hot ones)");
    r.cold = cells_from_json(cold, where);
    check_inference_times(cold, *r.cold, where);
    for (const auto& [device, per_batch] : r.cold->cells) {
      for (const auto& [batch, cell] : per_batch) {
        if (cell.cache != CacheMode::Cold) bad(where, device + " " + std::to_string(batch) + ": a cell of the cold table must have \"cache\": \"cold\"");
      }
    }
  }
  if (j.contains("serving")) r.serving = serving_from_json(j["serving"], what + ": serving");
  if (j.contains("model") && j["model"].is_object()) r.model = model_from_json(j["model"], what);
  section(j, "machine", what, r.machine, machine_from_json);
  section(j, "build", what, r.build, build_from_json);
  section(j, "run", what, r.run, run_from_json);
  if (j.contains("prices_usd_per_hour")) r.prices = prices_from_json(j["prices_usd_per_hour"], what);
  section(j, "not_measured", what, r.not_measured, [](const Json& nm, const std::string&) { return not_measured_from_json(nm); });
  r.warnings = strings(j, "warnings");
  r.notes = strings(j, "notes");
  return r;
}

namespace {

// Why `text` is plainly not JSON, in words a terminal can show: binary bytes (a NUL, which JSON never holds, or a
// control character or a byte above ASCII other than a UTF-8 byte order mark first), said of a safetensors file (an
// 8-byte little-endian header length, then its JSON header) as such; "" when it may be JSON.
std::string binary_text(const std::string& text) {
  const std::size_t first = text.find_first_not_of(" \t\r\n");
  const auto c = first == std::string::npos ? ' ' : static_cast<unsigned char>(text[first]);
  const bool binary_first = c < 0x20 || c == 0x7f || (c >= 0x80 && text.compare(first, 3, "\xef\xbb\xbf") != 0);
  if (!binary_first && text.find('\0') == std::string::npos) return "";
  std::uint64_t header = 0;
  for (std::size_t i = 0; i < 8 && i < text.size(); ++i) header |= std::uint64_t{static_cast<unsigned char>(text[i])} << (8 * i);
  const bool safetensors = text.size() > 8 && text[8] == '{' && header <= text.size() - 8;
  return safetensors ? "it starts with binary bytes; a safetensors file?" : binary_first ? "it starts with binary bytes" : "it holds binary bytes";
}

}  // namespace

Results parse_results_text(const std::string& text, const std::string& what) {
  if (const std::string binary = binary_text(text); !binary.empty()) throw InputError(what + " is not JSON (" + binary + ")");
  Json j;
  try {
    j = Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(what + " is not valid JSON: " + json_error_text(e));
  }
  try {
    return results_from_json(j, what);
  } catch (const nlohmann::json::exception& e) {  // a value of the wrong type somewhere the checks don't name
    throw InputError(what + ": " + printable(e.what()));
  }
}

bool names_a_folder(const std::string& out) {
  std::error_code ec;
  return out.empty() || (!is_stdout(out) && (out.back() == '/' || std::filesystem::is_directory(out, ec)));
}

std::string results_path(const std::string& out, std::time_t started) {
  const auto safe = [](std::string t) {
    for (char& c : t) c = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' ? c : '-';
    return t.empty() ? std::string("unknown") : t;
  };
  if (out.empty()) return results_path("results/", started);
  if (!names_a_folder(out)) return out;
  const std::string commit = std::string(kGitCommit).substr(0, 12);
  return (std::filesystem::path(out) / safe(host_name()) / (utc_compact(started) + "-" + safe(commit) + ".json")).string();
}

Results read_results(const std::string& path) { return parse_results_text(read_text_file(path, "results file"), "results file '" + path + "'"); }

}  // namespace mlpbench
