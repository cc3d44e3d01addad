// Warm-up, calibration, adaptive sampling and statistics. See measure.hpp.
#include "mlpbench/measure.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>
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

// One item of measure_rounds: its timer, passes per sample, the samples so far, the time spent sampling them and
// the wall time spent on the item in all (warm-up, calibration and slice warm-ups too: what cap_time_s bounds).
struct Item {
  const TimedRun* timed;
  int passes = 1;
  std::vector<double> samples;
  std::vector<double> round_medians;
  double sampled_s = 0;
  double spent_s = 0;
  bool done = false;
};

// The item's interval: over its round medians (the unit of independent evidence), else over its samples.
double item_ci_rel(const Item& it) {
  return it.round_medians.size() >= 2 ? median_interval(it.round_medians).half_rel() : summarize(it.samples, it.passes).ci_rel;
}

// Out of budget (at any round: max_samples, or max_time_s once min_samples are in, or cap_time_s of wall time), or,
// once the planned rounds are over, converged.
bool item_done(const Item& it, const MeasureConfig& c, bool planned_rounds_over) {
  const int n = static_cast<int>(it.samples.size());
  if (n >= c.max_samples || it.spent_s >= c.cap_time_s || (it.sampled_s >= c.max_time_s && n >= c.min_samples)) return true;
  return planned_rounds_over && n >= c.min_samples && it.sampled_s >= c.min_time_s && item_ci_rel(it) <= c.target_rel_ci;
}

// One slice: untimed passes for `warmup_s` (none when a sample lasts 20 times that: such a pass is its own
// warm-up), then samples for `slice_s` (and at least `min_samples`, at most `max_samples`, so that every planned
// round fits in the item's max_samples); its median is the item's next round median. heartbeat(seconds sampled so
// far, this slice included) runs between samples.
void sample_slice(Item& it, const RoundsConfig& cfg, double warmup_s, double slice_s, int min_samples, int max_samples,
                  const std::function<void(double)>& heartbeat) {
  const auto w0 = Clock::now();
  const bool long_passes = !it.samples.empty() && it.samples.back() * 1e-3 * it.passes >= 20 * warmup_s;
  while (!long_passes && seconds_since(w0) < warmup_s) (*it.timed)(it.passes);
  const auto t0 = Clock::now();
  const std::size_t first = it.samples.size();
  int taken = 0;
  while (static_cast<int>(it.samples.size()) < cfg.per_item.max_samples) {
    it.samples.push_back((*it.timed)(it.passes) * 1e3 / it.passes);
    ++taken;
    if (heartbeat) heartbeat(it.sampled_s + seconds_since(t0));
    if (taken >= min_samples && (seconds_since(t0) >= slice_s || taken >= max_samples)) break;
    if (it.spent_s + seconds_since(w0) >= cfg.per_item.cap_time_s) break;
  }
  it.sampled_s += seconds_since(t0);
  it.spent_s += seconds_since(w0);
  if (it.samples.size() > first) {
    std::vector<double> slice(it.samples.begin() + static_cast<std::ptrdiff_t>(first), it.samples.end());
    it.round_medians.push_back(median_of(std::move(slice)));
  }
}

// Warms an item up (untimed passes for warmup_s, at least one) and sets its passes per sample: given, or 1 when
// every warm-up pass lasted min_sample_s (a slow pass needs no calibration; one stalled pass proves nothing), else
// calibrated.
Item warm_item(const TimedRun& t, const MeasureConfig& c, int given_passes) {
  Item it;
  it.timed = &t;
  const auto w0 = Clock::now();
  double shortest = std::numeric_limits<double>::infinity();
  do {
    const auto p0 = Clock::now();
    t(1);
    shortest = std::min(shortest, seconds_since(p0));
  } while (seconds_since(w0) < c.warmup_s);
  it.passes = given_passes > 0 ? given_passes : shortest >= c.min_sample_s ? 1 : calibrate_passes(t, c.min_sample_s);
  it.spent_s = seconds_since(w0);
  return it;
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
    items.push_back(warm_item(t, c, i < cfg.passes.size() ? cfg.passes[i] : 0));
  }
  const double slice_s = c.min_time_s / rounds;
  const int slice_samples = std::max(1, (c.min_samples + rounds - 1) / rounds);
  // Short passes: every planned round happens, and as many again where a cell has not converged by then.
  const int slice_cap = std::max(slice_samples, c.max_samples / (2 * rounds));
  std::mt19937 rng(cfg.seed);
  std::vector<std::size_t> order(items.size());
  std::iota(order.begin(), order.end(), 0);
  const auto idle_warmup = [&](std::size_t i) { return i < cfg.idle_warmup_s.size() ? cfg.idle_warmup_s[i] : 0.0; };
  double prev_idle_warmup = 0;  // the previous slice's item's (0: none yet, or an item on another device)
  for (int round = 0;; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    for (std::size_t i : order) {
      if (items[i].done) continue;
      const auto heartbeat = [&, i](double sampled_s) {
        if (!progress.report || seconds_since(last_report) < progress.every_s) return;
        progress.report(i, static_cast<int>(items[i].samples.size()), sampled_s);
        last_report = Clock::now();
      };
      const double warmup_s = idle_warmup(i) > 0 && prev_idle_warmup <= 0 ? idle_warmup(i) : cfg.slice_warmup_s;
      sample_slice(items[i], cfg, warmup_s, slice_s, slice_samples, slice_cap, heartbeat);
      prev_idle_warmup = idle_warmup(i);
      if (progress.slice_done) progress.slice_done(i);
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
    const double ci_rel = item_ci_rel(it);
    Stats s = summarize(std::move(it.samples), it.passes);
    s.ci_rel = ci_rel;
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
