// The statistics of stats.hpp against scipy 1.10.1 (Debian 12's python3-scipy; values as printed by repr()) or by hand.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "mlpbench/stats.hpp"

using namespace mlpbench;

// Expected values from scipy 1.17.1: scipy.stats.mannwhitneyu(a, b, alternative='two-sided',
// method='asymptotic') (use_continuity=True by default); statistic is U of a, pvalue as printed by repr().
TEST(MannWhitney, MatchesScipyAsymptoticTwoSided) {
  struct Case {
    const char* name;
    std::vector<double> a, b;
    double u, p;
  };
  const std::vector<double> lo = {0.101, 0.104, 0.099, 0.110, 0.102, 0.108, 0.097, 0.103, 0.105, 0.100, 0.112, 0.106};
  const std::vector<double> hi = {0.109, 0.111, 0.104, 0.115, 0.107, 0.113, 0.102, 0.110, 0.118, 0.106, 0.114, 0.108};
  const std::vector<Case> cases = {
      {"separated", {1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}, 0.0, 0.012185780355344813},
      {"ties", {1, 2, 2, 3, 3, 3, 4}, {3, 4, 4, 5, 5, 6}, 3.5, 0.012999854364387305},
      {"U at its mean (continuity makes z < 0: p clipped to 1)", {1, 4, 5, 8}, {2, 3, 6, 7}, 8.0, 1.0},
      {"all equal (sigma 0)", {2, 2, 2}, {2, 2, 2, 2}, 6.0, 1.0},
      {"overlapping, with ties across", lo, hi, 26.5, 0.009297824658439039},
      {"the same, swapped", hi, lo, 117.5, 0.009297824658439039},
  };
  for (const Case& c : cases) {
    const auto m = mann_whitney(c.a, c.b, UMethod::Asymptotic);
    ASSERT_TRUE(m.has_value()) << c.name;
    EXPECT_DOUBLE_EQ(m->u, c.u) << c.name;
    EXPECT_NEAR(m->p, c.p, 1e-12) << c.name;
  }
}

TEST(MannWhitney, NeedsThreeSamplesOnEachSide) {
  EXPECT_FALSE(mann_whitney({1, 2}, {3, 4, 5}).has_value());
  EXPECT_FALSE(mann_whitney({1, 2, 3}, {}).has_value());
  EXPECT_TRUE(mann_whitney({1, 2, 3}, {4, 5, 6}).has_value());
}

// scipy's default (method='auto'): exact when a side has at most 8 values and nothing ties, as round medians.
// scipy.stats.mannwhitneyu(a, b, alternative='two-sided').
TEST(MannWhitney, AutoIsExactForFewValuesWithoutTiesAsScipy) {
  struct Case {
    const char* name;
    std::vector<double> a, b;
    double u, p;
    bool exact;
  };
  const std::vector<double> twenty = {1.0, 1.0526315789473684, 1.1052631578947367, 1.1578947368421053, 1.2105263157894737, 1.263157894736842,
                                      1.3157894736842106, 1.368421052631579, 1.4210526315789473, 1.4736842105263157, 1.526315789473684,
                                      1.5789473684210527, 1.631578947368421, 1.6842105263157894, 1.736842105263158, 1.789473684210526,
                                      1.8421052631578947, 1.894736842105263, 1.9473684210526314, 2.0};
  const std::vector<Case> cases = {
      {"5 vs 5 separated", {1, 2, 3, 4, 5}, {6, 7, 8, 9, 10}, 0.0, 0.007936507936507936, true},
      {"6 rounds each, a tie: asymptotic", {1.00, 1.02, 0.99, 1.01, 1.03, 0.98}, {1.05, 1.07, 1.04, 1.06, 1.08, 1.03}, 0.5, 0.006392268870767702, false},
      {"6 rounds each, mixed", {1.00, 1.02, 0.99, 1.01, 1.03, 0.98}, {1.015, 0.995, 1.025, 1.035, 0.985, 1.045}, 12.0, 0.3939393939393939, true},
      {"5 vs 6 separated", {2.0, 2.1, 1.9, 2.05, 1.95}, {2.2, 2.15, 2.25, 2.3, 2.12, 2.4}, 0.0, 0.004329004329004329, true},
      {"3 vs 3: never below 0.1", {1, 2, 3}, {4, 5, 6}, 0.0, 0.1, true},
      {"20 vs 3", twenty, {1.55, 1.65, 1.75}, 21.0, 0.4573687182382834, true},
  };
  for (const Case& c : cases) {
    const auto m = mann_whitney(c.a, c.b);
    ASSERT_TRUE(m.has_value()) << c.name;
    EXPECT_DOUBLE_EQ(m->u, c.u) << c.name;
    EXPECT_NEAR(m->p, c.p, 1e-12) << c.name;
    EXPECT_EQ(m->exact, c.exact) << c.name;
  }
}

// The exact distribution of U sums to one: p is 1 at U's mean and 2 / C(n1+n2, n1) at its extremes.
TEST(MannWhitney, ExactTailsByHand) {
  const auto mid = mann_whitney({1, 4, 5, 8}, {2, 3, 6, 7}, UMethod::Exact);
  EXPECT_DOUBLE_EQ(mid->p, 1.0);
  const auto far = mann_whitney({1, 2, 3, 4, 5, 6}, {7, 8, 9, 10, 11, 12}, UMethod::Exact);
  EXPECT_NEAR(far->p, 2.0 / 924, 1e-15);  // C(12, 6) = 924 orderings, one on each extreme
}

TEST(Quantile, Type7AsNumpy) {
  EXPECT_DOUBLE_EQ(quantile_sorted({1, 2, 3, 4}, 0.5), 2.5);
  EXPECT_DOUBLE_EQ(quantile_sorted({1, 2, 3, 4}, 0.9), 3.7);  // numpy.quantile([1,2,3,4], 0.9)
  EXPECT_DOUBLE_EQ(median_of({5, 1, 3}), 3);
}

// The order-statistics interval of a median: the sign test's, by hand.
TEST(MedianInterval, OrderStatisticsAtNinetyFivePercent) {
  const MedianInterval six = median_interval({1.03, 1.00, 0.98, 1.01, 1.02, 0.99});
  EXPECT_DOUBLE_EQ(six.lo, 0.98);
  EXPECT_DOUBLE_EQ(six.hi, 1.03);
  EXPECT_NEAR(six.coverage, 1 - 2.0 / 64, 1e-15);  // 1 - 2 P(X = 0), X ~ Binomial(6, 1/2)
  EXPECT_NEAR(six.median, 1.005, 1e-15);
  EXPECT_NEAR(six.half_rel(), 0.025 / 1.005, 1e-12);
  // 20 values: k = 6 (P(X < 6) = 0.0207), so [x_(6), x_(15)] at 95.9%.
  std::vector<double> twenty;
  for (int i = 1; i <= 20; ++i) twenty.push_back(i);
  const MedianInterval iv = median_interval(twenty);
  EXPECT_DOUBLE_EQ(iv.lo, 6);
  EXPECT_DOUBLE_EQ(iv.hi, 15);
  EXPECT_NEAR(iv.coverage, 0.9586105346679688, 1e-12);  // 1 - 2 * scipy.stats.binom.cdf(5, 20, 0.5)
  // Five values reach only 93.75% with [min, max], and say so.
  EXPECT_NEAR(median_interval({1, 2, 3, 4, 5}).coverage, 0.9375, 1e-15);
}

// scipy.stats.t.ppf(q, df); beyond the table, the expansion within 1e-4.
TEST(TQuantile, MatchesScipy) {
  EXPECT_NEAR(t_quantile(0.975, 1), 12.706205, 1e-6);
  EXPECT_NEAR(t_quantile(0.975, 5), 2.570582, 1e-6);
  EXPECT_NEAR(t_quantile(0.995, 19), 2.860935, 1e-6);
  EXPECT_NEAR(t_quantile(0.975, 31), 2.0395134463964077, 1e-4);
  EXPECT_NEAR(t_quantile(0.975, 100), 1.9839715184496334, 1e-4);
  EXPECT_NEAR(t_quantile(0.995, 40), 2.7044592674331502, 1e-4);
  EXPECT_THROW(t_quantile(0.9, 5), std::invalid_argument);
}

// The prediction band of a history: inside it the new run is the same, 3 spreads away it is outside.
TEST(HistoryBand, InsideTheSpreadOrThreeSpreadsOut) {
  std::mt19937_64 rng(7);
  std::normal_distribution<double> noise(0.0, 0.02);
  std::vector<double> history;
  for (int i = 0; i < 20; ++i) history.push_back(std::exp(std::log(0.1) + noise(rng)));
  std::vector<double> logs;
  for (double v : history) logs.push_back(std::log(v));
  double mean = 0, ss = 0;
  for (double x : logs) mean += x / 20;
  for (double x : logs) ss += (x - mean) * (x - mean);
  const double s = std::sqrt(ss / 19);
  const HistoryBand same = history_band(history, std::exp(mean + s));
  EXPECT_FALSE(same.outside);
  EXPECT_EQ(same.runs, 20);
  EXPECT_NEAR(same.center_ms, std::exp(mean), 1e-12);
  EXPECT_NEAR(same.half_rel, std::exp(t_quantile(0.975, 19) * s * std::sqrt(1 + 1.0 / 20)) - 1, 1e-12);
  const HistoryBand out = history_band(history, std::exp(mean + 3 * s));
  EXPECT_TRUE(out.outside);
  EXPECT_NEAR(out.ratio, std::exp(3 * s), 1e-12);
  EXPECT_TRUE(history_band(history, std::exp(mean - 3 * s)).outside);
  EXPECT_THROW(history_band({0.1}, 0.1), std::invalid_argument);
}
