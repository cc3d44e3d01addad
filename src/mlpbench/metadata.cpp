// See metadata.hpp. Each struct lists its fields once, in file order (fields()); one visitor writes them, another
// reads them, and the keys the list does not name are the `extra` ones.
#include "mlpbench/metadata.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <type_traits>

#include "mlpbench/errors.hpp"

namespace mlpbench {
namespace {

// ---- the fields, in the order they are written --------------------------------------------------------

template <class Info, class Visit>
void fields(Info& g, Visit&& v, std::enable_if_t<std::is_same_v<std::remove_const_t<Info>, GpuInfo>>* = nullptr) {
  v("name", g.name);
  v("driver", g.driver);
  v("cuda_runtime", g.cuda_runtime);
}

template <class Info, class Visit>
void fields(Info& c, Visit&& v, std::enable_if_t<std::is_same_v<std::remove_const_t<Info>, GpuClockReadings>>* = nullptr) {
  v("start", c.start);
  v("end", c.end);
  v("max", c.max);
  v("timed", c.timed);
}

template <class Info, class Visit>
void fields(Info& c, Visit&& v, std::enable_if_t<std::is_same_v<std::remove_const_t<Info>, GpuClockSamples>>* = nullptr) {
  v("readings", c.readings);
  v("min", c.min);
  v("median", c.median);
  v("max", c.max);
  v("reasons", c.reasons);
}

template <class Info, class Visit>
void fields(Info& d, Visit&& v, std::enable_if_t<std::is_same_v<std::remove_const_t<Info>, DriftProbe>>* = nullptr) {
  v("version", d.version);
  v("median_ms", d.median_ms);
  v("spread", d.spread);
  v("rounds_ms", d.rounds_ms);
}

template <class Info, class Visit>
void fields(Info& m, Visit&& v, std::enable_if_t<std::is_same_v<std::remove_const_t<Info>, MachineInfo>>* = nullptr) {
  v("host", m.host);
  v("cpu", m.cpu);
  v("cores", m.cores);
  v("threads", m.threads);
  v("os", m.os);
  v.nullable("gpu", m.gpu_recorded, m.gpu);
  v("gpu_clocks_mhz", m.gpu_clocks_mhz);
  v("roof", m.roof);
}

template <class Info, class Visit>
void fields(Info& b, Visit&& v, std::enable_if_t<std::is_same_v<std::remove_const_t<Info>, BuildInfo>>* = nullptr) {
  v("compiler", b.compiler);
  v("build_type", b.build_type);
  v("flags", b.flags);
  v("eigen", b.eigen);
  v.nullable("cuda", b.cuda_recorded, b.cuda);
  v("git_commit", b.git_commit);
}

template <class Info, class Visit>
void fields(Info& r, Visit&& v, std::enable_if_t<std::is_same_v<std::remove_const_t<Info>, RunInfo>>* = nullptr) {
  v("started_utc", r.started_utc);
  v("command", r.command);
  v("batch_sizes", r.batch_sizes);
  v("device", r.device);
  v("precision", r.precision);
  v("gpu_io", r.gpu_io);
  v("cache", r.cache);
  v("quick", r.quick);
  v("input_seed", r.input_seed);
  v("threads", r.threads);
  v("drift", r.drift);
}

template <class T>
constexpr bool kIsStruct =
    std::is_same_v<T, GpuInfo> || std::is_same_v<T, GpuClockReadings> || std::is_same_v<T, GpuClockSamples> || std::is_same_v<T, DriftProbe>;

template <class T>
struct IsOptional : std::false_type {};
template <class T>
struct IsOptional<std::optional<T>> : std::true_type {};

// ---- writing ----------------------------------------------------------------------------------------

Json struct_json(const GpuInfo& g);
Json struct_json(const GpuClockReadings& c);
Json struct_json(const GpuClockSamples& c);
Json struct_json(const DriftProbe& d);

struct Writer {
  Json& j;
  template <class T>
  Json value(const T& v) {
    if constexpr (kIsStruct<T>) return struct_json(v);
    else if constexpr (std::is_same_v<T, double>) return Json(round6(v));
    else if constexpr (std::is_same_v<T, std::vector<double>>) {
      Json a = Json::array();
      for (double x : v) a.push_back(round6(x));
      return a;
    } else {
      return Json(v);
    }
  }
  template <class T>
  void operator()(const char* key, const T& v) {
    if constexpr (IsOptional<T>::value) {
      if (v) j[key] = value(*v);
    } else if constexpr (std::is_same_v<T, Json>) {
      if (!v.is_null()) j[key] = v;  // null: not recorded
    } else {
      j[key] = value(v);
    }
  }
  template <class T>
  void nullable(const char* key, bool recorded, const std::optional<T>& v) {  // absent, null, or a value
    if (recorded) j[key] = v ? value(*v) : Json(nullptr);
  }
};

template <class Info>
Json write(const Info& info, const Json& extra) {
  Json j = Json::object();
  fields(info, Writer{j});
  for (const auto& [key, value] : extra.items()) j[key] = value;
  return j;
}

Json struct_json(const GpuInfo& g) { return write(g, g.extra); }
Json struct_json(const GpuClockReadings& c) { return write(c, Json::object()); }
Json struct_json(const GpuClockSamples& c) { return write(c, Json::object()); }
Json struct_json(const DriftProbe& d) { return write(d, Json::object()); }

// ---- reading ----------------------------------------------------------------------------------------

template <class T>
bool holds(const Json& v) {
  if constexpr (std::is_same_v<T, std::string>) return v.is_string();
  else if constexpr (std::is_same_v<T, bool>) return v.is_boolean();
  else if constexpr (std::is_same_v<T, std::uint64_t> || std::is_same_v<T, unsigned>) return v.is_number_unsigned();
  else if constexpr (std::is_same_v<T, double>) return v.is_number();
  else if constexpr (std::is_same_v<T, std::vector<int>>) {
    return v.is_array() && std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_number_integer(); });
  } else if constexpr (std::is_same_v<T, std::vector<double>>) {
    return v.is_array() && std::all_of(v.begin(), v.end(), [](const Json& e) { return e.is_number(); });
  } else {
    return v.is_number_integer();
  }
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, std::string>) return "a string";
  else if constexpr (std::is_same_v<T, bool>) return "true or false";
  else if constexpr (std::is_same_v<T, double>) return "a number";
  else if constexpr (std::is_same_v<T, std::vector<int>>) return "an array of integers";
  else if constexpr (std::is_same_v<T, std::vector<double>>) return "an array of numbers";
  else if constexpr (std::is_same_v<T, std::uint64_t> || std::is_same_v<T, unsigned>) return "a non-negative integer";
  else return "an integer";
}

void require_object(const Json& j, const std::string& what) {
  if (!j.is_object()) throw InputError(what + " must be an object");
}

template <class Info>
Info read(const Json& j, const std::string& what);

struct Reader {
  const Json& j;
  const std::string& what;
  std::vector<std::string>& known;

  template <class T>
  T value(const Json& v, const char* key) {
    const std::string where = what + "." + key;
    if constexpr (kIsStruct<T>) {
      return read<T>(v, where);
    } else {
      if (!holds<T>(v)) throw InputError(where + " must be " + type_name<T>());
      return v.template get<T>();
    }
  }
  template <class T>
  void operator()(const char* key, T& out) {
    known.push_back(key);
    const auto it = j.find(key);
    if (it == j.end()) return;
    if constexpr (IsOptional<T>::value) out = value<typename T::value_type>(*it, key);
    else if constexpr (std::is_same_v<T, Json>) out = *it;
    else out = value<T>(*it, key);
  }
  template <class T>
  void nullable(const char* key, bool& recorded, std::optional<T>& out) {
    known.push_back(key);
    const auto it = j.find(key);
    if (it == j.end()) return;
    recorded = true;
    if (!it->is_null()) out = value<T>(*it, key);
  }
};

// The object's keys that `known` does not name, in their order.
Json extra_keys(const Json& j, const std::vector<std::string>& known) {
  Json extra = Json::object();
  for (const auto& [key, value] : j.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) extra[key] = value;
  }
  return extra;
}

template <class Info>
Info read(const Json& j, const std::string& what) {
  require_object(j, what);
  Info info;
  std::vector<std::string> known;
  fields(info, Reader{j, what, known});
  if constexpr (!std::is_same_v<Info, GpuClockReadings> && !std::is_same_v<Info, GpuClockSamples> && !std::is_same_v<Info, DriftProbe>) {
    info.extra = extra_keys(j, known);
  }
  return info;
}

}  // namespace

double round6(double v) {
  if (!std::isfinite(v) || v == 0) return v;
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return std::strtod(buf, nullptr);
}

Json to_json(const MachineInfo& m) { return write(m, m.extra); }
Json to_json(const BuildInfo& b) { return write(b, b.extra); }
Json to_json(const RunInfo& r) { return write(r, r.extra); }
MachineInfo machine_from_json(const Json& j, const std::string& what) { return read<MachineInfo>(j, what); }
BuildInfo build_from_json(const Json& j, const std::string& what) { return read<BuildInfo>(j, what); }
RunInfo run_from_json(const Json& j, const std::string& what) { return read<RunInfo>(j, what); }

DriftProbe drift_of(std::vector<double> rounds_ms) {
  DriftProbe d;
  d.version = 2;
  if (rounds_ms.empty()) return d;
  std::vector<double> sorted = rounds_ms;
  std::sort(sorted.begin(), sorted.end());
  const std::size_t n = sorted.size();
  d.median_ms = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  d.spread = d.median_ms > 0 ? (sorted.back() - sorted.front()) / d.median_ms : 0;
  d.rounds_ms = std::move(rounds_ms);
  return d;
}

std::string gpu_text(const MachineInfo& m) {
  if (!m.gpu_recorded) return "";
  return m.gpu ? m.gpu->name : "none";
}

std::string threads_text(const RunInfo& r) { return r.threads ? Json(*r.threads).dump() : ""; }

}  // namespace mlpbench
