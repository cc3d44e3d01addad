// See report.hpp.
#include "mlpbench/report.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>
#include <tuple>

#include "mlpbench/defaults.hpp"

namespace mlpbench {

std::string headline(const Table& table, int batch) {
  std::ostringstream out;
  for (const char* dev : kDevices) {
    const Cell* c = table.find(dev, batch);
    out << dev << " time: ";
    if (c) {
      out << format_ms(c->median_ms()) << " ms\n";
    } else {
      out << "n/a (no " << dev << " cell at batch size " << batch << ")\n";
    }
  }
  const auto f = faster_at(table, batch);
  out << "Faster hardware: " << (f ? *f : std::string("unknown")) << "\n";
  return out.str();
}

std::string cost_lines(const Table& table, int batch, const Prices& prices) {
  const auto cheaper = cheaper_at(table, batch, prices);
  if (!cheaper) return "";
  const double cpu = usd_per_million(prices.cpu_usd_per_hour, batch, table.find("CPU", batch)->median_ms());
  const double gpu = usd_per_million(prices.gpu_usd_per_hour, batch, table.find("GPU", batch)->median_ms());
  return "Cheaper hardware: " + *cheaper + "\n(USD per million inferences at batch " + std::to_string(batch) + ": CPU " + format_ms(cpu) +
         ", GPU " + format_ms(gpu) + ")\n";
}

std::string crossover_line(const Table& table, const std::string& label) {
  const Crossover x = crossover(table);
  if (x.batch) return "Crossover" + label + ": the GPU is faster from batch size " + std::to_string(*x.batch) + " on (" + x.how + ")\n";
  return "Crossover" + label + ": none (" + x.how + ")\n";
}

std::string cold_lines(const Results& r, int batch) {
  if (!r.cold) return is_cold(r.table) ? "(weights cold: the caches were evicted before every timed forward, --cache cold)\n" : "";
  const auto hot = faster_at(r.table, batch), cold = faster_at(*r.cold, batch);
  if (cold) return cold == hot ? "" : "Faster hardware, weights cold: " + *cold + "\n";
  if (!hot) return "";  // unknown both ways: the three lines said why
  const std::string missing = r.cold->find("CPU", batch) ? "GPU" : "CPU";
  return "Faster hardware, weights cold: unknown (no cold " + missing + " cell at batch " + std::to_string(batch) +
         ": only measured cells are cold, a reference holds hot numbers)\n";
}

std::string ratio_line(const Results& r, int batch) {
  const Cell* cpu = r.table.find("CPU", batch);
  const Cell* gpu = r.table.find("GPU", batch);
  const std::string at = "At batch " + std::to_string(batch);
  if (!cpu || !gpu) {
    const std::string missing = cpu ? "GPU" : "CPU";
    const auto why = r.not_measured.find(missing);
    return at + " there is no " + missing + " time to compare with" + (why != r.not_measured.end() ? ": " + why->second : "") + ".\n";
  }
  const auto label = [](const std::string& device, const Cell* c) { return device + (c->source == Source::Reference ? " reference" : ""); };
  if (cpu->median_ms() == gpu->median_ms()) return at + " the " + label("CPU", cpu) + " and the " + label("GPU", gpu) + " take the same time.\n";
  const bool gpu_faster = gpu->median_ms() < cpu->median_ms();
  const Cell* fast = gpu_faster ? gpu : cpu;
  const Cell* slow = gpu_faster ? cpu : gpu;
  const double ratio = slow->median_ms() / fast->median_ms();
  char x[32];
  std::snprintf(x, sizeof x, ratio >= 100 ? "%.0f" : ratio >= 10 ? "%.1f" : "%.2f", ratio);
  return at + " the " + label(gpu_faster ? "GPU" : "CPU", fast) + " is " + x + "x faster than the " + label(gpu_faster ? "CPU" : "GPU", slow) + ".\n";
}

std::string provenance_notes(const Results& r) {
  std::ostringstream out;
  for (const char* dev : kDevices) {
    // One note per source of reference cells: illustrative values, or measured elsewhere (where, when).
    std::set<std::tuple<std::string, std::string, std::string, std::string, std::string>> sources;  // file, kind, machine, commit, date
    for (int b : r.table.batch_sizes) {
      const Cell* c = r.table.find(dev, b);
      if (c && c->source == Source::Reference) {
        sources.emplace(c->reference_file, c->provenance.kind, c->provenance.machine, c->provenance.commit, c->provenance.date);
      }
    }
    const auto why = r.not_measured.find(dev);
    const std::string because = why != r.not_measured.end() ? "; not measured here: " + why->second : "";
    for (const auto& [file, kind, machine, commit, date] : sources) {
      if (kind == "measured") {
        std::string where = machine.empty() ? "" : " on " + machine;
        std::string when;
        if (!commit.empty()) when += "commit " + commit.substr(0, 12);
        if (!date.empty()) when += (when.empty() ? "" : ", ") + date;
        out << "Note: " << dev << " times were measured elsewhere" << where << (when.empty() ? "" : " (" + when + ")") << ", read from " << file
            << " as a reference" << because << ".\n";
      } else {
        out << "Note: " << dev << " times are illustrative reference values from " << file << ", not measurements" << because << ".\n";
      }
    }
    // No reference cell to carry the reason (no reference value for these batch sizes): still say why.
    if (sources.empty() && why != r.not_measured.end()) out << "Note: " << dev << " times are not measured (" << why->second << ").\n";
  }
  for (const std::string& n : r.notes) out << "Note: " << n << "\n";
  return out.str();
}

std::string table_text(const Table& table, const Table* cold) {
  // batch | CPU ms  source  noise | GPU ms  source  noise | faster; a cold row after each hot one ("1 cold").
  const int batch_width = cold || is_cold(table) ? 10 : 7;
  std::ostringstream out;
  char line[256];
  std::snprintf(line, sizeof line, "%*s | %10s %-9s %-24s %6s %6s | %10s %-9s %-24s %6s %6s | %s\n", batch_width, "batch", "CPU ms", "source",
                "backend", "cv", "floor", "GPU ms", "source", "backend", "cv", "floor", "faster");
  out << line;
  out << std::string(std::string(line).size() - 1, '-') << "\n";
  const auto row = [&](const Table& t, int b) {
    std::string cols[2][5];
    bool row_cold = false;
    for (int d = 0; d < 2; ++d) {
      const Cell* c = t.find(kDevices[d], b);
      if (!c) {
        cols[d][0] = "-";
        continue;
      }
      cols[d][0] = format_ms(c->median_ms());
      cols[d][1] = source_name(c->source);
      cols[d][2] = c->backend;
      if (c->source == Source::Measured) {
        row_cold = row_cold || c->cache == CacheMode::Cold;
        char cv[32];
        std::snprintf(cv, sizeof cv, "%.1f%%", 100.0 * c->stats.cv);
        cols[d][3] = cv;
        // The share of the floor reached: 100% would be as fast as this machine allows.
        if (c->floor_ms > 0) {
          char eff[32];
          std::snprintf(eff, sizeof eff, "%.0f%%", 100.0 * c->efficiency());
          cols[d][4] = eff;
        } else {
          cols[d][4] = "-";
        }
      } else {
        cols[d][3] = "-";
        cols[d][4] = "-";
      }
    }
    const auto f = faster_at(t, b);
    const std::string label = std::to_string(b) + (row_cold ? " cold" : "");
    std::snprintf(line, sizeof line, "%*s | %10s %-9s %-24s %6s %6s | %10s %-9s %-24s %6s %6s | %s\n", batch_width, label.c_str(), cols[0][0].c_str(),
                  cols[0][1].c_str(), cols[0][2].c_str(), cols[0][3].c_str(), cols[0][4].c_str(), cols[1][0].c_str(), cols[1][1].c_str(),
                  cols[1][2].c_str(), cols[1][3].c_str(), cols[1][4].c_str(), f ? f->c_str() : "-");
    out << line;
  };
  for (int b : table.batch_sizes) {
    row(table, b);
    if (cold && (cold->find("CPU", b) || cold->find("GPU", b))) row(*cold, b);
  }
  return out.str();
}

std::string backend_details(const Table& table) {
  std::ostringstream out;
  for (const char* dev : kDevices) {
    for (int b : table.batch_sizes) {
      const Cell* c = table.find(dev, b);
      if (!c || c->source != Source::Measured || (c->runs.size() < 2 && !c->split)) continue;
      out << "\n" << dev << " backends at batch " << b << (c->cache == CacheMode::Cold ? " cold" : "") << " (median end to end";
      if (c->split) out << "; device-only, H2D, D2H by events";
      out << "):\n";
      for (const BackendRun& r : c->runs) {
        const bool headline = r.backend == c->backend && r.config == c->config;
        out << "  " << (headline ? "* " : "  ") << r.backend;
        if (!r.config.empty()) out << " [" << r.config << "]";
        out << ": " << format_ms(r.stats.median_ms) << " ms, cv " << format_ms(100 * r.stats.cv) << "%";
        if (r.split) {
          out << " (device " << format_ms(r.split->compute_ms) << " ms, H2D " << format_ms(r.split->h2d_ms) << " ms, D2H "
              << format_ms(r.split->d2h_ms) << " ms)";
        }
        out << "\n";
      }
    }
  }
  return out.str();
}

// One line on the GPU cells' energy per inference (the headline backend's), or why there is none.
std::string energy_line(const Table& table) {
  std::ostringstream out;
  std::string why;
  for (int b : table.batch_sizes) {
    const Cell* c = table.find("GPU", b);
    if (!c || !c->energy) continue;
    if (!c->energy->unavailable.empty()) {
      why = c->energy->unavailable;
      continue;
    }
    out << (out.tellp() > 0 ? "; " : "") << "batch " << b << ": " << format_ms(c->energy->joules_per_inference * 1e3) << " mJ at "
        << format_ms(c->energy->watts) << " W";
  }
  if (out.tellp() > 0) return "GPU energy per inference (NVML, whole board, headline backend): " + out.str() + "\n";
  return why.empty() ? "" : "GPU energy per inference: not measured (" + why + ")\n";
}

// "Warning: ..." lines: the run's, then each cell's.
std::string warning_lines(const Results& r) {
  std::string out;
  for (const std::string& w : r.warnings) out += "Warning: " + w + "\n";
  for (const Table* t : tables_of(r)) {
    for (const char* dev : kDevices) {
      for (int b : t->batch_sizes) {
        const Cell* c = t->find(dev, b);
        if (!c) continue;
        const std::string where = std::string(dev) + " batch " + std::to_string(b) + (c->cache == CacheMode::Cold ? " cold" : "");
        for (const std::string& w : c->warnings) out += "Warning: " + where + ": " + w + "\n";
      }
    }
  }
  return out;
}

std::string text_report(const Results& r, int batch) {
  const std::string warnings = warning_lines(r), energy = energy_line(r.table);
  const Table* cold = r.cold ? &*r.cold : nullptr;
  return headline(r.table, batch) + cold_lines(r, batch) + ratio_line(r, batch) + cost_lines(r.table, batch, r.prices) + crossover_line(r.table) +
         (cold ? crossover_line(*cold, ", weights cold") : "") + provenance_notes(r) + "\n" + table_text(r.table, cold) +
         "(floor: the machine's floor for the cell / its median; 100% is as fast as this machine allows, see `mlpbench machine`" +
         (cold || is_cold(r.table) ? "; a cold row: the caches evicted before every timed forward, the weights read from DRAM or HBM" : "") +
         ")\n" + backend_details(r.table) + (cold ? backend_details(*cold) : "") + (energy.empty() ? "" : "\n" + energy) +
         (warnings.empty() ? "" : "\n" + warnings);
}

std::string markdown_report(const Results& r, int batch) {
  std::ostringstream out;
  // The three lines, each its own paragraph line.
  std::istringstream lines(headline(r.table, batch) + cold_lines(r, batch) + ratio_line(r, batch) + cost_lines(r.table, batch, r.prices));
  std::string line;
  while (std::getline(lines, line)) out << "**" << line << "**  \n";
  out << "\n" << crossover_line(r.table);
  if (r.cold) out << "\n" << crossover_line(*r.cold, ", weights cold");
  std::istringstream notes(provenance_notes(r));
  bool first = true;
  while (std::getline(notes, line)) {
    out << (first ? "\n" : "") << "- " << line << "\n";  // one bullet per note
    first = false;
  }
  out << "\n| batch | CPU ms | CPU source | CPU backend | CPU cv | GPU ms | GPU source | GPU backend | GPU cv | faster |\n";
  out << "|---:|---:|---|---|---:|---:|---|---|---:|---|\n";
  const auto row = [&](const Table& t, int b) {
    std::string cells;
    bool row_cold = false;
    for (const char* dev : kDevices) {
      const Cell* c = t.find(dev, b);
      if (!c) {
        cells += " - | | | |";
        continue;
      }
      char cv[32] = "-";
      if (c->source == Source::Measured) {
        std::snprintf(cv, sizeof cv, "%.1f%%", 100.0 * c->stats.cv);
        row_cold = row_cold || c->cache == CacheMode::Cold;
      }
      cells += " " + format_ms(c->median_ms()) + " | " + source_name(c->source) + " | `" + c->backend + "` | " + cv + " |";
    }
    const auto f = faster_at(t, b);
    out << "| " << b << (row_cold ? " cold" : "") << " |" << cells << " " << (f ? *f : std::string("-")) << " |\n";
  };
  for (int b : r.table.batch_sizes) {
    row(r.table, b);
    if (r.cold && (r.cold->find("CPU", b) || r.cold->find("GPU", b))) row(*r.cold, b);
  }
  std::istringstream warnings(warning_lines(r));
  first = true;
  while (std::getline(warnings, line)) {
    out << (first ? "\n" : "") << "- " << line << "\n";
    first = false;
  }
  return out.str();
}

std::string gbench_json(const Results& r) {
  Json context;
  context["date"] = r.run.started_utc.value_or("");
  context["host_name"] = r.machine.host.value_or("");
  context["executable"] = "mlpbench";
  context["num_cpus"] = r.machine.cores.value_or(0);
  context["mhz_per_cpu"] = 0;
  context["cpu_scaling_enabled"] = false;
  context["caches"] = Json::array();
  std::string build_type = r.build.build_type.value_or("release");
  for (char& ch : build_type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  context["library_build_type"] = build_type == "debug" ? "debug" : "release";
  context["mlpbench.schema"] = kSchema;
  context["mlpbench.model"] = list_text(r.model.layers);
  context["mlpbench.cpu"] = r.machine.cpu.value_or("");
  context["mlpbench.gpu"] = gpu_text(r.machine);
  context["mlpbench.commit"] = r.build.git_commit.value_or("");
  Json benchmarks = Json::array();
  int family = 0;
  for (const Table* t : tables_of(r)) {
    for (const char* device : kDevices) {
      for (int b : t->batch_sizes) {
        const Cell* c = t->find(device, b);
        if (!c || c->source != Source::Measured) continue;  // a benchmark tool takes every entry for a measurement
        const std::string name = std::string("BM_forward/") + device + "/" + std::to_string(b) + (c->cache == CacheMode::Cold ? "/cold" : "");
        Json e;
        e["name"] = name;
        e["family_index"] = family++;
        e["per_family_instance_index"] = 0;
        e["run_name"] = name;
        e["run_type"] = "iteration";
        e["repetitions"] = 1;
        e["repetition_index"] = 0;
        e["threads"] = 1;
        e["iterations"] = static_cast<long long>(c->stats.samples) * std::max(1, c->stats.passes_per_sample);
        e["real_time"] = c->median_ms();
        e["cpu_time"] = c->median_ms();
        e["time_unit"] = "ms";
        e["label"] = c->backend + (c->config.empty() ? "" : " [" + c->config + "]");
        benchmarks.push_back(std::move(e));
      }
    }
  }
  return dump_json(Json{{"context", std::move(context)}, {"benchmarks", std::move(benchmarks)}});
}

}  // namespace mlpbench
