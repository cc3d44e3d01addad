// See stats.hpp.
#include "mlpbench/stats.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>
#include <utility>

namespace mlpbench {

double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) throw std::invalid_argument("quantile of no samples");
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

double median_of(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return quantile_sorted(values, 0.5);
}

namespace {

// P(U >= u) under the null hypothesis for sample sizes m and n without ties: the counts of U = k are the
// coefficients of the Gaussian binomial [m+n choose m]_q = prod_{i=1..m} (1 - q^(n+i)) / (1 - q^i), each division
// exact; divided by C(m+n, m), the number of orderings.
double exact_u_sf(double u, std::size_t m, std::size_t n) {
  std::vector<double> c(m * n + 1, 0.0);
  c[0] = 1;
  for (std::size_t i = 1; i <= m; ++i) {
    for (std::size_t k = c.size() - 1; k >= n + i; --k) c[k] -= c[k - n - i];  // * (1 - q^(n+i))
    for (std::size_t k = i; k < c.size(); ++k) c[k] += c[k - i];                // / (1 - q^i)
  }
  const double total = std::accumulate(c.begin(), c.end(), 0.0);
  double tail = 0;
  for (std::size_t k = static_cast<std::size_t>(std::ceil(u)); k < c.size(); ++k) tail += c[k];
  return tail / total;
}

}  // namespace

// The asymptotic branch matches scipy.stats.mannwhitneyu(..., method='asymptotic') term by term: ranks of the pooled
// samples with ties given their average rank; U1 = R1 - n1(n1+1)/2; mu = n1 n2 / 2; the tie-corrected variance
// sigma^2 = n1 n2 / 12 * ((n+1) - sum(t^3 - t) / (n(n-1))); z = (max(U1, U2) - mu - 0.5) / sigma and
// p = 2 sf(z) = erfc(z / sqrt 2), clipped to [0, 1] (all values equal: sigma = 0, p = 1). The exact branch is scipy's
// method='exact': p = 2 P(U >= max(U1, U2)), clipped to 1. Auto takes exact as scipy does: unless both sides have
// more than 8 values, or there are ties.
std::optional<MannWhitney> mann_whitney(const std::vector<double>& a, const std::vector<double>& b, UMethod method) {
  const double n1 = static_cast<double>(a.size()), n2 = static_cast<double>(b.size()), n = n1 + n2;
  if (a.size() < 3 || b.size() < 3) return std::nullopt;
  std::vector<std::pair<double, bool>> pooled;  // (value, from a)
  pooled.reserve(a.size() + b.size());
  for (double v : a) pooled.emplace_back(v, true);
  for (double v : b) pooled.emplace_back(v, false);
  std::sort(pooled.begin(), pooled.end(), [](const auto& x, const auto& y) { return x.first < y.first; });
  double r1 = 0, ties = 0;  // rank sum of a; sum of t^3 - t over tie groups
  for (std::size_t i = 0; i < pooled.size();) {
    std::size_t j = i;
    while (j < pooled.size() && pooled[j].first == pooled[i].first) ++j;
    const double rank = (static_cast<double>(i + 1) + static_cast<double>(j)) / 2;  // mean of ranks i+1 .. j
    for (std::size_t k = i; k < j; ++k) r1 += pooled[k].second ? rank : 0.0;
    const double t = static_cast<double>(j - i);
    ties += t * t * t - t;
    i = j;
  }
  MannWhitney m;
  m.u = r1 - n1 * (n1 + 1) / 2;
  const double u_max = std::max(m.u, n1 * n2 - m.u);
  m.exact = method == UMethod::Exact || (method == UMethod::Auto && (a.size() <= 8 || b.size() <= 8) && ties == 0);
  if (m.exact) {
    m.p = std::min(1.0, 2 * exact_u_sf(u_max, a.size(), b.size()));
    return m;
  }
  const double sigma = std::sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))));
  if (!(sigma > 0)) return m;  // every value equal: no evidence of any difference, p = 1
  const double z = (u_max - n1 * n2 / 2 - 0.5) / sigma;
  m.p = std::min(1.0, std::erfc(z / std::sqrt(2.0)));
  return m;
}

MedianInterval median_interval(std::vector<double> values) {
  if (values.empty()) throw std::invalid_argument("median_interval of no values");
  std::sort(values.begin(), values.end());
  const std::size_t n = values.size();
  // P(Binomial(n, 1/2) < k) for k = 1, 2, ...: take the largest k whose two tails leave >= 95% between them.
  double below = 0, term = std::pow(0.5, static_cast<double>(n));  // P(X = 0)
  std::size_t k = 1;
  double coverage = 1 - 2 * term;  // [x_(1), x_(n)]
  for (std::size_t j = 1; j < n / 2; ++j) {
    below += term;
    term *= static_cast<double>(n - j + 1) / static_cast<double>(j);  // P(X = j)
    const double next = 1 - 2 * (below + term);                        // coverage of [x_(j+1), x_(n-j)]
    if (next < 0.95) break;
    k = j + 1;
    coverage = next;
  }
  MedianInterval iv;
  iv.median = quantile_sorted(values, 0.5);
  iv.lo = values[k - 1];
  iv.hi = values[n - k];
  iv.coverage = n == 1 ? 0 : coverage;
  return iv;
}

double t_quantile(double q, int df) {
  // scipy.stats.t.ppf(q, df) for df 1..30; beyond, the Cornish-Fisher expansion around the normal quantile z
  // (within 1e-5 of scipy from df 31 on).
  static const double t975[30] = {12.706205, 4.302653, 3.182446, 2.776445, 2.570582, 2.446912, 2.364624, 2.306004, 2.262157, 2.228139,
                                  2.200985,  2.178813, 2.160369, 2.144787, 2.131450, 2.119905, 2.109816, 2.100922, 2.093024, 2.085963,
                                  2.079614,  2.073873, 2.068658, 2.063899, 2.059539, 2.055529, 2.051831, 2.048407, 2.045230, 2.042272};
  static const double t995[30] = {63.656741, 9.924843, 5.840909, 4.604095, 4.032143, 3.707428, 3.499483, 3.355387, 3.249836, 3.169273,
                                  3.105807,  3.054540, 3.012276, 2.976843, 2.946713, 2.920782, 2.898231, 2.878440, 2.860935, 2.845340,
                                  2.831360,  2.818756, 2.807336, 2.796940, 2.787436, 2.778715, 2.770683, 2.763262, 2.756386, 2.749996};
  if (df < 1 || (q != 0.975 && q != 0.995)) throw std::invalid_argument("t_quantile: q must be 0.975 or 0.995 and df >= 1");
  if (df <= 30) return (q == 0.975 ? t975 : t995)[df - 1];
  const double z = q == 0.975 ? 1.959963984540054 : 2.5758293035489004, v = df, z2 = z * z;
  return z + z * (z2 + 1) / (4 * v) + z * ((5 * z2 + 16) * z2 + 3) / (96 * v * v) + z * (((3 * z2 + 19) * z2 + 17) * z2 - 15) / (384 * v * v * v);
}

HistoryBand history_band(const std::vector<double>& history_ms, double new_ms, double alpha) {
  if (history_ms.size() < 2 || !(new_ms > 0)) throw std::invalid_argument("history_band: needs two earlier runs and a positive new value");
  std::vector<double> logs;
  for (double v : history_ms) logs.push_back(std::log(v));
  const double n = static_cast<double>(logs.size());
  const double mean = std::accumulate(logs.begin(), logs.end(), 0.0) / n;
  double ss = 0;
  for (double x : logs) ss += (x - mean) * (x - mean);
  const double s = std::sqrt(ss / (n - 1));
  HistoryBand band;
  band.runs = static_cast<int>(logs.size());
  band.center_ms = std::exp(mean);
  const double half = t_quantile(1 - alpha / 2, band.runs - 1) * s * std::sqrt(1 + 1 / n);
  band.half_rel = std::exp(half) - 1;
  band.ratio = new_ms / band.center_ms;
  band.outside = std::fabs(std::log(new_ms) - mean) > half;
  return band;
}

}  // namespace mlpbench
