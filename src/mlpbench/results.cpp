// Results JSON: serialization, validated reading, atomic writes, machine and build metadata.
#include "mlpbench/results.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <Eigen/Core>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mlpbench/backend.hpp"
#include "mlpbench/build_info.hpp"
#include "mlpbench/errors.hpp"

namespace mlpbench {
namespace {

// Shortest decimal with 6 significant digits: keeps committed files small and diffs readable.
double round6(double v) {
  if (!std::isfinite(v) || v == 0) return v;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return std::strtod(buf, nullptr);
}

void split_to_json(const DeviceSplit& d, Json& j) {
  j["device_ms"] = round6(d.compute_ms);
  j["h2d_ms"] = round6(d.h2d_ms);
  j["d2h_ms"] = round6(d.d2h_ms);
}

Json cell_to_json(const Cell& c, int batch, double usd_per_hour) {
  Json j;
  j["source"] = source_name(c.source);
  j["backend"] = c.backend;
  if (c.source == Source::Reference) {
    j["median_ms"] = round6(c.stats.median_ms);
    j["file"] = c.reference_file;
    if (usd_per_hour > 0) j["usd_per_million"] = round6(usd_per_million(usd_per_hour, batch, c.median_ms()));
    return j;
  }
  if (!c.config.empty()) j["config"] = c.config;
  if (!c.io.empty()) j["io"] = c.io;
  const Stats& s = c.stats;
  j["median_ms"] = round6(s.median_ms);
  j["p90_ms"] = round6(s.p90_ms);
  j["p99_ms"] = round6(s.p99_ms);
  j["min_ms"] = round6(s.min_ms);
  j["max_ms"] = round6(s.max_ms);
  j["mean_ms"] = round6(s.mean_ms);
  j["cv"] = round6(s.cv);
  j["ci_rel"] = round6(s.ci_rel);
  j["samples"] = s.samples;
  j["passes_per_sample"] = s.passes_per_sample;
  j["converged"] = s.converged;
  if (c.split) split_to_json(*c.split, j);
  if (usd_per_hour > 0) j["usd_per_million"] = round6(usd_per_million(usd_per_hour, batch, c.median_ms()));
  if (!c.warnings.empty()) j["warnings"] = c.warnings;
  if (c.floor_ms > 0) {
    j["floor_ms"] = round6(c.floor_ms);
    j["floor_bound"] = c.floor_bound;
    j["efficiency"] = round6(c.efficiency());
  }
  if (c.energy) {
    const Energy& e = *c.energy;
    j["energy"] = e.unavailable.empty()
                      ? Json{{"joules_per_inference", round6(e.joules_per_inference)}, {"watts", round6(e.watts)}, {"window_s", round6(e.window_s)}}
                      : Json{{"unavailable", e.unavailable}};
  }
  if (c.runs.size() > 1) {
    // Every backend (and thread count) timed for this cell; the headline is the fastest of them.
    Json runs = Json::array();
    for (const BackendRun& r : c.runs) {
      Json b;
      b["backend"] = r.backend;
      if (!r.config.empty()) b["config"] = r.config;
      if (!r.io.empty()) b["io"] = r.io;
      b["median_ms"] = round6(r.stats.median_ms);
      b["p90_ms"] = round6(r.stats.p90_ms);
      b["min_ms"] = round6(r.stats.min_ms);
      b["cv"] = round6(r.stats.cv);
      b["samples"] = r.stats.samples;
      if (r.split) split_to_json(*r.split, b);
      runs.push_back(std::move(b));
    }
    j["backends"] = std::move(runs);
  }
  Json arr = Json::array();
  for (double v : s.samples_ms) arr.push_back(round6(v));
  j["samples_ms"] = std::move(arr);
  return j;
}

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

std::string string_member(const Json& obj, const char* key, const std::string& what) {
  const Json& v = member(obj, key, what);
  if (!v.is_string()) bad(what, std::string("\"") + key + "\" must be a string");
  return v.get<std::string>();
}

int batch_key(const std::string& key, const std::string& what) {
  // Keys are decimal batch sizes: "1", "10", "100".
  if (key.empty() || key.size() > 9 || key[0] == '0' || key.find_first_not_of("0123456789") != std::string::npos) {
    bad(what, "batch size key \"" + key + "\" is not a positive integer");
  }
  return std::stoi(key);
}

Cell cell_from_json(const Json& j, const std::string& what, const std::string& file) {
  Cell c;
  const std::string source = string_member(j, "source", what);
  c.backend = string_member(j, "backend", what);
  c.stats.median_ms = number(j, "median_ms", what, true);
  if (source == "reference") {
    c.source = Source::Reference;
    c.reference_file = j.contains("file") && j["file"].is_string() ? j["file"].get<std::string>() : file;
    return c;
  }
  if (source != "measured") bad(what, "\"source\" must be \"measured\" or \"reference\", not \"" + source + "\"");
  c.source = Source::Measured;
  if (j.contains("config")) c.config = string_member(j, "config", what);
  Stats& s = c.stats;
  s.p90_ms = number(j, "p90_ms", what, true);
  s.p99_ms = number(j, "p99_ms", what, true);
  s.min_ms = number(j, "min_ms", what, true);
  s.mean_ms = number(j, "mean_ms", what, true);
  s.cv = number(j, "cv", what, false);
  const double n = number(j, "samples", what, true);
  if (n != std::floor(n) || n > 1e9) bad(what, "\"samples\" must be a positive integer");
  s.samples = static_cast<int>(n);
  if (!(s.min_ms <= s.median_ms && s.median_ms <= s.p90_ms && s.p90_ms <= s.p99_ms)) {
    bad(what, "statistics out of order (need min <= median <= p90 <= p99)");
  }
  if (j.contains("max_ms")) {
    s.max_ms = number(j, "max_ms", what, true);
    if (s.max_ms < s.p99_ms) bad(what, "statistics out of order (need p99 <= max)");
  }
  if (j.contains("ci_rel")) s.ci_rel = number(j, "ci_rel", what, false);
  if (j.contains("passes_per_sample")) {
    const double p = number(j, "passes_per_sample", what, true);
    if (p != std::floor(p) || p > 1e9) bad(what, "\"passes_per_sample\" must be a positive integer");  // and fit in an int
    s.passes_per_sample = static_cast<int>(p);
  }
  if (j.contains("converged")) {
    if (!j["converged"].is_boolean()) bad(what, "\"converged\" must be true or false");
    s.converged = j["converged"].get<bool>();
  }
  if (j.contains("warnings") && j["warnings"].is_array()) {
    for (const Json& w : j["warnings"]) {
      if (w.is_string()) c.warnings.push_back(w.get<std::string>());
    }
  }
  if (j.contains("floor_ms")) {
    c.floor_ms = number(j, "floor_ms", what, true);
    c.floor_bound = j.contains("floor_bound") ? string_member(j, "floor_bound", what) : "";
  }
  if (j.contains("io")) c.io = string_member(j, "io", what);
  if (j.contains("energy")) {
    const Json& e = j["energy"];
    const std::string where = what + ".energy";
    Energy en;
    if (e.is_object() && e.contains("unavailable")) {
      en.unavailable = string_member(e, "unavailable", where);
    } else {
      en.joules_per_inference = number(e, "joules_per_inference", where, false);
      en.watts = number(e, "watts", where, false);
      en.window_s = number(e, "window_s", where, false);
    }
    c.energy = en;
  }
  if (j.contains("device_ms")) {
    DeviceSplit d;
    d.compute_ms = number(j, "device_ms", what, false);
    d.h2d_ms = number(j, "h2d_ms", what, false);
    d.d2h_ms = number(j, "d2h_ms", what, false);
    c.split = d;
  }
  if (j.contains("backends")) {
    const Json& runs = j["backends"];
    if (!runs.is_array()) bad(what, "\"backends\" must be an array");
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
      r.stats.samples = static_cast<int>(number(b, "samples", where, true));
      if (b.contains("device_ms")) r.split = DeviceSplit{number(b, "h2d_ms", where, false), number(b, "device_ms", where, false), number(b, "d2h_ms", where, false)};
      c.runs.push_back(std::move(r));
    }
  }
  if (j.contains("samples_ms")) {
    const Json& arr = j["samples_ms"];
    if (!arr.is_array()) bad(what, "\"samples_ms\" must be an array");
    for (const Json& v : arr) {
      if (!v.is_number() || !std::isfinite(v.get<double>()) || v.get<double>() <= 0) bad(what, "\"samples_ms\" holds a value that is not a positive number");
      s.samples_ms.push_back(v.get<double>());
    }
    if (s.samples_ms.size() != static_cast<std::size_t>(s.samples)) bad(what, "\"samples_ms\" has " + std::to_string(s.samples_ms.size()) + " values but \"samples\" is " + std::to_string(s.samples));
  }
  return c;
}

std::string errno_text() { return std::strerror(errno); }

// The temporary file being written, for the signal handler (a plain pointer: async-signal-safe to read).
std::atomic<const char*> g_temp_file{nullptr};

extern "C" void remove_temp_and_reraise(int sig) {
  if (const char* p = g_temp_file.load()) ::unlink(p);
  std::signal(sig, SIG_DFL);
  std::raise(sig);
}

std::string read_file_text(const std::string& path) {
  std::error_code ec;  // a folder opens and reads as empty, which would be reported as invalid JSON
  if (std::filesystem::is_directory(path, ec)) throw InputError("results file '" + path + "' is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot open results file '" + path + "': " + errno_text());
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) throw InputError("cannot read results file '" + path + "': " + errno_text());
  return ss.str();
}

}  // namespace

ModelInfo model_info(const Model& model) {
  ModelInfo m;
  m.layers = model.widths();
  m.origin = model.origin;
  return m;
}

Json to_json(const Results& r) {
  Json j;
  j["schema"] = kSchema;
  if (!r.note.empty()) j["note"] = r.note;
  Json times = Json::object(), faster = Json::object(), cells = Json::object();
  for (const char* dev : kDevices) {
    Json t = Json::object(), c = Json::object();
    for (int b : r.table.batch_sizes) {
      if (const Cell* cell = r.table.find(dev, b)) {
        t[std::to_string(b)] = round6(cell->median_ms());
        c[std::to_string(b)] = cell_to_json(*cell, b, r.prices.given() ? r.prices.for_device(dev) : 0.0);
      }
    }
    times[dev] = std::move(t);
    cells[dev] = std::move(c);
  }
  for (int b : r.table.batch_sizes) {
    if (auto f = faster_at(r.table, b)) faster[std::to_string(b)] = *f;
  }
  j["inference_times_ms"] = std::move(times);
  j["faster"] = std::move(faster);
  const Crossover x = crossover(r.table);
  j["crossover"] = x.batch ? Json{{"batch", *x.batch}, {"how", x.how}} : Json{{"batch", nullptr}, {"why", x.how}};
  if (r.prices.given()) {
    j["prices_usd_per_hour"] = {{"CPU", r.prices.cpu_usd_per_hour}, {"GPU", r.prices.gpu_usd_per_hour}};
    Json cheaper = Json::object();
    for (int b : r.table.batch_sizes) {
      if (auto c = cheaper_at(r.table, b, r.prices)) cheaper[std::to_string(b)] = *c;
    }
    j["cheaper"] = std::move(cheaper);
  }
  j["cells"] = std::move(cells);
  Json model;
  model["layers"] = r.model.layers;
  model["activation"] = r.model.activation;
  model["dtype"] = r.model.dtype;
  Json origin;
  origin["kind"] = r.model.origin.kind;
  if (r.model.origin.kind == "seed") origin["seed"] = r.model.origin.seed;
  if (r.model.origin.kind == "file") {
    origin["file"] = r.model.origin.file;
    origin["sha256"] = r.model.origin.sha256;
  }
  model["weights"] = std::move(origin);
  j["model"] = std::move(model);
  j["machine"] = r.machine;
  j["build"] = r.build;
  j["run"] = r.run;
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
  const Json& cells = member(j, "cells", what);
  if (!cells.is_object()) bad(what, "\"cells\" must be an object");
  for (const auto& [dev, per_batch] : cells.items()) {
    if (dev != "CPU" && dev != "GPU") bad(what, "device \"" + dev + "\" in \"cells\" is not CPU or GPU");
    if (!per_batch.is_object()) bad(what, "cells." + dev + " must be an object");
    for (const auto& [key, cell] : per_batch.items()) {
      const int b = batch_key(key, what + ": cells." + dev);
      r.table.set(dev, b, cell_from_json(cell, what + ": cells." + dev + "." + key, what));
    }
  }
  if (r.table.batch_sizes.empty()) bad(what, "\"cells\" holds no cell");
  // inference_times_ms must agree with the cells it summarizes (catches hand edits of one but not the other).
  if (j.contains("inference_times_ms")) {
    const Json& times = j["inference_times_ms"];
    if (!times.is_object()) bad(what, "\"inference_times_ms\" must be an object");
    for (const auto& [dev, per_batch] : times.items()) {
      if (!per_batch.is_object()) bad(what, "inference_times_ms." + dev + " must be an object");
      for (const auto& [key, v] : per_batch.items()) {
        const int b = batch_key(key, what + ": inference_times_ms." + dev);
        const Cell* c = r.table.find(dev, b);
        if (!c) bad(what, "inference_times_ms." + dev + "." + key + " has no matching cell");
        if (!v.is_number() || std::fabs(v.get<double>() - c->median_ms()) > 1e-9 * std::max(1.0, c->median_ms())) {
          bad(what, "inference_times_ms." + dev + "." + key + " differs from cells." + dev + "." + key + ".median_ms");
        }
      }
    }
  }
  if (j.contains("model") && j["model"].is_object()) {
    const Json& m = j["model"];
    if (m.contains("layers") && m["layers"].is_array()) {
      for (const Json& w : m["layers"]) {
        if (!w.is_number_integer() || w.get<long long>() < 1 || w.get<long long>() > kMaxWidth) bad(what, "model.layers holds an invalid width");
        r.model.layers.push_back(w.get<int>());
      }
    }
    if (m.contains("activation") && m["activation"].is_string()) r.model.activation = m["activation"].get<std::string>();
    if (m.contains("dtype") && m["dtype"].is_string()) r.model.dtype = m["dtype"].get<std::string>();
    if (m.contains("weights") && m["weights"].is_object()) {
      const Json& o = m["weights"];
      if (o.contains("kind") && o["kind"].is_string()) r.model.origin.kind = o["kind"].get<std::string>();
      if (o.contains("seed") && o["seed"].is_number_unsigned()) r.model.origin.seed = o["seed"].get<std::uint64_t>();
      if (o.contains("file") && o["file"].is_string()) r.model.origin.file = o["file"].get<std::string>();
      if (o.contains("sha256") && o["sha256"].is_string()) r.model.origin.sha256 = o["sha256"].get<std::string>();
    }
  }
  if (j.contains("machine") && j["machine"].is_object()) r.machine = j["machine"];
  if (j.contains("build") && j["build"].is_object()) r.build = j["build"];
  if (j.contains("run") && j["run"].is_object()) r.run = j["run"];
  if (j.contains("prices_usd_per_hour")) {
    const Json& p = j["prices_usd_per_hour"];
    r.prices.cpu_usd_per_hour = number(p, "CPU", what + ": prices_usd_per_hour", true);
    r.prices.gpu_usd_per_hour = number(p, "GPU", what + ": prices_usd_per_hour", true);
  }
  if (j.contains("not_measured") && j["not_measured"].is_object()) {
    for (const auto& [dev, why] : j["not_measured"].items()) {
      if (why.is_string()) r.not_measured[dev] = why.get<std::string>();
    }
  }
  if (j.contains("warnings") && j["warnings"].is_array()) {
    for (const Json& w : j["warnings"]) {
      if (w.is_string()) r.warnings.push_back(w.get<std::string>());
    }
  }
  if (j.contains("notes") && j["notes"].is_array()) {
    for (const Json& n : j["notes"]) {
      if (n.is_string()) r.notes.push_back(n.get<std::string>());
    }
  }
  return r;
}

Results parse_results_text(const std::string& text, const std::string& what) {
  Json j;
  try {
    j = Json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(what + " is not valid JSON: " + json_error_text(e));
  }
  try {
    return results_from_json(j, what);
  } catch (const nlohmann::json::exception& e) {  // a value of the wrong type somewhere the checks don't name
    throw InputError(what + ": " + e.what());
  }
}

Results read_results(const std::string& path) { return parse_results_text(read_file_text(path), "results file '" + path + "'"); }

namespace {

// What every output goes through first: not a folder, not an existing file unless `force`, and its
// folder made if missing. Returns the folder.
std::filesystem::path output_folder(const std::string& path, bool force) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  std::error_code ec;
  if (fs::is_directory(target, ec)) throw InputError("output '" + path + "' is a directory");
  if (!force && fs::exists(target, ec)) throw InputError("output '" + path + "' exists; pass --force to replace it");
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  fs::create_directories(dir, ec);
  if (ec) throw RuntimeError("cannot create folder '" + dir.string() + "': " + ec.message());
  return dir;
}

}  // namespace

void write_binary_atomic(const std::string& path, const std::vector<std::uint8_t>& bytes, bool force) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = output_folder(path, force);

  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp.XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw RuntimeError("cannot write in '" + dir.string() + "': " + errno_text());
  g_temp_file.store(tmpl.c_str());
  struct Cleanup {  // removes the temporary file on every path that doesn't rename it into place
    std::string path;
    bool armed = true;
    ~Cleanup() {
      g_temp_file.store(nullptr);
      if (armed) ::unlink(path.c_str());
    }
  } cleanup{tmpl};
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = errno_text();
      ::close(fd);
      throw RuntimeError("cannot write '" + path + "': " + why);
    }
    done += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, 0644);
  const bool synced = ::fsync(fd) == 0;
  const std::string sync_error = synced ? "" : errno_text();
  if (::close(fd) != 0 || !synced) throw RuntimeError("cannot write '" + path + "': " + (synced ? errno_text() : sync_error));
  if (force) {
    if (::rename(tmpl.c_str(), path.c_str()) != 0) throw RuntimeError("cannot rename into '" + path + "': " + errno_text());
  } else {
    // link() fails if the target appeared meanwhile: never replaces a file without --force.
    if (::link(tmpl.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) throw InputError("output '" + path + "' exists; pass --force to replace it");
      throw RuntimeError("cannot create '" + path + "': " + errno_text());
    }
    ::unlink(tmpl.c_str());
  }
  cleanup.armed = false;
}

void check_writable(const std::string& path, bool force) {
  const std::filesystem::path dir = output_folder(path, force);
  std::string probe = (dir / ".mlpbench-write-check.XXXXXX").string();
  const int fd = ::mkstemp(probe.data());
  if (fd < 0) throw RuntimeError("cannot write in '" + dir.string() + "': " + errno_text());
  ::close(fd);
  ::unlink(probe.c_str());
}

void install_interrupt_cleanup() {
  struct sigaction sa {};
  sa.sa_handler = remove_temp_and_reraise;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
}

void write_text_atomic(const std::string& path, const std::string& text, bool force) {
  write_binary_atomic(path, std::vector<std::uint8_t>(text.begin(), text.end()), force);
}

namespace {

std::string utc_format(std::time_t t, const char* format) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, format, &tm);
  return buf;
}

}  // namespace

std::string utc_iso8601(std::time_t t) { return utc_format(t, "%Y-%m-%dT%H:%M:%SZ"); }
std::string utc_compact(std::time_t t) { return utc_format(t, "%Y%m%dT%H%M%SZ"); }

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    const auto colon = line.find(':');
    if (line.rfind("model name", 0) == 0 && colon != std::string::npos) {
      std::string v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "unknown";
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0) return "host";
  return buf;
}

Json collect_machine_info(int threads_used, const GpuBackends* gpu) {
  Json m;
  m["host"] = host_name();
  m["cpu"] = cpu_model();
  m["cores"] = available_cores();
  m["threads"] = threads_used;
  utsname u{};
  if (::uname(&u) == 0) m["os"] = std::string(u.sysname) + " " + u.release + " " + u.machine;
  if (gpu && !gpu->gpu_name.empty()) {
    Json g;
    g["name"] = gpu->gpu_name;
    g["driver"] = gpu->driver_version;
    g["cuda_runtime"] = gpu->runtime_version;
    m["gpu"] = std::move(g);
  } else {
    m["gpu"] = nullptr;
  }
  return m;
}

Json build_info(const std::string& cuda) {
  Json b;
#if defined(__clang__)
  b["compiler"] = std::string("clang ") + __clang_version__;
#elif defined(__GNUC__)
  b["compiler"] = std::string("gcc ") + __VERSION__;
#else
  b["compiler"] = "unknown";
#endif
  b["build_type"] = kBuildType;
  b["flags"] = kBuildFlags;
  b["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." + std::to_string(EIGEN_MINOR_VERSION);
  b["cuda"] = cuda.empty() ? Json(nullptr) : Json(cuda);
  b["git_commit"] = kGitCommit;
  return b;
}

}  // namespace mlpbench
