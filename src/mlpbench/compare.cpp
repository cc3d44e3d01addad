// See compare.hpp. Comparing results files cell by cell: the ratio NEW/BASE of the medians, a two-sided
// Mann-Whitney U test on the stored samples (samples_ms) for significance, a verdict, and the text of it all.
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

// probe: the drift probe's ratio NEW/BASE, when both files have it; CPU cells are judged corrected by it.
CellChange change_of(const std::string& device, int batch, const Cell& base, const Cell& now, double threshold_pct, double alpha,
                     std::optional<double> probe) {
  CellChange c;
  c.device = device;
  c.batch = batch;
  c.cache = base.cache;
  c.base_ms = base.median_ms();
  c.new_ms = now.median_ms();
  c.ratio = c.base_ms > 0 ? c.new_ms / c.base_ms : std::numeric_limits<double>::quiet_NaN();
  c.reference = base.source == Source::Reference || now.source == Source::Reference;
  if (c.reference) return c;  // a number from a table, not a measurement: nothing to test
  // The probe runs on the CPU: it corrects CPU cells, whose time moves with the machine's speed.
  std::vector<double> now_samples = now.stats.samples_ms;
  if (probe && device == "CPU" && *probe > 0) {
    c.corrected = c.ratio / *probe;
    for (double& v : now_samples) v /= *probe;
  }
  const auto mw = mann_whitney(base.stats.samples_ms, now_samples);
  if (!mw) return c;  // fewer than 3 samples on a side: untested
  c.p = mw->p;
  c.significant = mw->p < alpha;
  // With thousands of samples a 1% difference is significant; a verdict also needs the difference to
  // matter: beyond the threshold either way. Within it, or not significant, the cell is the same.
  const double judged = c.corrected.value_or(c.ratio);
  const bool beyond = std::fabs(judged - 1) > threshold_pct / 100;
  c.verdict = !c.significant || !beyond ? Verdict::Same : judged < 1 ? Verdict::Faster : Verdict::Slower;
  c.regression = c.significant && judged > 1 + threshold_pct / 100;
  return c;
}

std::optional<double> probe_ratio(const Results& base, const Results& now) {
  if (!base.run.drift || !now.run.drift || base.run.drift->median_ms <= 0) return std::nullopt;
  return now.run.drift->median_ms / base.run.drift->median_ms;
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
std::map<CellKey, const Cell*> cells_by_key(const Results& r) {
  std::map<CellKey, const Cell*> cells;
  for (const Table* t : tables_of(r)) {
    for (const auto& [device, per_batch] : t->cells) {
      for (const auto& [batch, cell] : per_batch) cells[{cell.cache, device, batch}] = &cell;
    }
  }
  return cells;
}

CacheMode other(CacheMode m) { return m == CacheMode::Hot ? CacheMode::Cold : CacheMode::Hot; }

// "CPU 1" for a hot cell, "CPU 1 cold" for a cold one.
std::string cell_name(const std::string& device, int batch, CacheMode cache) {
  return device + " " + std::to_string(batch) + (cache == CacheMode::Cold ? " cold" : "");
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
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", *p);
  return buf;
}

std::string verdict_text(const CellChange& c) {
  std::string v = verdict_name(c.verdict);
  if (c.regression) return v + ", regression";
  if (c.reference) return v + " (reference cell)";
  if (c.verdict == Verdict::Untested) return v + " (no samples)";
  return v;
}

// Columns padded to their widest entry: the first two (device, batch) and the last left-aligned when `left_last`.
std::string render(const std::vector<std::vector<std::string>>& rows, bool left_last) {
  std::vector<std::size_t> width;
  for (const auto& r : rows) {
    width.resize(std::max(width.size(), r.size()));
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  std::string out;
  for (const auto& r : rows) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      const std::string pad(width[i] - r[i].size(), ' ');
      const bool left = i == 0 || (left_last && i + 1 == r.size());
      line += (i ? "  " : "") + (left ? r[i] + pad : pad + r[i]);
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out += line + "\n";
  }
  return out;
}

}  // namespace

Comparison compare_results(const std::vector<std::pair<std::string, Results>>& files, double threshold_pct, double alpha,
                           bool allow_different_models) {
  if (files.size() < 2) throw InputError("compare: give a BASE and at least one NEW results file");
  Comparison c;
  c.threshold_pct = threshold_pct;
  c.alpha = alpha;
  const auto& [base_name, base] = files.front();
  for (const auto& f : files) c.files.push_back(f.first);
  for (std::size_t i = 1; i < files.size(); ++i) {  // every file checked before any is compared: a refusal prints nothing
    const std::string d = model_difference(base_name, base, files[i].first, files[i].second);
    if (!d.empty() && !allow_different_models) throw InputError("compare: " + d + "; --allow-different-models compares them anyway");
    c.different_model.push_back(!d.empty());
    if (!d.empty()) c.model_differences.push_back(d);
  }
  for (std::size_t i = 1; i < files.size(); ++i) {
    const auto& [name, now] = files[i];
    difference_notes(base_name, base, name, now, c.notes);
    const std::optional<double> probe = probe_ratio(base, now);
    c.probe.push_back(probe);
    if (probe) {
      char line[256];
      std::snprintf(line, sizeof line, "%s: the drift probe ran %.3fx as long as in %s (the machine's own speed); CPU cells are judged on the corrected ratio",
                    name.c_str(), *probe, base_name.c_str());
      c.notes.push_back(line);
    }
    // Cells meet by device, batch and cache mode; one with its batch in the other file only in the other mode is
    // a mismatch, not judged.
    const auto base_cells = cells_by_key(base), now_cells = cells_by_key(now);
    std::vector<CellChange> changes;
    std::string only_base, only_new, mismatched;
    const auto add = [](std::string& list, const std::string& item) { list += (list.empty() ? "" : ", ") + item; };
    for (const auto& [key, cell] : base_cells) {
      const auto& [cache, device, batch] = key;
      if (const auto n = now_cells.find(key); n != now_cells.end()) {
        changes.push_back(change_of(device, batch, *cell, *n->second, threshold_pct, alpha, probe));
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
    for (const CellChange& ch : changes) c.regression = c.regression || ch.regression;
    c.vs.push_back(std::move(changes));
    if (!only_base.empty() || !only_new.empty()) {
      std::string note = "not compared (in one file only):";
      if (!only_base.empty()) note += " " + only_base + " only in " + base_name + (only_new.empty() ? "" : ";");
      if (!only_new.empty()) note += " " + only_new + " only in " + name;
      c.notes.push_back(note);
    }
    if (!mismatched.empty()) {
      c.notes.push_back("not compared (hot against cold: the weights in the caches in one, evicted in the other): " + mismatched +
                        "; run both with the same --cache");
    }
  }
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
      row.push_back(ratio_text(ch->ratio) + (ch->corrected ? " (" + ratio_text(*ch->corrected) + " corrected)" : "") + " " +
                    verdict_name(ch->verdict) + (ch->regression ? ", regression" : ""));
    }
    rows.push_back(row);
  }
  return rows;
}

std::string threshold_text(double pct) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g%%", pct);
  return buf;
}

// Every NEW file holds another model than BASE (--allow-different-models): no cell was judged.
bool none_judged(const Comparison& c) {
  return !c.different_model.empty() && std::all_of(c.different_model.begin(), c.different_model.end(), [](bool d) { return d; });
}

// "No regression." or "Regression: N cell(s) significantly slower by more than T"; when every NEW file holds
// another model, "No regression judged: ...".
std::string closing_line(const Comparison& c) {
  int regressions = 0;
  for (const auto& changes : c.vs) regressions += static_cast<int>(std::count_if(changes.begin(), changes.end(), [](const CellChange& x) { return x.regression; }));
  if (regressions == 0 && none_judged(c)) return "No regression judged: the files hold different models.";
  if (regressions == 0) return "No regression.";
  return "Regression: " + std::to_string(regressions) + " cell(s) significantly slower by more than " + threshold_text(c.threshold_pct);
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
  const auto rows = comparison_rows(c);
  for (std::size_t i = 0; i < rows.size(); ++i) {
    out << "|";
    for (const std::string& cell : rows[i]) out << " " << cell << " |";
    out << "\n";
    if (i == 0) {
      out << "|";
      for (std::size_t k = 0; k < rows[0].size(); ++k) out << (k < 2 ? "---|" : "---:|");
      out << "\n";
    }
  }
  out << "\nratio: NEW/BASE of the medians (corrected: divided by the drift probe's ratio); verdict: faster/slower when the "
         "Mann-Whitney U test is significant and the change is beyond "
      << threshold_text(c.threshold_pct) << "\n";
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
  out << "\nratio: NEW/BASE of the medians; corrected: divided by the drift probe's ratio (CPU cells, both files with the probe);\n"
         "p: two-sided Mann-Whitney U test on the samples (corrected where there is a corrected ratio), significant below "
      << alpha << "\nverdict: faster/slower when significant and beyond " << threshold_text(c.threshold_pct)
      << " either way (on the corrected ratio where there is one), else\nsame; regression: slower, measured\n";
  for (const std::string& n : c.notes) out << "Note: " << n << "\n";
  out << closing_line(c) << "\n";
  return out.str();
}

}  // namespace mlpbench
