// The answer under load (issue 22), its shared part: the settings of a serving run, Poisson arrivals from a seeded
// generator, what a step at one rate records (from the per-request trace the live server or the simulator leaves),
// and the search for the highest rate whose p99 meets the bound. A step is a callable (StepFn), so the live server
// (serve_workers.hpp) and the simulator (serve_sim.hpp) share the search.
// Usage: validate_serve_config(config, available_cores()); then run_serve([&](double q) { return server.step(q); },
// config, &stop) measures config.qps, or searches when that list is empty.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <vector>

namespace mlpbench {

// The highest rate a step takes (a step holds about rate x min_step_s requests; the generator tops out below it).
inline constexpr double kMaxServeQps = 2e7;

struct ServeConfig {
  std::vector<double> qps;          // --qps: the rates to measure; empty: search for the highest meeting the bound
  double slo_ms = 1;                // --slo-ms: the bound on a step's p99 latency
  int max_batch = 32;               // --max-batch: the dynamic batcher's largest batch (Triton's max_batch_size)
  double max_queue_delay_us = 100;  // --max-queue-delay-us: the longest the oldest request waits for a fuller batch
  int workers = 1;                  // --workers (K): servers, each a Backend of its own (backends are single-caller)
  int threads = 1;                  // --threads (T): CPU threads of each worker; K x T <= the cores this process may use
  int min_requests = 2000;          // --min-requests: a step issues at least this many requests
  double min_step_s = 0.5;          // --min-step-s: and spans at least this long
  double drain_limit_s = 1;         // --drain-limit-s: a step whose queue outlasts its last arrival by more is overloaded
  std::uint64_t seed = 1;           // --seed: of the arrival gaps (every step the same draws, scaled to its rate)
  double search_start_qps = 1000;   // the search's first rate (halved while it fails the bound, doubled while it meets it)
  double search_tolerance = 0.05;   // bisection stops once (fail - meet) / meet <= this
  double search_floor_qps = 0;      // halving gives up below this rate (0: search_start_qps / 1024); a step at rate q
                                    // lasts at least min_requests / q, so a floor bounds the time a failing search takes
  double worker_spin_us = 100;      // the worker watching the clock wakes this long before the next arrival or deadline and
                                    // polls the rest: above a sleep's overshoot (this VM: ~20 us median, p99 ~50 us)
};

// Throws InputError with one line naming the option: a rate <= 0 or above kMaxServeQps, slo <= 0, max batch < 1, a
// negative delay, workers or threads < 1, K x T above `cores`, min requests < 1, min step < 0, drain limit <= 0,
// tolerance <= 0, spins < 0.
void validate_serve_config(const ServeConfig& config, int cores);

// Scheduled arrival times in ns from a step's start: exponential gaps of mean 1/qps (inverse transform of 53-bit
// uniforms from mt19937_64(seed), the same on every platform), until there are at least min_requests and the last
// is at least min_step_s in.
std::vector<std::int64_t> poisson_arrivals_ns(double qps, int min_requests, double min_step_s, std::uint64_t seed);

// What one step did, request by request, in ns from its start: the live server's record or the simulator's.
struct StepTrace {
  struct Batch {
    std::int64_t first = 0, count = 0;  // requests [first, first + count)
    std::int64_t dispatched_ns = 0;     // taken from the queue by a free worker
    std::int64_t completed_ns = 0;      // forward returned
    int worker = 0;
  };
  std::vector<std::int64_t> arrival_ns;  // scheduled, per request issued (arrival order)
  std::vector<std::int64_t> lag_ns;      // how late the watching worker saw each arrival or deadline it waited for
                                         // (simulated: none, every event seen on time)
  std::vector<Batch> batches;            // completed ones, in dispatch order
  std::int64_t max_depth = 0;            // requests waiting (not dispatched) that an arrival found, itself not counted
  double mean_depth = 0;
  bool overloaded = false;   // stopped issuing early: the backlog would take longer than drain_limit_s to clear
  bool interrupted = false;  // the stop flag ended the issuing early
  bool simulated = false;
};

// One step at one rate. Latency is completion minus *scheduled* arrival (wrk2, HdrHistogram: a stalled server can't
// hide its queue). Percentiles are type-7 quantiles of every completed request's latency.
struct StepResult {
  double offered_qps = 0;   // the rate asked for
  double achieved_qps = 0;  // completed / (the step's start to its last completion)
  double p50_ms = 0, p90_ms = 0, p99_ms = 0, p999_ms = 0, max_ms = 0, mean_ms = 0;
  double mean_wait_ms = 0;  // scheduled arrival to dispatch
  double mean_batch = 0;
  double mean_service_ms = 0;  // a batch's dispatch to completion (the input copy and the forward), mean over batches
  std::int64_t issued = 0, completed = 0, batches = 0;
  std::int64_t max_queue = 0;    // StepTrace::max_depth
  double mean_queue = 0;         // StepTrace::mean_depth (Poisson arrivals see time averages: the mean queue length)
  double issue_lag_p99_us = 0;   // how late a free worker saw an arrival or deadline it waited for (0 when simulated)
  double issue_lag_max_us = 0;
  double drain_s = 0;            // last scheduled arrival to last completion
  double duration_s = 0;         // step start to last completion
  bool overloaded = false;       // could not drain within drain_limit_s (or stopped issuing early for that): fails
  bool interrupted = false;      // the stop flag ended it: fewer requests, never counted as meeting the bound
  bool simulated = false;        // from serve_sim: labelled simulated, never measured
  bool meets(double slo_ms) const { return !overloaded && !interrupted && completed > 0 && p99_ms <= slo_ms; }
};

// Sets trace.max_depth and mean_depth from its arrivals and batches: the requests waiting (arrived, not dispatched)
// that each arrival found, itself not counted. Batches in dispatch order, their dispatch times non-decreasing.
void set_queue_depths(StepTrace& trace);

// The statistics of a finished trace (every issued request completed) at rate `qps`; overloaded also when the drain
// took longer than config.drain_limit_s.
StepResult summarize_step(const StepTrace& trace, double qps, const ServeConfig& config);

using StepFn = std::function<StepResult(double qps)>;

struct SearchResult {
  ServeConfig config;
  std::vector<StepResult> steps;  // in the order run
  double best_qps = 0;            // the highest rate measured that met the bound; 0: none did
  bool searched = false;          // a search (else config.qps measured as given)
  bool interrupted = false;       // the stop flag ended it: steps so far, the last one interrupted
  bool simulated = false;         // every step simulated
};

// Doubles from search_start_qps while the bound holds (halves while it fails, down to search_floor_qps), then
// bisects between the last rate that met it and the first that did not until they are within search_tolerance.
// Stops early when a step is interrupted or `stop` is set.
SearchResult search_rate(const StepFn& step, const ServeConfig& config, const std::atomic<bool>* stop = nullptr);
// config.qps in order; best_qps the highest that met the bound.
SearchResult measure_rates(const StepFn& step, const ServeConfig& config, const std::atomic<bool>* stop = nullptr);
// measure_rates when config.qps is given, else search_rate.
SearchResult run_serve(const StepFn& step, const ServeConfig& config, const std::atomic<bool>* stop = nullptr);

}  // namespace mlpbench
