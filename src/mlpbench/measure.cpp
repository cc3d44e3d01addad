// Warm-up, calibration, adaptive sampling and statistics. See measure.hpp.
#include "mlpbench/measure.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>

namespace mlpbench {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

}  // namespace

MeasureConfig quick_config(int cells, double budget_s) {
  MeasureConfig c;
  const double per_cell = budget_s / std::max(1, cells);
  c.warmup_s = std::min(0.05, per_cell * 0.2);
  c.min_time_s = std::min(0.1, per_cell * 0.5);
  c.max_time_s = per_cell * 0.7;
  c.min_samples = 5;
  c.target_rel_ci = 0.02;
  return c;
}

TimedRun wall_clock(std::function<void()> pass) {
  return [pass = std::move(pass)](int passes) {
    const auto t0 = Clock::now();
    for (int i = 0; i < passes; ++i) pass();
    return seconds_since(t0);
  };
}

int calibrate_passes(const TimedRun& timed, double min_sample_s) {
  int passes = 1;
  for (int attempt = 0; attempt < 30; ++attempt) {
    // The best of three: a cold first pass (page faults, thread start-up) must not set the count.
    const double s = std::min({timed(passes), timed(passes), timed(passes)});
    if (s >= min_sample_s) return passes;
    // Aim 20% past the target, at most 10x growth per try (a first cold pass can be slow).
    const double want = s > 0 ? 1.2 * min_sample_s / s * passes : 10.0 * passes;
    passes = static_cast<int>(std::clamp(std::ceil(want), passes + 1.0, passes * 10.0));
    if (passes > (1 << 24)) return 1 << 24;
  }
  return passes;
}

double clock_read_ns() {
  std::vector<double> per_read;
  for (int t = 0; t < 15; ++t) {
    const int n = 1000;
    const auto t0 = Clock::now();
    for (int i = 0; i < n; ++i) (void)Clock::now();
    per_read.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / (n + 1));
  }
  std::sort(per_read.begin(), per_read.end());
  return per_read[per_read.size() / 2];
}

double quantile_sorted(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) throw std::invalid_argument("quantile of no samples");
  const double pos = q * static_cast<double>(sorted.size() - 1);
  const std::size_t lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (pos - static_cast<double>(lo)) * (sorted[hi] - sorted[lo]);
}

Stats summarize(std::vector<double> samples_ms, int passes_per_sample) {
  if (samples_ms.empty()) throw std::invalid_argument("summarize: no samples");
  Stats s;
  s.samples = static_cast<int>(samples_ms.size());
  s.passes_per_sample = passes_per_sample;
  std::vector<double> sorted = samples_ms;
  std::sort(sorted.begin(), sorted.end());
  s.median_ms = quantile_sorted(sorted, 0.5);
  s.p90_ms = quantile_sorted(sorted, 0.9);
  s.p99_ms = quantile_sorted(sorted, 0.99);
  s.min_ms = sorted.front();
  s.max_ms = sorted.back();
  s.mean_ms = std::accumulate(sorted.begin(), sorted.end(), 0.0) / s.samples;
  double ss = 0;
  for (double v : sorted) ss += (v - s.mean_ms) * (v - s.mean_ms);
  s.stddev_ms = s.samples > 1 ? std::sqrt(ss / (s.samples - 1)) : 0.0;
  s.cv = s.mean_ms > 0 ? s.stddev_ms / s.mean_ms : 0.0;
  // McGill, Tukey & Larsen (1978): the median's ~95% interval is median +- 1.57 * IQR / sqrt(n).
  const double iqr = quantile_sorted(sorted, 0.75) - quantile_sorted(sorted, 0.25);
  s.ci_rel = s.median_ms > 0 ? 1.57 * iqr / std::sqrt(static_cast<double>(s.samples)) / s.median_ms : 0.0;
  s.samples_ms = std::move(samples_ms);
  return s;
}

Stats measure(const TimedRun& timed, const MeasureConfig& config) {
  // Warm-up: caches, page faults, thread pools, lazy device initialization.
  const auto warm0 = Clock::now();
  do {
    timed(1);
  } while (seconds_since(warm0) < config.warmup_s);

  const int passes = calibrate_passes(timed, config.min_sample_s);
  std::vector<double> samples;
  samples.reserve(1024);
  const auto t0 = Clock::now();
  bool converged = false;
  for (;;) {
    samples.push_back(timed(passes) * 1e3 / passes);
    const int n = static_cast<int>(samples.size());
    const double elapsed = seconds_since(t0);
    if (n >= config.max_samples || elapsed >= config.cap_time_s || (elapsed >= config.max_time_s && n >= config.min_samples)) break;
    // Checking convergence sorts the samples: do it at powers of two and every 64 samples.
    const bool enough = n >= config.min_samples && elapsed >= config.min_time_s;
    const bool check_now = (n & (n - 1)) == 0 || n % 64 == 0;
    if (enough && check_now && summarize(samples, passes).ci_rel <= config.target_rel_ci) {
      converged = true;
      break;
    }
  }
  Stats s = summarize(std::move(samples), passes);
  s.total_s = seconds_since(t0);
  s.converged = converged || s.ci_rel <= config.target_rel_ci;
  s.min_samples = config.min_samples;
  s.target_rel_ci = config.target_rel_ci;
  return s;
}

namespace {

// One item of measure_rounds: its timer, passes per sample, the samples so far and the wall time spent on them.
struct Item {
  const TimedRun* timed;
  int passes = 1;
  std::vector<double> samples;
  std::vector<double> round_medians;
  double sampled_s = 0;
  bool done = false;
};

// Out of budget (at any round: max_samples, or max_time_s once min_samples are in, or cap_time_s), or, once the
// planned rounds are over, converged.
bool item_done(const Item& it, const MeasureConfig& c, bool planned_rounds_over) {
  const int n = static_cast<int>(it.samples.size());
  if (n >= c.max_samples || it.sampled_s >= c.cap_time_s || (it.sampled_s >= c.max_time_s && n >= c.min_samples)) return true;
  return planned_rounds_over && n >= c.min_samples && it.sampled_s >= c.min_time_s && summarize(it.samples, it.passes).ci_rel <= c.target_rel_ci;
}

// One slice: untimed passes for `warmup_s`, then samples for `slice_s` (and at least `min_samples`, at most
// `max_samples`, so that every planned round fits in the item's max_samples); its median is
// the item's next round median. heartbeat(seconds sampled so far, this slice included) runs between samples.
void sample_slice(Item& it, const RoundsConfig& cfg, double slice_s, int min_samples, int max_samples, const std::function<void(double)>& heartbeat) {
  const auto w0 = Clock::now();
  do {
    (*it.timed)(it.passes);
  } while (seconds_since(w0) < cfg.slice_warmup_s);
  const auto t0 = Clock::now();
  const std::size_t first = it.samples.size();
  int taken = 0;
  while (static_cast<int>(it.samples.size()) < cfg.per_item.max_samples) {
    it.samples.push_back((*it.timed)(it.passes) * 1e3 / it.passes);
    ++taken;
    if (heartbeat) heartbeat(it.sampled_s + seconds_since(t0));
    if (taken >= min_samples && (seconds_since(t0) >= slice_s || taken >= max_samples)) break;
    if (it.sampled_s + seconds_since(t0) >= cfg.per_item.cap_time_s) break;
  }
  it.sampled_s += seconds_since(t0);
  if (it.samples.size() > first) {
    std::vector<double> slice(it.samples.begin() + static_cast<std::ptrdiff_t>(first), it.samples.end());
    std::sort(slice.begin(), slice.end());
    it.round_medians.push_back(quantile_sorted(slice, 0.5));
  }
}

}  // namespace

std::vector<Stats> measure_rounds(const std::vector<TimedRun>& timers, const RoundsConfig& cfg, const std::function<void(int round)>& after_round,
                                  const RoundsProgress& progress) {
  const MeasureConfig& c = cfg.per_item;
  const int rounds = std::max(1, cfg.rounds);
  std::vector<Item> items;
  auto last_report = Clock::now();
  for (std::size_t i = 0; i < timers.size(); ++i) {
    const TimedRun& t = timers[i];
    if (progress.report && seconds_since(last_report) >= progress.every_s) {  // warm-up and calibration of slow items
      progress.report(i, 0, 0);
      last_report = Clock::now();
    }
    Item it;
    it.timed = &t;
    const auto warm0 = Clock::now();
    do {
      t(1);
    } while (seconds_since(warm0) < c.warmup_s);
    it.passes = i < cfg.passes.size() && cfg.passes[i] > 0 ? cfg.passes[i] : calibrate_passes(t, c.min_sample_s);
    items.push_back(std::move(it));
  }
  const double slice_s = c.min_time_s / rounds;
  const int slice_samples = std::max(1, (c.min_samples + rounds - 1) / rounds);
  const int slice_cap = std::max(slice_samples, c.max_samples / rounds);  // short passes: every planned round still happens
  std::mt19937 rng(cfg.seed);
  std::vector<std::size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  for (int round = 0;; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order) {
      if (items[i].done) continue;
      const auto heartbeat = [&, i](double sampled_s) {
        if (!progress.report || seconds_since(last_report) < progress.every_s) return;
        progress.report(i, static_cast<int>(items[i].samples.size()), sampled_s);
        last_report = Clock::now();
      };
      sample_slice(items[i], cfg, slice_s, slice_samples, slice_cap, heartbeat);
    }
    bool all_done = true;
    for (Item& it : items) {
      it.done = it.done || item_done(it, c, round + 1 >= rounds);
      all_done = all_done && it.done;
    }
    if (after_round) after_round(round);
    if (all_done) break;
  }
  std::vector<Stats> out;
  for (Item& it : items) {
    Stats s = summarize(std::move(it.samples), it.passes);
    s.total_s = it.sampled_s;
    s.converged = s.ci_rel <= c.target_rel_ci;
    s.min_samples = c.min_samples;
    s.target_rel_ci = c.target_rel_ci;
    s.round_medians_ms = std::move(it.round_medians);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace mlpbench
