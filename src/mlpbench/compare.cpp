// See compare.hpp. Comparing results files cell by cell: the ratio NEW/BASE of the medians, a two-sided
// Mann-Whitney U test on the cells' round medians (round_medians_ms; pooled samples_ms for older files) for
// significance, a verdict, and the text of it all; and a run against the band of a history of runs.
// The test needs no distribution and no equal variances: benchmark samples are skewed (a floor and a long
// tail), which is why Google Benchmark's tools/compare.py uses the same test (through scipy).
#include "mlpbench/compare.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <sstream>
#include <tuple>
#include <utility>

#include "mlpbench/defaults.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/report.hpp"

namespace mlpbench {

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::Same: return "same";
    case Verdict::Faster: return "faster";
    case Verdict::Slower: return "slower";
    case Verdict::Untested: return "untested";
  }
  return "untested";
}

namespace {

// The values a cell is tested on: its round medians where both cells have at least 3 (the unit of independent
// evidence), else its pooled samples (files from before round medians were stored).
bool by_rounds(const Cell& base, const Cell& now) { return base.stats.round_medians_ms.size() >= 3 && now.stats.round_medians_ms.size() >= 3; }

// Faster or slower when significant and beyond the threshold either way, else same.
Verdict verdict_of(bool significant, double ratio, double threshold_pct) {
  const bool beyond = std::fabs(ratio - 1) > threshold_pct / 100;
  return !significant || !beyond ? Verdict::Same : ratio < 1 ? Verdict::Faster : Verdict::Slower;
}

// probe: the drift probe's ratio NEW/BASE where its correction applies; CPU cells are then judged corrected by it.
CellChange change_of(const std::string& device, int batch, const Cell& base, const Cell& now, const CompareOptions& o, std::optional<double> probe) {
  CellChange c;
  c.device = device;
  c.batch = batch;
  c.cache = base.cache;
  c.base_ms = base.median_ms();
  c.new_ms = now.median_ms();
  c.ratio = c.base_ms > 0 ? c.new_ms / c.base_ms : std::numeric_limits<double>::quiet_NaN();
  c.reference = base.source == Source::Reference || now.source == Source::Reference;
  if (c.reference) return c;  // a number from a table, not a measurement: nothing to test
  c.pooled = !by_rounds(base, now);
  const std::vector<double>& base_values = c.pooled ? base.stats.samples_ms : base.stats.round_medians_ms;
  std::vector<double> now_values = c.pooled ? now.stats.samples_ms : now.stats.round_medians_ms;
  const auto plain = mann_whitney(base_values, now_values);
  if (!plain) return c;  // fewer than 3 values on a side: untested
  c.uncorrected = verdict_of(plain->p < o.alpha, c.ratio, o.threshold_pct);
  std::optional<MannWhitney> mw = plain;
  // The probe runs on the CPU: it corrects CPU cells, whose time moves with the machine's speed.
  if (probe && device == "CPU" && *probe > 0) {
    c.corrected = c.ratio / *probe;
    for (double& v : now_values) v /= *probe;
    mw = mann_whitney(base_values, now_values);
  }
  c.p = mw->p;
  c.significant = mw->p < o.alpha;
  // With many values a 1% difference can be significant; a verdict also needs the difference to matter: beyond
  // the threshold either way. Within it, or not significant, the cell is the same.
  const double judged = c.corrected.value_or(c.ratio);
  c.verdict = verdict_of(c.significant, judged, o.threshold_pct);
  c.regression = c.verdict == Verdict::Slower;
  return c;
}

std::string fixed(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

// The drift probe's ratio NEW/BASE where its correction applies: correction on, both files with the probe of short
// samples (version 2), and its change significant (U test on its round medians). A note says what was decided
// whenever both files carry a probe.
std::optional<double> probe_correction(const std::string& base_name, const Results& base, const std::string& name, const Results& now,
                                       const CompareOptions& o, std::vector<std::string>& notes) {
  if (!base.run.drift || !now.run.drift || base.run.drift->median_ms <= 0) return std::nullopt;
  const DriftProbe &b = *base.run.drift, &n = *now.run.drift;
  const double ratio = n.median_ms / b.median_ms;
  const std::string ran = name + ": the drift probe ran " + fixed("%.3f", ratio) + "x as long as in " + base_name + " (the machine's own speed)";
  if (b.version < 2 || n.version < 2) {
    notes.push_back(ran + "; not corrected for: " + (b.version < 2 ? base_name : name) +
                    " has the old probe (slices of tens of ms, which another process moves while the cells' short samples sidestep it)");
    return std::nullopt;
  }
  if (!o.drift_correction) {
    notes.push_back(ran + "; not corrected for (--no-drift-correction)");
    return std::nullopt;
  }
  const auto mw = mann_whitney(b.rounds_ms, n.rounds_ms);
  if (!mw || !(mw->p < o.alpha)) {
    notes.push_back(ran + "; not a significant change" + (mw ? " (p = " + fixed("%.4f", mw->p) + ", U test on its round medians)" : " (fewer than 3 rounds)") +
                    ": not corrected for");
    return std::nullopt;
  }
  notes.push_back(ran + ", a significant change (p = " + fixed("%.4f", mw->p) +
                  "): CPU cells are judged on the corrected ratio, with the uncorrected verdict beside where they differ");
  return ratio;
}

// What a results file says about its machine, settings and model; "" when it doesn't say.
std::string weights_of(const ModelInfo& m) {  // seeds compare by seed, files by content, not by path
  if (m.origin.kind == "seed") return "seed " + std::to_string(m.origin.seed);
  if (m.origin.kind == "file") return "file with sha256 " + m.origin.sha256.substr(0, 12);
  return "";
}

std::string precision_of(const Results& r) { return r.run.precision.value_or("fp32"); }  // files without it ran fp32

// What makes two files hold different work: "a.json holds 32-64-16-2 at fp32 and b.json 784-512-512-10 at fp32:
// different models"; "" when it is the same model at the same precision. Weights differ when both are seeded with
// other seeds or both read from files of another sha256; a seed against a file is not known to differ (a note says so).
std::string model_difference(const std::string& base_name, const Results& base, const std::string& name, const Results& now) {
  const WeightsOrigin &a = base.model.origin, &b = now.model.origin;
  const bool layers = base.model.layers != now.model.layers;
  const bool weights = !layers && a.kind == b.kind && ((a.kind == "seed" && a.seed != b.seed) || (a.kind == "file" && a.sha256 != b.sha256));
  const bool precision = precision_of(base) != precision_of(now);
  if (!layers && !weights && !precision) return "";
  const auto holds = [&](const Results& r) {
    std::string widths;
    for (int w : r.model.layers) widths += (widths.empty() ? "" : "-") + std::to_string(w);
    return widths + (weights ? " (" + weights_of(r.model) + ")" : "") + " at " + precision_of(r);
  };
  const std::string what = std::string(layers ? "different models" : weights ? "different weights" : "") +
                           (precision ? std::string(layers || weights ? " and " : "") + "different precisions" : "");
  return base_name + " holds " + holds(base) + " and " + name + " " + holds(now) + ": " + what;
}

// One note per difference that both files record; an unrecorded value (reference.json) is no difference. The model
// and precision are not noted: files that differ there are refused, or compared with that said first.
void difference_notes(const std::string& base_name, const Results& base, const std::string& name, const Results& now,
                      std::vector<std::string>& notes) {
  const auto note = [&](const std::string& what, const std::string& b, const std::string& n) {
    if (!b.empty() && !n.empty() && b != n) notes.push_back(name + " " + what + " '" + n + "' vs '" + b + "' in " + base_name);
  };
  note("ran on another machine: CPU", base.machine.cpu.value_or(""), now.machine.cpu.value_or(""));
  note("ran on another machine: GPU", gpu_text(base.machine), gpu_text(now.machine));
  if (base.model.origin.kind != now.model.origin.kind && !weights_of(base.model).empty() && !weights_of(now.model).empty()) {
    notes.push_back(name + " ran weights '" + weights_of(now.model) + "' and " + base_name + " '" + weights_of(base.model) +
                    "': the same model only if the file holds that seed's weights (mlpbench export-weights); not checked");
  }
  note("ran with other settings: threads", threads_text(base.run), threads_text(now.run));
  note("was built differently: build type", base.build.build_type.value_or(""), now.build.build_type.value_or(""));
}

// Every cell of a run, hot and cold, by (cache mode, device, batch): hot before cold, CPU before GPU.
using CellKey = std::tuple<CacheMode, std::string, int>;
// Emulated cells (run on a CUDA emulator) hold no time: they are left out, and emulated_note says so.
std::map<CellKey, const Cell*> cells_by_key(const Results& r) {
  std::map<CellKey, const Cell*> cells;
  for (const Table* t : tables_of(r)) {
    for (const auto& [device, per_batch] : t->cells) {
      for (const auto& [batch, cell] : per_batch) {
        if (cell.source != Source::Emulated) cells[{cell.cache, device, batch}] = &cell;
      }
    }
  }
  return cells;
}

CacheMode other(CacheMode m) { return m == CacheMode::Hot ? CacheMode::Cold : CacheMode::Hot; }

// "CPU 1" for a hot cell, "CPU 1 cold" for a cold one.
std::string cell_name(const std::string& device, int batch, CacheMode cache) {
  return device + " " + std::to_string(batch) + (cache == CacheMode::Cold ? " cold" : "");
}

// "not compared (emulated: run on a CUDA emulator, they hold no time): GPU 1, GPU 10 in NEW.json" for the files that
// hold emulated cells; "" when none does.
std::string emulated_note(const std::vector<std::pair<std::string, const Results*>>& files) {
  std::string note;
  for (const auto& [name, r] : files) {
    std::string cells;
    for (const Table* t : tables_of(*r)) {
      for (const auto& [device, per_batch] : t->cells) {
        for (const auto& [batch, cell] : per_batch) {
          if (cell.source == Source::Emulated) cells += (cells.empty() ? "" : ", ") + cell_name(device, batch, cell.cache);
        }
      }
    }
    if (!cells.empty()) note += (note.empty() ? "" : "; ") + cells + " in " + name;
  }
  return note.empty() ? "" : "not compared (emulated: run on a CUDA emulator, they hold no time): " + note;
}

std::string batch_text(const CellChange& c) { return std::to_string(c.batch) + (c.cache == CacheMode::Cold ? " cold" : ""); }

std::string ratio_text(double r) {
  if (!std::isfinite(r)) return "n/a";
  char buf[32];
  std::snprintf(buf, sizeof buf, r >= 100 ? "%.0fx" : r >= 0.01 ? "%.2fx" : "%.2gx", r);
  return buf;
}

std::string p_text(const std::optional<double>& p) {
  if (!p) return "-";
  if (*p < 0.0001) return "<0.0001";
  return fixed("%.4f", *p);
}

// "slower, regression", with "(uncorrected: same)" where the drift correction changed the verdict.
std::string verdict_text(const CellChange& c) {
  std::string v = verdict_name(c.verdict);
  if (c.reference) return v + " (reference cell)";
  if (c.verdict == Verdict::Untested) return v + " (no samples)";
  if (c.regression) v += ", regression";
  if (c.corrected && c.uncorrected != c.verdict) v += std::string(" (uncorrected: ") + verdict_name(c.uncorrected) + ")";
  return v;
}

// The rows as a Markdown table: the first row its header; the first two columns (device, batch) left-aligned.
std::string markdown_table(const std::vector<std::vector<std::string>>& rows) {
  std::string out;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out += "|";
    for (const std::string& cell : rows[i]) out += " " + cell + " |";
    out += "\n";
    if (i == 0) {
      out += "|";
      for (std::size_t k = 0; k < rows[0].size(); ++k) out += k < 2 ? "---|" : "---:|";
      out += "\n";
    }
  }
  return out;
}

// Columns padded to their widest entry: the first (device) and the last when `left_last` left-aligned, the rest right.
std::string render(const std::vector<std::vector<std::string>>& rows, bool left_last) {
  std::vector<bool> right(rows.empty() ? 0 : rows.front().size(), true);
  if (!right.empty()) right.front() = false;
  if (left_last && !right.empty()) right.back() = false;
  return aligned_columns(rows, right, "  ");
}

// The cells not compared: in one file only, or hot in one and cold in the other.
void note_not_compared(const std::string& base_name, const std::string& name, const std::string& only_base, const std::string& only_new,
                       const std::string& mismatched, std::vector<std::string>& notes) {
  if (!only_base.empty() || !only_new.empty()) {
    std::string note = "not compared (in one file only):";
    if (!only_base.empty()) note += " " + only_base + " only in " + base_name + (only_new.empty() ? "" : ";");
    if (!only_new.empty()) note += " " + only_new + " only in " + name;
    notes.push_back(note);
  }
  if (!mismatched.empty()) {
    notes.push_back("not compared (hot against cold: the weights in the caches in one, evicted in the other): " + mismatched +
                    "; run both with the same --cache");
  }
}

// Every NEW file against BASE's model and precision, before any is compared (a refusal prints nothing): another one
// throws InputError unless allowed, and is then recorded.
void check_models(const std::vector<std::pair<std::string, Results>>& files, const CompareOptions& options, Comparison& c) {
  for (std::size_t i = 1; i < files.size(); ++i) {
    const std::string d = model_difference(files.front().first, files.front().second, files[i].first, files[i].second);
    if (!d.empty() && !options.allow_different_models) throw InputError("compare: " + d + "; --allow-different-models compares them anyway");
    c.different_model.push_back(!d.empty());
    if (!d.empty()) c.model_differences.push_back(d);
  }
}

// ---- under load (serving) ----

// The highest offered rate both runs met the bound at, and their p99s there (rates compared as stored).
void matched_p99(const ServingRun& b, const ServingRun& n, ServingChange& ch) {
  for (const StepResult& s : b.search.steps) {
    if (!s.meets(b.search.config.slo_ms) || s.offered_qps <= ch.at_qps) continue;
    for (const StepResult& t : n.search.steps) {
      if (t.offered_qps != s.offered_qps || !t.meets(n.search.config.slo_ms)) continue;
      ch.at_qps = s.offered_qps;
      ch.base_p99_ms = s.p99_ms;
      ch.new_p99_ms = t.p99_ms;
    }
  }
}

// Why two runs are not judged against each other; "" when they are.
std::string serving_untested(const ServingRun& b, const ServingRun& n, bool different_model) {
  if (b.source != "measured" || n.source != "measured") return "simulated";
  if (b.search.interrupted || n.search.interrupted) return "interrupted";
  const ServeConfig &x = b.search.config, &y = n.search.config;
  if (x.slo_ms != y.slo_ms) return "bound " + format_ms(x.slo_ms) + " ms against " + format_ms(y.slo_ms) + " ms";
  if (x.max_batch != y.max_batch || x.max_queue_delay_us != y.max_queue_delay_us) return "another batcher";
  if (different_model) return "another model";
  return "";
}

// A searched best rate lies within the search's tolerance below the highest rate meeting the bound; rates given are exact.
double search_noise(const ServingRun& r) { return r.search.searched ? r.search.config.search_tolerance : 0.0; }

ServingChange serving_change(const std::string& run, const ServingRun& b, const ServingRun& n, const CompareOptions& o, bool different_model) {
  ServingChange ch;
  ch.device = b.device;
  ch.run = run;
  ch.source = b.source == "measured" && n.source == "measured" ? "measured" : "simulated";
  ch.base_qps = b.search.best_qps;
  ch.new_qps = n.search.best_qps;
  ch.ratio = ch.base_qps > 0 ? ch.new_qps / ch.base_qps : std::numeric_limits<double>::quiet_NaN();
  ch.noise = std::max(search_noise(b), search_noise(n)) + o.threshold_pct / 100;
  matched_p99(b, n, ch);
  ch.why_untested = serving_untested(b, n, different_model);
  if (!ch.why_untested.empty()) return ch;
  if (ch.base_qps <= 0) ch.verdict = ch.new_qps > 0 ? Verdict::Faster : Verdict::Same;
  else ch.verdict = ch.ratio > 1 + ch.noise ? Verdict::Faster : ch.ratio < 1 - ch.noise ? Verdict::Slower : Verdict::Same;
  ch.regression = ch.verdict == Verdict::Slower;
  return ch;
}

std::string run_name(const ServingRun& r) { return r.backend + (r.config.empty() ? "" : " [" + r.config + "]"); }

// NEW's runs against BASE's: per device a "best" row where either file has several runs of it, then each run both hold
// (same backend, configuration and source); `unmatched` lists the others.
std::vector<ServingChange> serving_changes(const Serving& base, const Serving& now, const CompareOptions& o, bool different_model,
                                           std::string& unmatched) {
  std::vector<ServingChange> out;
  const auto same = [](const ServingRun& a, const ServingRun& b) {
    return a.device == b.device && a.backend == b.backend && a.config == b.config && a.source == b.source;
  };
  for (const char* device : kDevices) {
    const auto runs_of = [&](const Serving& s) { return std::count_if(s.runs.begin(), s.runs.end(), [&](const ServingRun& r) { return r.device == device; }); };
    const ServingRun *b = best_serving_run(base, device), *n = best_serving_run(now, device);
    if (b && n && (runs_of(base) > 1 || runs_of(now) > 1)) out.push_back(serving_change("best", *b, *n, o, different_model));
    for (const ServingRun& r : base.runs) {
      if (r.device != device) continue;
      const auto m = std::find_if(now.runs.begin(), now.runs.end(), [&](const ServingRun& x) { return same(r, x); });
      if (m != now.runs.end()) out.push_back(serving_change(run_name(r), r, *m, o, different_model));
      else unmatched += (unmatched.empty() ? "" : ", ") + std::string(device) + " " + run_name(r) + " (" + r.source + ", BASE only)";
    }
    for (const ServingRun& r : now.runs) {
      if (r.device == device && std::none_of(base.runs.begin(), base.runs.end(), [&](const ServingRun& x) { return same(r, x); }))
        unmatched += (unmatched.empty() ? "" : ", ") + std::string(device) + " " + run_name(r) + " (" + r.source + ", NEW only)";
    }
  }
  return out;
}

// Under load, file i+1 against BASE: the changes, and notes on what was not compared.
void compare_serving(const std::string& base_name, const Results& base, const std::string& name, const Results& now, const CompareOptions& o,
                     bool different_model, Comparison& c) {
  c.serving.emplace_back();
  if (base.serving) c.serving_slo_ms = base.serving->config.slo_ms;
  if (!base.serving && !now.serving) return;
  if (!base.serving || !now.serving) {
    c.notes.push_back("not compared under load: " + (base.serving ? name : base_name) + " has no serving section");
    return;
  }
  std::string unmatched;
  c.serving.back() = serving_changes(*base.serving, *now.serving, o, different_model, unmatched);
  if (!unmatched.empty()) c.notes.push_back("not compared under load (in one file only): " + unmatched);
  for (const ServingChange& ch : c.serving.back()) c.regression = c.regression || ch.regression;
}

}  // namespace

Comparison compare_results(const std::vector<std::pair<std::string, Results>>& files, const CompareOptions& options) {
  if (files.size() < 2) throw InputError("compare: give a BASE and at least one NEW results file");
  Comparison c;
  c.threshold_pct = options.threshold_pct;
  c.alpha = options.alpha;
  const auto& [base_name, base] = files.front();
  for (const auto& f : files) c.files.push_back(f.first);
  check_models(files, options, c);
  for (std::size_t i = 1; i < files.size(); ++i) {
    const auto& [name, now] = files[i];
    difference_notes(base_name, base, name, now, c.notes);
    const std::optional<double> probe = probe_correction(base_name, base, name, now, options, c.notes);
    c.probe.push_back(probe);
    // Cells meet by device, batch and cache mode; one with its batch in the other file only in the other mode is
    // a mismatch, not judged.
    const auto base_cells = cells_by_key(base), now_cells = cells_by_key(now);
    std::vector<CellChange> changes;
    std::string only_base, only_new, mismatched;
    const auto add = [](std::string& list, const std::string& item) { list += (list.empty() ? "" : ", ") + item; };
    for (const auto& [key, cell] : base_cells) {
      const auto& [cache, device, batch] = key;
      if (const auto n = now_cells.find(key); n != now_cells.end()) {
        changes.push_back(change_of(device, batch, *cell, *n->second, options, probe));
      } else if (now_cells.count({other(cache), device, batch}) && !base_cells.count({other(cache), device, batch})) {
        add(mismatched, device + " " + std::to_string(batch) + " (" + cache_name(cache) + " in " + base_name + ", " + cache_name(other(cache)) +
                            " in " + name + ")");
      } else {
        add(only_base, cell_name(device, batch, cache));
      }
    }
    for (const auto& [key, cell] : now_cells) {
      const auto& [cache, device, batch] = key;
      const bool mismatch = base_cells.count({other(cache), device, batch}) && !now_cells.count({other(cache), device, batch});
      if (!base_cells.count(key) && !mismatch) add(only_new, cell_name(device, batch, cache));
    }
    if (c.different_model[i - 1]) {
      for (CellChange& ch : changes) ch.regression = false;  // another model's time is no regression of this one
    }
    std::string pooled;
    for (const CellChange& ch : changes) {
      c.regression = c.regression || ch.regression;
      if (ch.pooled && ch.p) add(pooled, cell_name(ch.device, ch.batch, ch.cache));
    }
    if (!pooled.empty()) {
      c.notes.push_back("tested on pooled samples: " + pooled + " (" + base_name + " or " + name +
                        " has no round medians: a file from before they were stored); the samples of one run share one state of the machine, so "
                        "their p-values overstate significance");
    }
    c.vs.push_back(std::move(changes));
    note_not_compared(base_name, name, only_base, only_new, mismatched, c.notes);
    compare_serving(base_name, base, name, now, options, c.different_model[i - 1], c);
  }
  std::vector<std::pair<std::string, const Results*>> all;
  for (const auto& [name, r] : files) all.emplace_back(name, &r);
  if (const std::string note = emulated_note(all); !note.empty()) c.notes.push_back(note);
  return c;
}

namespace {

// The rows of the comparison: a header, then one per cell (two files) or per (device, batch) (the fleet view).
std::vector<std::vector<std::string>> comparison_rows(const Comparison& c) {
  std::vector<std::vector<std::string>> rows;
  if (c.files.size() == 2) {
    const bool drift = c.probe.at(0).has_value();
    rows.push_back({"device", "batch", "base ms", "new ms", "ratio"});
    if (drift) rows.back().push_back("corrected");
    rows.back().insert(rows.back().end(), {"p", "verdict"});
    for (const CellChange& ch : c.vs.at(0)) {
      rows.push_back({ch.device, batch_text(ch), format_ms(ch.base_ms), format_ms(ch.new_ms), ratio_text(ch.ratio)});
      if (drift) rows.back().push_back(ch.corrected ? ratio_text(*ch.corrected) : "-");
      rows.back().insert(rows.back().end(), {p_text(ch.p), verdict_text(ch)});
    }
    return rows;
  }
  // Fleet view: a row per (device, batch) that any NEW file shares with BASE, a column per NEW file.
  std::vector<std::tuple<CacheMode, int, int>> keys;  // (cache mode, device index in kDevices, batch): hot, then CPU rows first
  for (const auto& changes : c.vs) {
    for (const CellChange& ch : changes) keys.emplace_back(ch.cache, ch.device == kDevices[0] ? 0 : 1, ch.batch);
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::vector<std::string> header = {"device", "batch", "base ms"};
  header.insert(header.end(), c.files.begin() + 1, c.files.end());
  rows.push_back(header);
  for (const auto& key : keys) {
    const auto [cache, device_index, batch] = key;
    const std::string device = kDevices[device_index];
    const CacheMode row_cache = cache;  // C++17 lambdas can't capture structured bindings
    const int row_batch = batch;
    std::vector<std::string> row = {device, std::to_string(batch) + (cache == CacheMode::Cold ? " cold" : ""), "-"};
    for (const auto& changes : c.vs) {
      const auto ch = std::find_if(changes.begin(), changes.end(),
                                   [&](const CellChange& x) { return x.device == device && x.batch == row_batch && x.cache == row_cache; });
      if (ch == changes.end()) {
        row.push_back("-");
        continue;
      }
      row[2] = format_ms(ch->base_ms);
      row.push_back(ratio_text(ch->ratio) + (ch->corrected ? " (" + ratio_text(*ch->corrected) + " corrected)" : "") + " " + verdict_text(*ch));
    }
    rows.push_back(row);
  }
  return rows;
}

std::string threshold_text(double pct) { return fixed("%g%%", pct); }

// Every NEW file holds another model than BASE (--allow-different-models): no cell was judged.
bool none_judged(const Comparison& c) {
  return !c.different_model.empty() && std::all_of(c.different_model.begin(), c.different_model.end(), [](bool d) { return d; });
}

// "No regression." or "Regression: N cell(s) significantly slower by more than T"; when every NEW file holds
// another model, "No regression judged: ...".
std::string closing_line(const Comparison& c) {
  int regressions = 0, serving = 0;
  for (const auto& changes : c.vs) regressions += static_cast<int>(std::count_if(changes.begin(), changes.end(), [](const CellChange& x) { return x.regression; }));
  for (const auto& changes : c.serving) serving += static_cast<int>(std::count_if(changes.begin(), changes.end(), [](const ServingChange& x) { return x.regression; }));
  if (regressions + serving == 0 && none_judged(c)) return "No regression judged: the files hold different models.";
  if (regressions + serving == 0) return "No regression.";
  const std::string cells = regressions ? std::to_string(regressions) + " cell(s) significantly slower by more than " + threshold_text(c.threshold_pct) : "";
  const std::string load = serving ? std::to_string(serving) + " best rate(s) under load lower beyond noise" : "";
  return "Regression: " + cells + (regressions && serving ? "; " : "") + load;
}

std::string serving_verdict_text(const ServingChange& ch) {
  if (ch.verdict == Verdict::Untested) return "untested (" + ch.why_untested + ")";
  return std::string(verdict_name(ch.verdict)) + (ch.regression ? ", regression" : "");
}

std::vector<std::vector<std::string>> serving_rows(const std::vector<ServingChange>& changes) {
  std::vector<std::vector<std::string>> rows = {{"device", "run", "base", "new", "ratio", "noise", "p99 at", "base p99 ms", "new p99 ms", "verdict"}};
  const auto rate = [](double q) { return q > 0 ? format_rate(q) : std::string("none"); };
  for (const ServingChange& ch : changes) {
    const bool at = ch.at_qps > 0;
    rows.push_back({ch.device, ch.run + (ch.source == "measured" ? "" : " (simulated)"), rate(ch.base_qps), rate(ch.new_qps), ratio_text(ch.ratio),
                    "+-" + fixed("%g", 100 * ch.noise) + "%", at ? format_rate(ch.at_qps) : "-", at ? format_ms(ch.base_p99_ms) : "-",
                    at ? format_ms(ch.new_p99_ms) : "-", serving_verdict_text(ch)});
  }
  return rows;
}

// The best rates under load, a table per NEW file that shares a serving section with BASE, and their legend; "" when
// none does.
std::string serving_section(const Comparison& c, bool markdown) {
  std::string out;
  for (std::size_t i = 0; i < c.serving.size(); ++i) {
    if (c.serving[i].empty()) continue;
    out += "\nUnder load: the best rate with p99 <= " + format_ms(c.serving_slo_ms) + " ms" +
           (c.files.size() > 2 ? " (" + c.files[i + 1] + " against BASE)" : "") + ":\n";
    const std::vector<bool> right = {false, false, true, true, true, true, true, true, true, false};  // device, run and verdict left
    out += markdown ? "\n" + markdown_table(serving_rows(c.serving[i])) : aligned_columns(serving_rows(c.serving[i]), right, "  ");
  }
  if (out.empty()) return "";
  return out + "\nbest: the highest rate whose p99 met the bound (none: no rate did); ratio: NEW/BASE; noise: the larger search tolerance of the two "
               "runs (0 for rates given) plus " + threshold_text(c.threshold_pct) + ";\nverdict: faster/slower beyond the noise either way, else same; "
               "regression: slower, both measured; p99 at: the highest rate both met the bound at, and their p99 there\n";
}

// Above the table, when files of different models are compared (--allow-different-models): that no cell of theirs
// counts (in bold in Markdown), then what differs, one line each. "" when every file holds BASE's model.
std::string different_models_text(const Comparison& c, bool markdown) {
  if (c.model_differences.empty()) return "";
  const std::string quote = markdown ? "`" : "", bullet = markdown ? "- " : "  ";
  std::string names;
  for (std::size_t i = 0; i < c.different_model.size(); ++i) {
    if (c.different_model[i]) names += (names.empty() ? "" : ", ") + quote + c.files[i + 1] + quote;
  }
  std::string text = "Different models (--allow-different-models): the ratios compare different work, and no cell of " + names +
                     " counts as a regression.";
  if (markdown) text = "**" + text + "**";  // as prominent as the verdict
  text += "\n\n";
  for (const std::string& d : c.model_differences) text += bullet + d + "\n";
  return text + "\n";
}

}  // namespace

std::string comparison_markdown(const Comparison& c) {
  std::ostringstream out;
  out << different_models_text(c, /*markdown=*/true);
  if (!none_judged(c)) out << "**" << closing_line(c) << "**\n\n";
  out << "BASE: `" << c.files[0] << "`" << (c.files.size() == 2 ? "  \nNEW: `" + c.files[1] + "`" : "") << "\n\n";
  out << markdown_table(comparison_rows(c));
  out << "\nratio: NEW/BASE of the medians (corrected: divided by the drift probe's ratio); verdict: faster/slower when the "
         "Mann-Whitney U test on the round medians is significant and the change is beyond "
      << threshold_text(c.threshold_pct) << "\n" << serving_section(c, /*markdown=*/true);
  for (const std::string& n : c.notes) out << "\n- " << n;
  if (!c.notes.empty()) out << "\n";
  return out.str();
}

std::string comparison_text(const Comparison& c) {
  std::ostringstream out;
  out << different_models_text(c, /*markdown=*/false);
  out << "BASE: " << c.files[0] << "\n" << (c.files.size() == 2 ? "NEW:  " + c.files[1] + "\n" : "") << "\n";
  out << render(comparison_rows(c), c.files.size() == 2);
  char alpha[32];
  std::snprintf(alpha, sizeof alpha, "%g", c.alpha);
  out << "\nratio: NEW/BASE of the medians; corrected: divided by the drift probe's ratio (CPU cells, where its change is significant);\n"
         "p: two-sided Mann-Whitney U test on the cells' round medians (corrected where there is a corrected ratio), significant below "
      << alpha << "\nverdict: faster/slower when significant and beyond " << threshold_text(c.threshold_pct)
      << " either way (on the corrected ratio where there is one), else\nsame; regression: slower, measured\n" << serving_section(c, /*markdown=*/false);
  for (const std::string& n : c.notes) out << "Note: " << n << "\n";
  out << closing_line(c) << "\n";
  return out.str();
}

HistoryComparison compare_history(const std::vector<std::pair<std::string, Results>>& baselines, const std::pair<std::string, Results>& now,
                                  const CompareOptions& options) {
  if (baselines.size() < 2) throw InputError("compare: a history needs at least two --baseline files");
  const auto& [name, next] = now;
  HistoryComparison h;
  h.file = name;
  h.threshold_pct = options.threshold_pct;
  h.alpha = options.alpha;
  for (const auto& [base_name, base] : baselines) {  // all checked before any is compared: a refusal prints nothing
    const std::string d = model_difference(base_name, base, name, next);
    if (!d.empty() && !options.allow_different_models) throw InputError("compare: " + d + "; --allow-different-models compares them anyway");
    if (!d.empty()) h.model_differences.push_back(d);
    h.baselines.push_back(base_name);
  }
  // Each baseline's cells, its CPU medians scaled to NEW's machine speed where its probe's change is significant.
  std::vector<std::map<CellKey, const Cell*>> cells;
  std::vector<double> scale;
  std::string scaled;
  for (const auto& [base_name, base] : baselines) {
    std::vector<std::string> probe_notes;
    scale.push_back(probe_correction(base_name, base, name, next, options, probe_notes).value_or(1.0));
    if (scale.back() != 1.0) scaled += (scaled.empty() ? "" : ", ") + base_name + " " + fixed("%.3f", scale.back()) + "x";
    cells.push_back(cells_by_key(base));
    difference_notes(base_name, base, name, next, h.notes);
  }
  if (!scaled.empty()) {
    h.notes.push_back("CPU medians scaled by the drift probe's ratio " + name + "/baseline, where that change is significant: " + scaled);
  }
  std::string thin;
  for (const auto& [key, cell] : cells_by_key(next)) {
    const auto& [cache, device, batch] = key;
    HistoryChange ch;
    ch.device = device;
    ch.batch = batch;
    ch.cache = cache;
    ch.new_ms = cell->median_ms();
    ch.reference = cell->source == Source::Reference;
    std::vector<double> history;
    for (std::size_t b = 0; b < cells.size(); ++b) {
      const auto it = cells[b].find(key);
      if (it == cells[b].end() || it->second->source == Source::Reference) continue;
      history.push_back(it->second->median_ms() * (device == "CPU" ? scale[b] : 1.0));
    }
    if (!ch.reference && history.size() >= 2 && ch.new_ms > 0) {
      ch.band = history_band(history, ch.new_ms, options.alpha);
      ch.verdict = verdict_of(ch.band.outside, ch.band.ratio, options.threshold_pct);
      ch.regression = ch.verdict == Verdict::Slower;
    } else if (!ch.reference) {
      ch.band.runs = static_cast<int>(history.size());
      thin += (thin.empty() ? "" : ", ") + cell_name(device, batch, cache);
    }
    ch.regression = ch.regression && h.model_differences.empty();  // another model's time is no regression of this one
    h.regression = h.regression || ch.regression;
    h.cells.push_back(ch);
  }
  if (!thin.empty()) h.notes.push_back("not judged (fewer than two baselines measured them): " + thin);
  std::vector<std::pair<std::string, const Results*>> all;
  for (const auto& [base_name, base] : baselines) all.emplace_back(base_name, &base);
  all.emplace_back(name, &next);
  if (const std::string note = emulated_note(all); !note.empty()) h.notes.push_back(note);
  return h;
}

namespace {

std::string history_verdict_text(const HistoryChange& c) {
  if (c.reference) return "untested (reference cell)";
  if (c.verdict == Verdict::Untested) return "untested (" + std::to_string(c.band.runs) + (c.band.runs == 1 ? " baseline run)" : " baseline runs)");
  return std::string(verdict_name(c.verdict)) + (c.regression ? ", regression" : "");
}

std::vector<std::vector<std::string>> history_rows(const HistoryComparison& h) {
  std::vector<std::vector<std::string>> rows = {{"device", "batch", "history ms", "band", "runs", "new ms", "ratio", "verdict"}};
  for (const HistoryChange& c : h.cells) {
    const bool judged = c.verdict != Verdict::Untested;
    rows.push_back({c.device, std::to_string(c.batch) + (c.cache == CacheMode::Cold ? " cold" : ""), judged ? format_ms(c.band.center_ms) : "-",
                    judged ? "+-" + fixed("%.1f", 100 * c.band.half_rel) + "%" : "-", std::to_string(c.band.runs), format_ms(c.new_ms),
                    judged ? ratio_text(c.band.ratio) : "-", history_verdict_text(c)});
  }
  return rows;
}

std::string history_closing_line(const HistoryComparison& h) {
  const auto n = std::count_if(h.cells.begin(), h.cells.end(), [](const HistoryChange& c) { return c.regression; });
  const std::string against = " (against " + std::to_string(h.baselines.size()) + " baseline runs)";
  if (!h.model_differences.empty()) return "No regression judged" + against + ": the files hold different models.";
  if (n == 0) return "No regression" + against + ".";
  return "Regression" + against + ": " + std::to_string(n) + " cell(s) outside the history's band and slower by more than " +
         threshold_text(h.threshold_pct);
}

std::string history_legend(const HistoryComparison& h) {
  return "history ms: the typical median of the baseline runs (geometric mean); runs: the baselines that measured the cell;\n"
         "band: where a run of the same program falls with " + fixed("%g", 100 * (1 - h.alpha)) +
         "% confidence (Student's prediction interval of the baselines' log medians);\n"
         "verdict: faster/slower when outside the band and beyond " + threshold_text(h.threshold_pct) + " either way, else same; regression: slower, measured\n";
}

// Before the table, where baselines hold another model (--allow-different-models): that no cell counts, then what
// differs, one line each.
std::string history_models_text(const HistoryComparison& h, bool markdown) {
  if (h.model_differences.empty()) return "";
  const std::string text = "Different models (--allow-different-models): the ratios compare different work, and no cell counts as a regression.";
  std::string out = (markdown ? "**" + text + "**" : text) + "\n\n";
  for (const std::string& d : h.model_differences) out += (markdown ? "- " : "  ") + d + "\n";
  return out + "\n";
}

}  // namespace

std::string history_text(const HistoryComparison& h) {
  std::ostringstream out;
  out << history_models_text(h, false);
  out << "BASELINES: " << h.baselines.size() << " runs, " << h.baselines.front() << " ... " << h.baselines.back() << "\nNEW:       " << h.file << "\n\n";
  out << render(history_rows(h), true) << "\n" << history_legend(h);
  for (const std::string& n : h.notes) out << "Note: " << n << "\n";
  out << history_closing_line(h) << "\n";
  return out.str();
}

std::string history_markdown(const HistoryComparison& h) {
  std::ostringstream out;
  out << history_models_text(h, true) << "**" << history_closing_line(h) << "**\n\n";
  out << "BASELINES: " << h.baselines.size() << " runs (`" << h.baselines.front() << "` ... `" << h.baselines.back() << "`)  \nNEW: `" << h.file
      << "`\n\n";
  out << markdown_table(history_rows(h));
  out << "\n" << history_legend(h);
  for (const std::string& n : h.notes) out << "\n- " << n;
  if (!h.notes.empty()) out << "\n";
  return out.str();
}

}  // namespace mlpbench
