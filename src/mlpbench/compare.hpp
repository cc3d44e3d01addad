// Comparing results files: per cell the ratio NEW/BASE of the medians, whether the difference is significant
// (two-sided Mann-Whitney U on the stored samples at alpha 0.05, as Google Benchmark's compare.py), and a
// verdict: faster or slower when significant and beyond the threshold either way, else same. A measured cell significantly slower by more than the threshold is a regression (exit 1).
// Files of different models (layer widths, or weights: other seeds, files of another sha256) or precisions are
// refused, unless allowed: then they are compared, said first, and no cell of theirs counts as a regression.
// Reference cells are shown but never count. Hot cells are compared with hot ones and cold with cold (run
// --cache); a cell measured hot in one file and cold in the other is not judged, and a note says so. Files from different machines are compared all the same, and
// the comparison says so. When both files carry the drift probe (run.drift), the probe's ratio NEW/BASE says how
// much faster or slower the machine itself ran; CPU cells are then judged on the drift-corrected ratio (the NEW
// samples divided by the probe ratio), and both ratios are shown.
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
  std::optional<double> corrected;  // ratio / the drift probe's ratio (CPU cells, both files with the probe)
  std::optional<double> p;  // Mann-Whitney p-value when both cells have samples (on the corrected samples, if any)
  bool significant = false;  // p < alpha
  Verdict verdict = Verdict::Untested;
  bool reference = false;  // either side is a reference cell: shown, never a regression
  bool regression = false; // measured, significantly slower by more than the threshold
};

struct Comparison {
  std::vector<std::string> files;             // BASE first
  std::vector<std::vector<CellChange>> vs;    // vs[i]: file i+1 against BASE, cells present in both
  std::vector<std::optional<double>> probe;   // probe[i]: drift probe median of file i+1 / BASE's, when both have it
  std::vector<std::string> notes;             // e.g. "NEW.json ran on another machine (...)"
  std::vector<bool> different_model;          // different_model[i]: file i+1 holds another model or precision (allowed)
  std::vector<std::string> model_differences; // what differs, one line per such file: "a.json holds 32-64-16-2 at fp32 and ..."
  bool regression = false;
  double threshold_pct = 5;  // as given to compare_results, for the closing line
  double alpha = kAlpha;
};

// files: (name, results) with BASE first, at least two. threshold_pct: the slowdown that counts (5 = 5%). A NEW file
// of another model or precision than BASE throws InputError naming both and what differs, unless
// allow_different_models: then its cells are compared but none is a regression.
Comparison compare_results(const std::vector<std::pair<std::string, Results>>& files, double threshold_pct, double alpha = kAlpha,
                           bool allow_different_models = false);

// Text: first, files of different models (allowed) and what differs; then with two files a table of every cell
// (device, batch, base, new, ratio, p, verdict); with more, one column of ratios (and verdicts) per file: the fleet
// view. Then the notes and a closing line.
std::string comparison_text(const Comparison& c);

// The same as Markdown, for a pull-request comment or a CI job summary: different models in bold first, the closing
// verdict in bold (unless no file was judged), the table, the legend, the notes as bullets.
std::string comparison_markdown(const Comparison& c);

}  // namespace mlpbench
