// See table.hpp.
#include "mlpbench/table.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <set>

#include "mlpbench/errors.hpp"

namespace mlpbench {

std::string format_ms(double ms) {
  if (!std::isfinite(ms)) return "n/a";
  if (ms == 0) return "0";
  const int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(ms))));
  const int decimals = std::clamp(3 - magnitude, 0, 12);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, ms);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
  }
  return s;
}

std::string aligned_columns(const std::vector<std::vector<std::string>>& rows, const std::vector<bool>& right, const std::string& gap) {
  std::vector<std::size_t> width;
  for (const auto& row : rows) {
    width.resize(std::max(width.size(), row.size()));
    for (std::size_t c = 0; c < row.size(); ++c) width[c] = std::max(width[c], row[c].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string pad(width[c] - row[c].size(), ' ');
      line += (c ? gap : "") + (c < right.size() && right[c] ? pad + row[c] : row[c] + pad);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  }
  return out;
}

std::vector<CacheMode> parse_cache_modes(const std::string& s) {
  if (s == "hot") return {CacheMode::Hot};
  if (s == "cold") return {CacheMode::Cold};
  if (s == "both") return {CacheMode::Hot, CacheMode::Cold};
  throw InputError("--cache: '" + s + "' is not hot, cold or both");
}

const Cell* Table::find(const std::string& device, int batch) const {
  const auto d = cells.find(device);
  if (d == cells.end()) return nullptr;
  const auto c = d->second.find(batch);
  return c == d->second.end() ? nullptr : &c->second;
}

void Table::set(const std::string& device, int batch, Cell cell) {
  cells[device][batch] = std::move(cell);
  if (std::find(batch_sizes.begin(), batch_sizes.end(), batch) == batch_sizes.end()) {
    batch_sizes.push_back(batch);
    std::sort(batch_sizes.begin(), batch_sizes.end());
  }
}

Cell best_of(std::vector<BackendRun> runs) {
  const auto best = std::min_element(runs.begin(), runs.end(),
                                     [](const BackendRun& a, const BackendRun& b) { return a.stats.median_ms < b.stats.median_ms; });
  Cell c;
  c.source = Source::Measured;
  c.backend = best->backend;
  c.config = best->config;
  c.io = best->io;
  c.cache = best->cache;
  c.threads = best->threads;
  c.bytes_per_weight = best->bytes_per_weight;
  c.stats = best->stats;
  c.split = best->split;
  c.runs = std::move(runs);
  return c;
}

std::string emulated_why(const std::string& emulator) {
  return "the GPU cell ran on the CUDA emulator (" + emulator + "): checked against the CPU, not timed";
}

Cell emulated_cell(std::vector<BackendRun> runs, const std::string& emulator) {
  Cell c;
  c.source = Source::Emulated;
  c.backend = runs.front().backend;
  c.config = runs.front().config;
  c.io = runs.front().io;
  c.cache = runs.front().cache;
  c.why = emulated_why(emulator);
  c.emulator = emulator;
  c.runs = std::move(runs);
  return c;
}

double usd_per_million(double usd_per_hour, int batch, double latency_ms) {
  const double inferences_per_hour = 3600.0 * batch / (latency_ms * 1e-3);
  return usd_per_hour / inferences_per_hour * 1e6;
}

bool is_measurement(const Cell& c) {
  return c.source == Source::Measured || (c.source == Source::Reference && c.provenance.kind == "measured");
}

std::string why_no_verdict(const Table& table, int batch) {
  std::vector<std::string> why;
  std::vector<std::string> illustrative;
  std::set<std::string> files;
  for (const char* device : kDevices) {
    const Cell* c = table.find(device, batch);
    if (!c) why.push_back(std::string("no ") + device + " cell at batch size " + std::to_string(batch));
    else if (c->source == Source::Emulated) why.push_back(c->why.empty() ? emulated_why(c->emulator) : c->why);
    else if (!is_measurement(*c)) illustrative.push_back(device), files.insert(c->reference_file);
  }
  if (!illustrative.empty()) {
    std::string from;
    for (const std::string& f : files) from += (from.empty() ? "" : " and ") + (f.empty() ? std::string("a reference table") : f);
    why.push_back(illustrative.size() == 2 ? "both times are illustrative values from " + from + ", not measurements"
                                           : "the " + illustrative.front() + " time is an illustrative value from " + from + ", not a measurement");
  }
  std::string out;
  for (const std::string& w : why) out += (out.empty() ? "" : "; ") + w;
  return out;
}

// The two cells of a verdict at this batch size, both measurements; nullopt otherwise.
static std::optional<std::pair<const Cell*, const Cell*>> verdict_cells(const Table& table, int batch) {
  const Cell* cpu = table.find("CPU", batch);
  const Cell* gpu = table.find("GPU", batch);
  if (!cpu || !gpu || !is_measurement(*cpu) || !is_measurement(*gpu)) return std::nullopt;
  return std::pair{cpu, gpu};
}

std::optional<std::string> cheaper_at(const Table& table, int batch, const Prices& prices) {
  const auto cells = verdict_cells(table, batch);
  if (!cells || !prices.given()) return std::nullopt;
  const auto [cpu, gpu] = *cells;
  const double c = usd_per_million(prices.cpu_usd_per_hour, batch, cpu->median_ms());
  const double g = usd_per_million(prices.gpu_usd_per_hour, batch, gpu->median_ms());
  return g < c ? "GPU" : "CPU";
}

// "GPU at 1,10,100; CPU at 4": per device, the batch sizes whose cell `pick` chooses (nullptr: no cell there).
static std::string cells_at(const Table& table, bool (*pick)(const Cell*)) {
  std::string out;
  for (const char* device : kDevices) {
    std::string at;
    for (int b : table.batch_sizes) {
      if (pick(table.find(device, b))) at += (at.empty() ? "" : ",") + std::to_string(b);
    }
    if (!at.empty()) out += (out.empty() ? "" : "; ") + std::string(device) + " at " + at;
  }
  return out;
}

// Two points always draw a line that crosses or not; that is no finding. Says which cells are missing or illustrative.
static std::string too_few_points(const Table& table, const std::vector<int>& batches) {
  std::string have;
  for (int b : batches) have += (have.empty() ? "" : ",") + std::to_string(b);
  const std::string missing = cells_at(table, [](const Cell* c) { return c == nullptr; });
  const std::string illustrative = cells_at(table, [](const Cell* c) { return c != nullptr && c->source == Source::Reference && !is_measurement(*c); });
  const std::string emulated = cells_at(table, [](const Cell* c) { return c != nullptr && c->source == Source::Emulated; });
  std::string gaps = missing.empty() ? "" : "; missing: " + missing;
  if (!illustrative.empty()) gaps += "; illustrative, not measured: " + illustrative;
  if (!emulated.empty()) gaps += "; emulated, not timed: " + emulated;
  return "too few points to tell: " + (batches.empty() ? std::string("no batch size has") : "only batch " + have + (batches.size() == 1 ? " has" : " have")) +
         " both a CPU and a GPU cell measured, and it takes three" + gaps;
}

Crossover crossover(const Table& table) {
  // log(GPU / CPU) at every batch size with both cells: > 0 the CPU is faster, < 0 the GPU is.
  std::vector<int> batches;
  std::vector<double> d;
  bool any_reference = false;
  for (int b : table.batch_sizes) {
    const auto cells = verdict_cells(table, b);
    if (!cells) continue;
    const auto [cpu, gpu] = *cells;
    any_reference = any_reference || cpu->source == Source::Reference || gpu->source == Source::Reference;
    batches.push_back(b);
    d.push_back(std::log(gpu->median_ms() / cpu->median_ms()));
  }
  Crossover x;
  if (batches.size() < 3) {
    x.how = too_few_points(table, batches);
    return x;
  }
  const auto gpu_faster = [&](std::size_t i) { return d[i] < 0; };
  int changes = 0;
  std::size_t last_change = 0;
  for (std::size_t i = 1; i < d.size(); ++i) {
    if (gpu_faster(i) != gpu_faster(i - 1)) {
      ++changes;
      last_change = i;
    }
  }
  const std::string range = std::to_string(batches.front()) + " to " + std::to_string(batches.back());
  if (changes == 0) {
    x.how = std::string("the lines never cross: the ") + (gpu_faster(0) ? "GPU" : "CPU") + " is faster at every batch size from " + range;
    return x;
  }
  if (changes > 1) {
    x.how = "the lines cross " + std::to_string(changes) + " times between batch sizes " + range;
    return x;
  }
  if (!gpu_faster(last_change)) {
    x.how = "the GPU is faster only below batch size " + std::to_string(batches[last_change]) + "; the CPU from there to " +
            std::to_string(batches.back());
    return x;
  }
  // One change, CPU-faster below it and GPU-faster from it on: interpolate log(b) where d crosses 0.
  const std::size_t i = last_change;
  const double l0 = std::log(static_cast<double>(batches[i - 1])), l1 = std::log(static_cast<double>(batches[i]));
  x.exact = std::exp(l0 + (l1 - l0) * d[i - 1] / (d[i - 1] - d[i]));
  x.batch = static_cast<int>(std::ceil(x.exact - 1e-9));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g", x.exact);
  x.how = "interpolated on log axes between batch " + std::to_string(batches[i - 1]) + " (CPU faster) and " + std::to_string(batches[i]) +
          " (GPU faster): " + buf + (any_reference ? "; uses cells measured elsewhere" : "");
  return x;
}

std::string column_source(const Table& table, const std::string& device) {
  std::set<Source> sources;
  for (int b : table.batch_sizes) {
    if (const Cell* c = table.find(device, b)) sources.insert(c->source);
  }
  return sources.size() > 1 ? "mixed" : sources.empty() ? "none" : source_name(*sources.begin());
}

std::optional<std::string> faster_at(const Table& table, int batch) {
  const auto cells = verdict_cells(table, batch);
  if (!cells) return std::nullopt;
  const auto [cpu, gpu] = *cells;
  return gpu->median_ms() < cpu->median_ms() ? "GPU" : "CPU";
}

bool is_cold(const Table& table) {
  for (const auto& [dev, per_batch] : table.cells) {
    for (const auto& [b, c] : per_batch) {
      if (c.source == Source::Measured && c.cache == CacheMode::Cold) return true;
    }
  }
  return false;
}

}  // namespace mlpbench
