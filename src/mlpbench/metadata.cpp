// See metadata.hpp.
#include "mlpbench/metadata.hpp"

#include <algorithm>
#include <initializer_list>

#include "mlpbench/errors.hpp"

namespace mlpbench {
namespace {

template <class T>
void put(Json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}

template <class T>
bool holds(const Json& v) {
  if constexpr (std::is_same_v<T, std::string>) return v.is_string();
  else if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
  else if constexpr (std::is_same_v<T, std::uint64_t>) return v.is_number_unsigned();
  else if constexpr (std::is_same_v<T, std::vector<int>>) {
    return v.is_array() && std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_number_integer(); });
  } else {
    return v.is_number_integer();
  }
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_same_v<T, std::vector<int>>) return "an array of integers";
  else return "an integer";
}

// out = j[key] when j has it (InputError naming what.key when it has the wrong type).
template <class T>
void take(const Json& j, const char* key, std::optional<T>& out, const std::string& what) {
  const auto it = j.find(key);
  if (it == j.end()) return;
  if (!holds<T>(*it)) throw InputError(what + "." + key + " must be " + type_name<T>());
  out = it->template get<T>();
}

// The object's keys not among `known`, in their order.
Json extra_keys(const Json& j, std::initializer_list<const char*> known) {
  Json extra = Json::object();
  for (const auto& [key, value] : j.items()) {
    if (std::none_of(known.begin(), known.end(), [&](const char* k) { return key == k; })) extra[key] = value;
  }
  return extra;
}

void append(Json& j, const Json& extra) {
  for (const auto& [key, value] : extra.items()) j[key] = value;
}

void require_object(const Json& j, const std::string& what) {
  if (!j.is_object()) throw InputError(what + " must be an object");
}

}  // namespace

Json to_json(const MachineInfo& m) {
  Json j = Json::object();
  put(j, "host", m.host);
  put(j, "cpu", m.cpu);
  put(j, "cores", m.cores);
  put(j, "threads", m.threads);
  put(j, "os", m.os);
  if (m.gpu_recorded) {
    if (m.gpu) {
      Json g = {{"name", m.gpu->name}, {"driver", m.gpu->driver}, {"cuda_runtime", m.gpu->cuda_runtime}};
      append(g, m.gpu->extra);
      j["gpu"] = std::move(g);
    } else {
      j["gpu"] = nullptr;
    }
  }
  if (m.gpu_clocks_mhz) j["gpu_clocks_mhz"] = {{"start", m.gpu_clocks_mhz->start}, {"end", m.gpu_clocks_mhz->end}, {"max", m.gpu_clocks_mhz->max}};
  if (!m.roof.is_null()) j["roof"] = m.roof;
  append(j, m.extra);
  return j;
}

MachineInfo machine_from_json(const Json& j, const std::string& what) {
  require_object(j, what);
  MachineInfo m;
  take(j, "host", m.host, what);
  take(j, "cpu", m.cpu, what);
  take(j, "cores", m.cores, what);
  take(j, "threads", m.threads, what);
  take(j, "os", m.os, what);
  if (const auto g = j.find("gpu"); g != j.end()) {
    m.gpu_recorded = true;
    if (!g->is_null()) {
      const std::string where = what + ".gpu";
      require_object(*g, where);
      std::optional<std::string> name, driver, runtime;
      take(*g, "name", name, where);
      take(*g, "driver", driver, where);
      take(*g, "cuda_runtime", runtime, where);
      m.gpu = GpuInfo{name.value_or(""), driver.value_or(""), runtime.value_or(""), extra_keys(*g, {"name", "driver", "cuda_runtime"})};
    }
  }
  if (const auto c = j.find("gpu_clocks_mhz"); c != j.end()) {
    const std::string where = what + ".gpu_clocks_mhz";
    require_object(*c, where);
    std::optional<int> start, end, max;
    take(*c, "start", start, where);
    take(*c, "end", end, where);
    take(*c, "max", max, where);
    m.gpu_clocks_mhz = GpuClockReadings{static_cast<unsigned>(start.value_or(0)), static_cast<unsigned>(end.value_or(0)),
                                        static_cast<unsigned>(max.value_or(0))};
  }
  if (const auto r = j.find("roof"); r != j.end()) m.roof = *r;
  m.extra = extra_keys(j, {"host", "cpu", "cores", "threads", "os", "gpu", "gpu_clocks_mhz", "roof"});
  return m;
}

Json to_json(const BuildInfo& b) {
  Json j = Json::object();
  put(j, "compiler", b.compiler);
  put(j, "build_type", b.build_type);
  put(j, "flags", b.flags);
  put(j, "eigen", b.eigen);
  if (b.cuda_recorded) j["cuda"] = b.cuda ? Json(*b.cuda) : Json(nullptr);
  put(j, "git_commit", b.git_commit);
  append(j, b.extra);
  return j;
}

BuildInfo build_from_json(const Json& j, const std::string& what) {
  require_object(j, what);
  BuildInfo b;
  take(j, "compiler", b.compiler, what);
  take(j, "build_type", b.build_type, what);
  take(j, "flags", b.flags, what);
  take(j, "eigen", b.eigen, what);
  if (const auto c = j.find("cuda"); c != j.end()) {
    b.cuda_recorded = true;
    if (!c->is_null()) take(j, "cuda", b.cuda, what);
  }
  take(j, "git_commit", b.git_commit, what);
  b.extra = extra_keys(j, {"compiler", "build_type", "flags", "eigen", "cuda", "git_commit"});
  return b;
}

Json to_json(const RunInfo& r) {
  Json j = Json::object();
  put(j, "started_utc", r.started_utc);
  put(j, "command", r.command);
  put(j, "batch_sizes", r.batch_sizes);
  put(j, "device", r.device);
  put(j, "precision", r.precision);
  put(j, "gpu_io", r.gpu_io);
  put(j, "quick", r.quick);
  put(j, "input_seed", r.input_seed);
  put(j, "threads", r.threads);
  append(j, r.extra);
  return j;
}

RunInfo run_from_json(const Json& j, const std::string& what) {
  require_object(j, what);
  RunInfo r;
  take(j, "started_utc", r.started_utc, what);
  take(j, "command", r.command, what);
  take(j, "batch_sizes", r.batch_sizes, what);
  take(j, "device", r.device, what);
  take(j, "precision", r.precision, what);
  take(j, "gpu_io", r.gpu_io, what);
  take(j, "quick", r.quick, what);
  take(j, "input_seed", r.input_seed, what);
  take(j, "threads", r.threads, what);
  r.extra = extra_keys(j, {"started_utc", "command", "batch_sizes", "device", "precision", "gpu_io", "quick", "input_seed", "threads"});
  return r;
}

std::string gpu_text(const MachineInfo& m) {
  if (!m.gpu_recorded) return "";
  return m.gpu ? m.gpu->name : "none";
}

std::string threads_text(const RunInfo& r) { return r.threads ? Json(*r.threads).dump() : ""; }

}  // namespace mlpbench
