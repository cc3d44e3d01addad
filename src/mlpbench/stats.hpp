// The statistics mlpbench judges with, in one place (tests/stats_test.cpp checks each against scipy or by hand):
// quantiles, the Mann-Whitney U test (scipy's mannwhitneyu, exact for small samples as its 'auto' method), the
// distribution-free interval of a median, Student's t quantile, and the prediction band of a history of runs.
// Rounds are the unit of independent evidence (issue 19): a run's samples share one state of the machine, its
// rounds' medians do not, so intervals and tests take the round medians where a file has them.
#pragma once

#include <optional>
#include <vector>

namespace mlpbench {

// Linear-interpolated quantile (type 7, as numpy's default) of sorted values, q in [0, 1].
double quantile_sorted(const std::vector<double>& sorted, double q);
// The median of values in any order (at least one).
double median_of(std::vector<double> values);

// Two-sided Mann-Whitney U test as scipy.stats.mannwhitneyu(a, b, alternative='two-sided'). Auto, scipy's default:
// the exact distribution of U when a side has at most 8 values and there are no ties (round medians), else the
// normal approximation with tie and continuity correction (pooled samples). nullopt when a side has fewer than 3.
enum class UMethod { Auto, Asymptotic, Exact };
struct MannWhitney {
  double u = 0;  // U of the first sample
  double p = 1;  // two-sided p-value
  bool exact = false;
};
std::optional<MannWhitney> mann_whitney(const std::vector<double>& a, const std::vector<double>& b, UMethod method = UMethod::Auto);

// The median of `values` and a distribution-free interval around it from order statistics (the sign test's):
// [x_(k), x_(n+1-k)] with the largest k whose two-sided coverage 1 - 2 P(Binomial(n, 1/2) < k) is at least 95%;
// for 6 values, [min, max] at 96.9%. With fewer than 6 values no k reaches 95%: [min, max], `coverage` says how much.
struct MedianInterval {
  double median = 0, lo = 0, hi = 0;
  double coverage = 0;
  double half_rel() const { return median > 0 ? (hi - lo) / 2 / median : 0; }  // half its width, relative to the median
};
MedianInterval median_interval(std::vector<double> values);

// Student's t quantile t_{q, df}, for q in {0.975, 0.995} (two-sided 95% and 99%) and df >= 1; exact to 3 decimals.
double t_quantile(double q, int df);

// Where a new run's median should fall, given the medians of N >= 2 earlier runs (a history): on log times, the
// mean of the history +- t_{1 - alpha/2, N-1} s sqrt(1 + 1/N), s their standard deviation (Student's prediction
// interval; Bencher's t-test threshold). ratio = new / exp(mean); outside = the new value is beyond the band.
struct HistoryBand {
  int runs = 0;
  double center_ms = 0;    // exp(mean of log medians): the history's typical median
  double half_rel = 0;     // exp(half-width) - 1: the band is center / (1 + half_rel) .. center * (1 + half_rel)
  double ratio = 0;        // new / center
  bool outside = false;
};
HistoryBand history_band(const std::vector<double>& history_ms, double new_ms, double alpha = 0.05);

}  // namespace mlpbench
