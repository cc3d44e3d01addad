// See report.hpp.
#include "mlpbench/report.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include "mlpbench/defaults.hpp"

namespace mlpbench {

namespace {

// Where a cell's number comes from, on the line it stands: "" (measured here), "measured elsewhere: <GPU>, <date>"
// (a promoted run), "illustrative, not measured".
std::string cell_label(const Cell& c) {
  if (c.source == Source::Measured) return "";
  if (!is_measurement(c)) return "illustrative, not measured";
  std::string where = c.provenance.machine;
  if (!c.provenance.date.empty()) where += (where.empty() ? "" : ", ") + c.provenance.date.substr(0, 10);
  return "measured elsewhere" + (where.empty() ? std::string() : ": " + where);
}

// The emulator a device's emulated cells ran on; "" when it has none.
std::string emulator_of(const Table& t, const std::string& device) {
  for (int b : t.batch_sizes) {
    if (const Cell* c = t.find(device, b); c && c->source == Source::Emulated) return c->emulator;
  }
  return "";
}

// A cell's time in a table: "-" for an emulated cell, which has none.
std::string time_text(const Cell& c) { return c.source == Source::Emulated ? "-" : format_ms(c.median_ms()); }

}  // namespace

std::string headline(const Table& table, int batch) {
  std::ostringstream out;
  for (const char* dev : kDevices) {
    const Cell* c = table.find(dev, batch);
    out << dev << " time: ";
    if (c && c->source == Source::Emulated) {
      out << "emulated, not timed (" << c->emulator << ")\n";
    } else if (c) {
      const std::string label = cell_label(*c);
      out << format_ms(c->median_ms()) << " ms" << (label.empty() ? "" : " (" + label + ")") << "\n";
    } else {
      out << "n/a (no " << dev << " cell at batch size " << batch << ")\n";
    }
  }
  const auto f = faster_at(table, batch);
  out << "Faster hardware: " << (f ? *f : std::string("unknown")) << "\n";
  if (!f) {
    // One line: why, and how to get a real answer.
    const bool gpu_missing = !table.find("GPU", batch) || !is_measurement(*table.find("GPU", batch));
    const bool cpu_missing = !table.find("CPU", batch) || !is_measurement(*table.find("CPU", batch));
    const std::string how = gpu_missing && !cpu_missing
                                ? "run mlpbench on a machine with an NVIDIA GPU, or promote a GPU run made there "
                                  "(mlpbench reference --from GPU_RUN.json --out results/reference.json)"
                                : cpu_missing && !gpu_missing ? "measure the CPU column too (--device all)"
                                                              : "run mlpbench on a machine with an NVIDIA GPU (it measures both columns)";
    out << "Why unknown: " << why_no_verdict(table, batch) << ". A verdict needs two measurements: " << how << ".\n";
  }
  return out.str();
}

std::string cost_lines(const Table& table, int batch, const Prices& prices) {
  if (!prices.given()) return "";
  const auto cheaper = cheaper_at(table, batch, prices);
  if (!cheaper) return "Cheaper hardware: unknown (" + why_no_verdict(table, batch) + ")\n";
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
  // No verdict (a cell missing or illustrative): the line after the three said why, the notes say why not measured.
  if (!faster_at(r.table, batch)) return "";
  const Cell* cpu = r.table.find("CPU", batch);
  const Cell* gpu = r.table.find("GPU", batch);
  const std::string at = "At batch " + std::to_string(batch);
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
    if (const std::string emulator = emulator_of(r.table, dev); !emulator.empty()) {
      out << "Note: " << dev << " cells ran on the CUDA emulator (" << emulator
          << "): every backend that passed its check against the CPU was run, none timed; they hold no time and decide nothing.\n";
    }
  }
  for (const std::string& n : r.notes) out << "Note: " << n << "\n";
  return out.str();
}

namespace {

// A cell's source column: measured (here), reference (measured elsewhere, promoted), illustrative, emulated.
std::string source_label(const Cell& c) {
  if (c.source == Source::Emulated) return "emulated";
  return c.source == Source::Measured ? "measured" : is_measurement(c) ? "reference" : "illustrative";
}

// A percentage that keeps its width: "2.3%", "45%", "1566%".
std::string percent(double fraction) {
  char buf[32];
  const double p = 100.0 * fraction;
  std::snprintf(buf, sizeof buf, p < 9.95 ? "%.1f%%" : "%.0f%%", p);
  return buf;
}

}  // namespace

std::string table_text(const Table& table, const Table* cold) {
  // batch | CPU ms p90 p99 cv floor source backend | GPU ... | faster; a cold row after each hot one ("1 cold").
  constexpr int kPerDevice = 7;
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header = {"batch", "|"};
  for (const char* dev : kDevices) {
    for (const char* h : {" ms", "p90", "p99", "cv", "floor", "source", "backend"}) header.push_back(h[0] == ' ' ? std::string(dev) + h : h);
    header.push_back("|");
  }
  header.push_back("faster");
  rows.push_back(header);
  std::vector<bool> right = {true, false};
  for (int d = 0; d < 2; ++d) {
    for (bool r : {true, true, true, true, true, false, false}) right.push_back(r);
    right.push_back(false);
  }
  right.push_back(false);
  const auto row = [&](const Table& t, int b) {
    std::vector<std::string> cols = {"", "|"};
    bool row_cold = false;
    for (const char* dev : kDevices) {
      std::vector<std::string> c(kPerDevice, "-");
      if (const Cell* cell = t.find(dev, b)) {
        c[0] = time_text(*cell);
        c[5] = source_label(*cell);
        c[6] = cell->backend;
        if (cell->source == Source::Measured) {
          row_cold = row_cold || cell->cache == CacheMode::Cold;
          c[1] = format_ms(cell->stats.p90_ms);
          c[2] = format_ms(cell->stats.p99_ms);
          c[3] = percent(cell->stats.cv);
          if (cell->floor_ms > 0) c[4] = percent(cell->efficiency());  // 100%: as fast as this machine allows
        }
      }
      cols.insert(cols.end(), c.begin(), c.end());
      cols.push_back("|");
    }
    const auto f = faster_at(t, b);
    cols.push_back(f ? *f : "-");
    cols[0] = std::to_string(b) + (row_cold ? " cold" : "");
    rows.push_back(std::move(cols));
  };
  for (int b : table.batch_sizes) {
    row(table, b);
    if (cold && (cold->find("CPU", b) || cold->find("GPU", b))) row(*cold, b);
  }
  std::string out = aligned_columns(rows, right);
  const std::size_t rule = out.find('\n');
  return out.substr(0, rule + 1) + std::string(rule, '-') + "\n" + out.substr(rule + 1);
}

std::string backend_details(const Table& table) {
  std::ostringstream out;
  for (const char* dev : kDevices) {
    for (int b : table.batch_sizes) {
      const Cell* c = table.find(dev, b);
      if (c && c->source == Source::Emulated) {
        out << "\n" << dev << " backends at batch " << b << (c->cache == CacheMode::Cold ? " cold" : "") << " (emulated, not timed):";
        for (const BackendRun& r : c->runs) out << " " << r.backend << (r.config.empty() ? "" : " [" + r.config + "]");
        out << "\n";
        continue;
      }
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

std::string format_rate(double qps) {
  static const char* units[] = {"", "k", "M", "G"};
  int u = 0;
  double v = qps;
  while (u < 3 && v >= 999.5) v /= 1000, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, v >= 9.95 ? "%.0f" : u == 0 && v < 1 ? "%.2g" : "%.1f", v);
  std::string t = buf;
  if (t.size() > 2 && t.compare(t.size() - 2, 2, ".0") == 0) t.resize(t.size() - 2);  // "1M", not "1.0M"
  return t + units[u] + "/s";
}

namespace {

// The search's tolerance where a run searched (its best rate is within it of the highest that meets the bound); 0 for
// rates given (--qps), which are exact.
double rate_tolerance(const ServingRun& r) { return r.search.searched ? r.search.config.search_tolerance : 0.0; }

// A device's part of the "Served at" line: "CPU 51k/s", "GPU 1.9M/s simulated (from ...)", "CPU none (...)".
std::string served_text(const ServingRun* r, const std::string& device) {
  if (!r) return device + " not served";
  std::string t = device + " ";
  if (r->search.best_qps > 0) {
    t += format_rate(r->search.best_qps);
  } else {
    double lowest = 0;
    for (const StepResult& s : r->search.steps) lowest = lowest == 0 ? s.offered_qps : std::min(lowest, s.offered_qps);
    t += "none (no rate met the bound" + (lowest > 0 ? ", down to " + format_rate(lowest) : "") + ")";
  }
  if (r->search.interrupted) t += " (interrupted: at least)";
  if (r->source != "measured") t += " simulated (from " + r->simulated_from + ")";
  return t;
}

// Why the two rates decide nothing, "" when they are two complete measurements (the honesty rule: a verdict needs
// two measurements).
std::string why_no_serving_verdict(const ServingRun* cpu, const ServingRun* gpu) {
  const std::pair<const char*, const ServingRun*> sides[] = {{"CPU", cpu}, {"GPU", gpu}};
  for (const auto& [device, r] : sides) {
    if (!r) return std::string("no ") + device + " run under load";
  }
  for (const auto& [device, r] : sides) {
    if (r->source != "measured") return std::string("the ") + device + " rate is simulated, not measured: a verdict needs two measurements";
  }
  for (const auto& [device, r] : sides) {
    if (r->search.interrupted) return std::string("the ") + device + " run was interrupted: its rate is only a lower bound";
  }
  if (cpu->search.best_qps <= 0 && gpu->search.best_qps <= 0) return "neither met the bound at any rate tried";
  return "";
}

// Of two complete measurements: the device with the higher best rate, or "about the same" within the search's tolerance.
std::string faster_under_load(const ServingRun& cpu, const ServingRun& gpu) {
  const double c = cpu.search.best_qps, g = gpu.search.best_qps, lo = std::min(c, g), hi = std::max(c, g);
  const double tolerance = std::max(rate_tolerance(cpu), rate_tolerance(gpu));
  if (lo > 0 && hi <= lo * (1 + tolerance)) {
    return "about the same (" + (tolerance > 0 ? "the best rates are within the search's " + format_ms(100 * tolerance) + "% tolerance" : std::string("the same best rate")) + ")";
  }
  return g > c ? "GPU" : "CPU";
}

// USD per million requests served at `qps`: an hour's price over the requests of an hour.
double usd_per_million_requests(double usd_per_hour, double qps) { return usd_per_hour / (qps * 3600) * 1e6; }

// "Cheaper hardware under load: Z" and the two costs, or "unknown (why)".
std::vector<std::string> serving_cost_lines(const ServingRun* cpu, const ServingRun* gpu, const Prices& prices, const std::string& why) {
  if (!why.empty()) return {"Cheaper hardware under load: unknown (" + why + ")"};
  const auto cost = [&](const ServingRun& r, double price) {
    return r.search.best_qps > 0 ? usd_per_million_requests(price, r.search.best_qps) : std::numeric_limits<double>::infinity();
  };
  const double c = cost(*cpu, prices.cpu_usd_per_hour), g = cost(*gpu, prices.gpu_usd_per_hour);
  const auto text = [](double usd) { return std::isfinite(usd) ? format_ms(usd) : std::string("n/a (no rate met the bound)"); };
  return {std::string("Cheaper hardware under load: ") + (g < c ? "GPU" : "CPU"),
          "(USD per million requests at those rates: CPU " + text(c) + ", GPU " + text(g) + ")"};
}

}  // namespace

namespace {

const StepResult* step_at(const SearchResult& s, double qps) {
  for (const StepResult& step : s.steps) {
    if (step.offered_qps == qps) return &step;
  }
  return nullptr;
}

std::string signed_percent(double value, double against) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.0f%%", 100 * (value - against) / against);
  return buf;
}

// A simulated run beside the live one: best rates, and the p99s at a rate both ran (the live best, else the highest
// rate both have a step at).
std::string simulator_check(const ServingRun& live, const ServingRun& sim) {
  const auto rate = [](double q) { return q > 0 ? format_rate(q) : std::string("none"); };
  std::string line = "Simulator check: " + live.device + " " + rate(sim.search.best_qps) + " simulated (from " + sim.simulated_from + ", " +
                     sim.config + ") against " + rate(live.search.best_qps) + " measured (" + live.config + ")";
  if (sim.search.best_qps > 0 && live.search.best_qps > 0) line += ", " + signed_percent(sim.search.best_qps, live.search.best_qps);
  double common = live.search.best_qps > 0 && step_at(sim.search, live.search.best_qps) ? live.search.best_qps : 0;
  for (const StepResult& l : live.search.steps) {
    if (common == 0 && step_at(sim.search, l.offered_qps) && step_at(live.search, l.offered_qps)) common = std::max(common, l.offered_qps);
  }
  if (common > 0) {
    const StepResult &ls = *step_at(live.search, common), &ss = *step_at(sim.search, common);
    line += "; p99 at " + format_rate(common) + ": " + format_ms(ss.p99_ms) + " ms simulated, " + format_ms(ls.p99_ms) + " ms measured";
    if (ls.p99_ms > 0) line += ", " + signed_percent(ss.p99_ms, ls.p99_ms);
    // The gap's usual cause: a live batch (forwards between idle gaps, beside the rest of the machine) takes longer than
    // the back-to-back times the simulator reads.
    if (ss.mean_service_ms > 0 && ls.mean_service_ms > 0) {
      line += "; mean batch there: " + format_ms(ss.mean_batch) + " requests in " + format_ms(ss.mean_service_ms) + " ms simulated, " + format_ms(ls.mean_batch) +
              " in " + format_ms(ls.mean_service_ms) + " ms measured";
    }
  }
  return line;
}

}  // namespace

std::vector<std::string> serving_lines(const Results& r) {
  if (!r.serving) return {};
  const Serving& sv = *r.serving;
  const ServingRun *cpu = best_serving_run(sv, "CPU"), *gpu = best_serving_run(sv, "GPU");
  std::vector<std::string> lines = {"Served at p99 <= " + format_ms(sv.config.slo_ms) + " ms: " + served_text(cpu, "CPU") + ", " + served_text(gpu, "GPU")};
  const std::string why = why_no_serving_verdict(cpu, gpu);
  lines.push_back("Faster hardware under load: " + (why.empty() ? faster_under_load(*cpu, *gpu) : "unknown (" + why + ")"));
  if (r.prices.given()) {
    for (std::string& line : serving_cost_lines(cpu, gpu, r.prices, why)) lines.push_back(std::move(line));
  }
  // The simulator beside the live measurement it mimics (the same device, configuration and backend; else the
  // device's best live run): how far it is from reality.
  for (const ServingRun& sim : sv.runs) {
    if (sim.source == "measured") continue;
    const ServingRun* live = best_serving_run(sv, sim.device);
    for (const ServingRun& l : sv.runs) {
      if (l.source == "measured" && l.device == sim.device && l.config == sim.config && l.backend == sim.backend) live = &l;
    }
    if (live && live->source == "measured") lines.push_back(simulator_check(*live, sim));
  }
  return lines;
}

std::string serving_table(const Results& r) {
  if (!r.serving) return "";
  std::vector<std::vector<std::string>> rows = {{"device", "source", "backend", "config", "best", "p99 ms", "steps", "simulated from"}};
  for (const ServingRun& run : r.serving->runs) {
    std::string p99 = "-";
    for (const StepResult& s : run.search.steps) {
      if (run.search.best_qps > 0 && s.offered_qps == run.search.best_qps && s.meets(run.search.config.slo_ms)) p99 = format_ms(s.p99_ms);
    }
    rows.push_back({run.device, run.source, run.backend, run.config.empty() ? "-" : run.config,
                    run.search.best_qps > 0 ? format_rate(run.search.best_qps) : "none", p99,
                    std::to_string(run.search.steps.size()) + (run.search.interrupted ? " (interrupted)" : ""),
                    run.simulated_from.empty() ? "-" : run.simulated_from});
  }
  return aligned_columns(rows, {false, false, false, false, true, true, true, false}) +
         "(best: the highest rate whose p99 met the bound (" + format_ms(r.serving->config.slo_ms) + " ms), as searched or of the rates given; p99 ms: "
         "that step's p99 latency, scheduled arrival to completion; simulated: from the serving simulator fed per-batch latencies, never a "
         "measurement)\n";
}

namespace {

// The answer under load after the table: its lines, then every run ("" without a serving section).
std::string serving_text(const Results& r) {
  if (!r.serving) return "";
  std::string out = "\nUnder load (mlpbench serve):\n";
  for (const std::string& line : serving_lines(r)) out += line + "\n";
  return out + "\n" + serving_table(r);
}

}  // namespace

std::string text_report(const Results& r, int batch) {
  const std::string warnings = warning_lines(r), energy = energy_line(r.table);
  const Table* cold = r.cold ? &*r.cold : nullptr;
  return headline(r.table, batch) + cold_lines(r, batch) + ratio_line(r, batch) + cost_lines(r.table, batch, r.prices) + crossover_line(r.table) +
         (cold ? crossover_line(*cold, ", weights cold") : "") + provenance_notes(r) + "\n" + table_text(r.table, cold) +
         "(ms: the median of the samples, p90 and p99 their percentiles; cv: their spread (stddev / mean); floor: the machine's floor for the "
         "cell / its median, 100% is as fast as this machine allows, see `mlpbench machine`; source: measured here, reference (measured "
         "elsewhere) or illustrative (decides nothing)" +
         (emulator_of(r.table, "GPU").empty() ? "" : "; emulated: run on a CUDA emulator, checked against the CPU, not timed") +
         (cold || is_cold(r.table) ? "; a cold row: the caches evicted before every timed forward, the weights read from DRAM or HBM" : "") +
         ")\n" + backend_details(r.table) + (cold ? backend_details(*cold) : "") + (energy.empty() ? "" : "\n" + energy) + serving_text(r) +
         (warnings.empty() ? "" : "\n" + warnings);
}

std::string markdown_report(const Results& r, int batch) {
  std::ostringstream out;
  // The three lines, each its own paragraph line.
  std::istringstream lines(headline(r.table, batch) + cold_lines(r, batch) + ratio_line(r, batch) + cost_lines(r.table, batch, r.prices));
  std::string line;
  while (std::getline(lines, line)) out << "**" << line << "**  \n";
  for (const std::string& l : serving_lines(r)) out << "**" << l << "**  \n";
  out << "\n" << crossover_line(r.table);
  if (r.cold) out << "\n" << crossover_line(*r.cold, ", weights cold");
  std::istringstream notes(provenance_notes(r));
  bool first = true;
  while (std::getline(notes, line)) {
    out << (first ? "\n" : "") << "- " << line << "\n";  // one bullet per note
    first = false;
  }
  out << "\n| batch | CPU ms | p90 | p99 | CPU source | CPU backend | CPU cv | GPU ms | p90 | p99 | GPU source | GPU backend | GPU cv | faster |\n";
  out << "|---:|---:|---:|---:|---|---|---:|---:|---:|---:|---|---|---:|---|\n";
  const auto row = [&](const Table& t, int b) {
    std::string cells;
    bool row_cold = false;
    for (const char* dev : kDevices) {
      const Cell* c = t.find(dev, b);
      if (!c) {
        cells += " - | | | | | |";
        continue;
      }
      std::string p90 = "-", p99 = "-", cv = "-";
      if (c->source == Source::Measured) {
        p90 = format_ms(c->stats.p90_ms), p99 = format_ms(c->stats.p99_ms), cv = percent(c->stats.cv);
        row_cold = row_cold || c->cache == CacheMode::Cold;
      }
      cells += " " + time_text(*c) + " | " + p90 + " | " + p99 + " | " + source_label(*c) + " | `" + c->backend + "` | " + cv + " |";
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
        const std::string label = c->backend + (c->config.empty() ? "" : " [" + c->config + "]");
        // One repetition per round (its median), as Google Benchmark writes --benchmark_repetitions, so compare.py can
        // run its U test over rounds; a file without round medians gives its median once. Times in ns, compare.py's
        // default unit (it prints whole units: 0.15 ms as ms would print 0).
        const std::vector<double> reps_ms = c->stats.round_medians_ms.empty() ? std::vector<double>{c->median_ms()} : c->stats.round_medians_ms;
        const int reps = static_cast<int>(reps_ms.size());
        const long long passes = static_cast<long long>(c->stats.samples) * std::max(1, c->stats.passes_per_sample);
        const auto entry = [&](const std::string& entry_name, double ns) {
          Json e;
          e["name"] = entry_name;
          e["family_index"] = family;
          e["per_family_instance_index"] = 0;
          e["run_name"] = name;
          e["run_type"] = "iteration";
          e["repetitions"] = reps;
          e["threads"] = 1;
          e["iterations"] = std::max(1LL, passes / reps);
          e["real_time"] = ns;
          e["cpu_time"] = ns;
          e["time_unit"] = "ns";
          e["label"] = label;
          return e;
        };
        for (int i = 0; i < reps; ++i) {
          Json e = entry(name, reps_ms[i] * 1e6);
          e["repetition_index"] = i;
          benchmarks.push_back(std::move(e));
        }
        if (reps > 1) {  // the aggregates Google Benchmark adds after repetitions, over the same values
          std::vector<double> sorted = reps_ms;
          std::sort(sorted.begin(), sorted.end());
          double mean = 0, ss = 0;
          for (double v : sorted) mean += v / reps;
          for (double v : sorted) ss += (v - mean) * (v - mean);
          const double stddev = std::sqrt(ss / (reps - 1));
          for (const auto& [aggregate, value] : {std::pair{"mean", mean}, {"median", quantile_sorted(sorted, 0.5)}, {"stddev", stddev},
                                                 {"cv", mean > 0 ? stddev / mean : 0.0}}) {
            const bool cv = std::string(aggregate) == "cv";
            Json e = entry(name + "_" + aggregate, cv ? value : value * 1e6);
            e["run_type"] = "aggregate";
            e["aggregate_name"] = aggregate;
            e["aggregate_unit"] = cv ? "percentage" : "time";
            e["iterations"] = reps;
            benchmarks.push_back(std::move(e));
          }
        }
        ++family;
      }
    }
  }
  return dump_json(Json{{"context", std::move(context)}, {"benchmarks", std::move(benchmarks)}});
}

}  // namespace mlpbench
