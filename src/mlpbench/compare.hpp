// Comparing results files: per cell the ratio NEW/BASE of the medians, whether the difference is significant
// (a two-sided Mann-Whitney U test at alpha 0.05, as Google Benchmark's compare.py, on the cells' round medians:
// rounds are the unit of independent evidence; files written before round medians were stored are tested on their
// pooled samples, which overstate significance, and a note says so), and a verdict: faster or slower when
// significant and beyond the threshold either way, else same. A measured cell significantly slower by more than
// the threshold is a regression (exit 1).
// Files of different models (layer widths, or weights: other seeds, files of another sha256) or precisions are
// refused, unless allowed: then they are compared, said first, and no cell of theirs counts as a regression.
// Reference cells are shown but never count; emulated cells (run on a CUDA emulator) hold no time: they are left
// out, and a note names them. Hot cells are compared with hot ones and cold with cold (run
// --cache); a cell measured hot in one file and cold in the other is not judged, and a note says so. Files from
// different machines are compared all the same, and the comparison says so.
// The drift probe (run.drift, version 2: a median of short samples per round, as the cells are measured) says how
// much faster or slower the machine itself ran. Its correction applies to CPU cells only when both files carry
// that probe and its own change is significant (the U test on the probes' round medians); then CPU cells are
// judged on the ratio divided by the probe's, and the uncorrected verdict is shown beside where the two differ.
// --no-drift-correction turns it off.
// Against a history (compare_history: N >= 2 baseline runs of one model), a cell is slower or faster only when the
// new median is outside the prediction band of the baselines' medians (stats.hpp history_band) and beyond the
// threshold: the spread between runs, which no single run can show, is what a gate must beat.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "mlpbench/results.hpp"
#include "mlpbench/stats.hpp"

namespace mlpbench {

inline constexpr double kAlpha = 0.05;  // significance level of the test, as compare.py's

enum class Verdict { Same, Faster, Slower, Untested };  // Untested: a reference cell, or no samples to test
const char* verdict_name(Verdict v);                    // "same", "faster", "slower", "untested"

struct CellChange {
  std::string device;  // "CPU" or "GPU"
  int batch = 0;
  CacheMode cache = CacheMode::Hot;  // both cells' (a hot cell is never judged against a cold one)
  double base_ms = 0, new_ms = 0;
  double ratio = 0;  // new / base
  std::optional<double> corrected;  // ratio / the drift probe's ratio (CPU cells, when the correction applies)
  std::optional<double> p;  // Mann-Whitney p-value (on the corrected values, if any)
  bool pooled = false;      // tested on pooled samples: a side has fewer than 3 round medians (a file from before them)
  bool significant = false;  // p < alpha
  Verdict verdict = Verdict::Untested;
  Verdict uncorrected = Verdict::Untested;  // the verdict on the uncorrected ratio and values, where corrected
  bool reference = false;  // either side is a reference cell: shown, never a regression
  bool regression = false; // measured, significantly slower by more than the threshold
};

// Under load (`mlpbench serve`, Results::serving): a run of NEW against BASE's, matched by device, backend,
// configuration and source; with more than one run of a device in either file, also a "best" row, each file's answer
// for the device (best_serving_run). A lower best rate beyond noise is a regression: noise is the larger search
// tolerance of the two runs (a searched best rate stops within it below the highest rate meeting the bound; 0 for
// rates given) plus the threshold (the machine's own variation), so 5% + 5% by default. Judged only where both runs
// are measured and complete (not interrupted), under the same bound and batcher (slo, max batch, max queue delay),
// and the files hold the same model; else shown, untested, and why.
struct ServingChange {
  std::string device;
  std::string run;                    // "best", or "<backend> [<config>]"
  std::string source;                 // "measured", or "simulated" when either side is
  double base_qps = 0, new_qps = 0;   // the best rates that met the bound (0: none did)
  double ratio = 0;                   // new / base of the best rates (NaN when base is 0)
  double at_qps = 0;                  // the highest offered rate both met the bound at, where the p99s stand; 0: none
  double base_p99_ms = 0, new_p99_ms = 0;
  double noise = 0;                   // a fraction: a change must pass it to count
  Verdict verdict = Verdict::Untested;  // Faster: a higher best rate beyond noise; Slower: lower
  std::string why_untested;           // Untested: why
  bool regression = false;            // measured, judged, Slower
};

struct Comparison {
  std::vector<std::string> files;             // BASE first
  std::vector<std::vector<CellChange>> vs;    // vs[i]: file i+1 against BASE, cells present in both
  std::vector<std::optional<double>> probe;   // probe[i]: the drift probe's ratio file i+1 / BASE, where its correction applies
  std::vector<std::string> notes;             // e.g. "NEW.json ran on another machine (...)"
  std::vector<bool> different_model;          // different_model[i]: file i+1 holds another model or precision (allowed)
  std::vector<std::string> model_differences; // what differs, one line per such file: "a.json holds 32-64-16-2 at fp32 and ..."
  std::vector<std::vector<ServingChange>> serving;  // serving[i]: file i+1 against BASE under load; empty unless both have serving
  double serving_slo_ms = 0;                  // BASE's bound, for the table's title (0: BASE has no serving section)
  bool regression = false;
  double threshold_pct = 5;  // as given to compare_results, for the closing line
  double alpha = kAlpha;
};

struct CompareOptions {
  double threshold_pct = 5;             // the slowdown that counts (5 = 5%)
  double alpha = kAlpha;
  bool allow_different_models = false;
  bool drift_correction = true;         // --no-drift-correction: false
};

// files: (name, results) with BASE first, at least two. A NEW file of another model or precision than BASE throws
// InputError naming both and what differs, unless allow_different_models: then its cells are compared but none is
// a regression.
Comparison compare_results(const std::vector<std::pair<std::string, Results>>& files, const CompareOptions& options = {});

// One cell of the new run against the same cell of N baseline runs.
struct HistoryChange {
  std::string device;
  int batch = 0;
  CacheMode cache = CacheMode::Hot;
  HistoryBand band;           // of the baselines' medians (drift-scaled where it applies) around the new median
  double new_ms = 0;
  Verdict verdict = Verdict::Untested;  // Untested: fewer than 2 baselines measured this cell, or a reference cell
  bool reference = false;
  bool regression = false;    // outside the band, slower by more than the threshold, measured
};

struct HistoryComparison {
  std::vector<std::string> baselines;  // oldest first, as given
  std::string file;                    // NEW
  std::vector<HistoryChange> cells;
  std::vector<std::string> notes;
  std::vector<std::string> model_differences;  // baselines of another model (allowed): what differs, one line each
  bool regression = false;
  double threshold_pct = 5;
  double alpha = kAlpha;
};

// baselines: at least two runs of NEW's model and precision (another model throws InputError naming it, unless
// allow_different_models: then compared, said first, and no cell is a regression). Per cell of
// NEW, the baselines that measured it (each baseline's CPU median scaled by its drift probe's ratio to NEW's where
// that change is significant and correction is on) give the band.
HistoryComparison compare_history(const std::vector<std::pair<std::string, Results>>& baselines, const std::pair<std::string, Results>& now,
                                  const CompareOptions& options = {});
std::string history_text(const HistoryComparison& c);
std::string history_markdown(const HistoryComparison& c);

// Text: first, files of different models (allowed) and what differs; then with two files a table of every cell
// (device, batch, base, new, ratio, p, verdict); with more, one column of ratios (and verdicts) per file: the fleet
// view. Then, where both files have a serving section, the best rates under load (a table per NEW file). Then the
// notes and a closing line.
std::string comparison_text(const Comparison& c);

// The same as Markdown, for a pull-request comment or a CI job summary: different models in bold first, the closing
// verdict in bold (unless no file was judged), the table, the legend, the notes as bullets.
std::string comparison_markdown(const Comparison& c);

}  // namespace mlpbench
