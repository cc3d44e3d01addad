// The one timing core used by the CLI, bench/ and tests: warm-up, calibration (several passes per sample
// when one pass is too short to time well), then samples until the median is known to the target
// precision or the time budget is spent, and the statistics of the samples.
#pragma once

#include <functional>
#include <vector>

#include "mlpbench/stats.hpp"

namespace mlpbench {

struct MeasureConfig {
  double warmup_s = 0.2;        // untimed passes first (trtexec: 200 ms)
  double min_time_s = 0.5;      // keep sampling at least this long (Google Benchmark's min time)
  double max_time_s = 5.0;      // and at most this long, once min_samples are taken
  int min_samples = 10;         // nvbench / trtexec: >= 10; taken past max_time_s, up to cap_time_s
  double cap_time_s = 60;       // the hard cap on the wall time of an item, warm-up included: slow passes stop short of min_samples
  int max_samples = 2000;       // bounds the samples stored in results files
  double target_rel_ci = 0.005; // stop once the median's 95% CI half-width / median is below this
  double min_sample_s = 50e-6;  // a sample spans at least this: >= 1000x the ~30 ns clock read
};

// A quick config for CI: a whole run of `cells` cells stays within about `budget_s` seconds.
MeasureConfig quick_config(int cells, double budget_s = 3.0);

struct Stats {
  double median_ms = 0;  // of one forward pass
  double p90_ms = 0;
  double p99_ms = 0;
  double min_ms = 0;
  double max_ms = 0;
  double mean_ms = 0;
  double stddev_ms = 0;
  double cv = 0;            // stddev / mean
  double ci_rel = 0;        // half-width of the median's 95% interval / median: measure_rounds, over the round medians
                            // (median_interval); measure and summarize, over the samples (1.57 * IQR / sqrt(n) / median)
  int samples = 0;
  int passes_per_sample = 1;
  double total_s = 0;       // time spent sampling (warm-up excluded)
  bool converged = false;   // ci_rel reached the target before the time budget ran out
  int min_samples = 0;      // the least samples asked for (MeasureConfig::min_samples); fewer: the time cap ran out
  double target_rel_ci = 0; // the ci_rel it aimed at (MeasureConfig::target_rel_ci); 0: not known (read from a file)
  std::vector<double> samples_ms;  // per pass, in the order taken
  std::vector<double> round_medians_ms;  // measure_rounds: the median of each round's slice, in round order
};

// Runs `passes` forward passes and returns the seconds they took. The default is the wall clock
// around the passes (wall_clock below); a GPU backend can supply device-event time instead.
using TimedRun = std::function<double(int passes)>;

// steady_clock read before and after `passes` calls of `pass`.
TimedRun wall_clock(std::function<void()> pass);

// How many passes one sample needs to last min_sample_s (at least 1), from a few timed tries.
int calibrate_passes(const TimedRun& timed, double min_sample_s);

Stats measure(const TimedRun& timed, const MeasureConfig& config);

// Interleaved rounds, as Google Benchmark's random interleaving: every item (a backend at a batch size) is
// warmed up and calibrated once, then sampled in slices, one slice per item per round, the order shuffled
// each round, so a change of the machine's speed spreads over all items instead of landing on one.
// Statistics stay per item, over all its samples (in the order taken). `per_item` is each item's budget over
// all rounds: a slice lasts min_time_s / rounds (and takes at least min_samples / rounds samples) after a short
// untimed warm-up (the previous slice's item evicted this one's caches). After `rounds` rounds, items not yet
// converged get more rounds until they converge or spend max_time_s or max_samples. An item stops before
// min_samples only at cap_time_s (Stats::samples < Stats::min_samples then says so). Each round's slice gives the
// item one round median (Stats::round_medians_ms).
struct RoundsConfig {
  MeasureConfig per_item;
  int rounds = 6;
  double slice_warmup_s = 0.005;
  // Items on a device the other items leave idle (GPU items among CPU ones): item i's slice warms up for
  // idle_warmup_s[i] (when given and > 0) in place of slice_warmup_s when it follows the slice of an item without
  // one, or is the first slice: the device idled meanwhile, and its clock drops when idle (an H200 to 345 MHz).
  std::vector<double> idle_warmup_s;
  unsigned seed = 1;  // of the shuffle: the same every run
  // Passes per sample of item i: passes[i] when given and > 0 (a cold item: 1, each pass after its own untimed
  // eviction), else calibrated (calibrate_passes).
  std::vector<int> passes;
};
// after_round(round) runs between rounds (e.g. a drift probe), never inside a slice. progress(item, samples,
// seconds), when given, is called during a slow slice at least every `progress_every_s` (a heartbeat for cells
// whose passes take seconds). slice_done(item), when given, runs right after each slice of the item, untimed (e.g.
// a GPU clock reading while the device is still busy).
struct RoundsProgress {
  std::function<void(std::size_t item, int samples, double sampled_s)> report;
  double every_s = 5;
  std::function<void(std::size_t item)> slice_done;
};
std::vector<Stats> measure_rounds(const std::vector<TimedRun>& items, const RoundsConfig& config,
                                  const std::function<void(int round)>& after_round = {}, const RoundsProgress& progress = {});

// Statistics of samples given per pass in ms (at least one sample).
Stats summarize(std::vector<double> samples_ms, int passes_per_sample);

// Nanoseconds one steady_clock read costs here (the median of a few thousand back-to-back reads).
double clock_read_ns();

}  // namespace mlpbench
