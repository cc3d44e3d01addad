// See serve_load.hpp.
#include "mlpbench/serve_load.hpp"

#include <algorithm>
#include <cmath>
#include <random>
#include <sstream>
#include <string>

#include "mlpbench/errors.hpp"
#include "mlpbench/stats.hpp"

namespace mlpbench {
namespace {

std::string num(double v) {
  std::ostringstream s;
  s << v;
  return s.str();
}

void require(bool ok, const std::string& line) {
  if (!ok) throw InputError(line);
}

}  // namespace

void validate_serve_config(const ServeConfig& c, int cores) {
  for (double q : c.qps) {
    require(q > 0 && q <= kMaxServeQps, "--qps: each rate must be > 0 and at most " + num(kMaxServeQps) + " requests/s (got " + num(q) + ")");
  }
  require(c.slo_ms > 0, "--slo-ms must be > 0 (got " + num(c.slo_ms) + ")");
  require(c.max_batch >= 1, "--max-batch must be >= 1 (got " + std::to_string(c.max_batch) + ")");
  require(c.max_queue_delay_us >= 0, "--max-queue-delay-us must be >= 0 (got " + num(c.max_queue_delay_us) + ")");
  require(c.workers >= 1, "--workers must be >= 1 (got " + std::to_string(c.workers) + ")");
  require(c.threads >= 1, "--threads must be >= 1 (got " + std::to_string(c.threads) + ")");
  const long long used = static_cast<long long>(c.workers) * c.threads;
  require(used <= cores, "--workers x --threads is " + std::to_string(c.workers) + " x " + std::to_string(c.threads) + " = " +
                             std::to_string(used) + " threads, above the " + std::to_string(cores) + " cores this process may use");
  require(c.min_requests >= 1, "--min-requests must be >= 1 (got " + std::to_string(c.min_requests) + ")");
  require(c.min_step_s >= 0, "--min-step-s must be >= 0 (got " + num(c.min_step_s) + ")");
  require(c.drain_limit_s > 0, "--drain-limit-s must be > 0 (got " + num(c.drain_limit_s) + ")");
  require(c.search_start_qps > 0 && c.search_start_qps <= kMaxServeQps, "the search's start rate must be > 0 and at most " + num(kMaxServeQps));
  require(c.search_floor_qps >= 0, "the search's floor must be >= 0 (got " + num(c.search_floor_qps) + ")");
  require(c.search_tolerance > 0, "the search's tolerance must be > 0 (got " + num(c.search_tolerance) + ")");
  require(c.worker_spin_us >= 0, "the worker spin time must be >= 0");
}

std::vector<std::int64_t> poisson_arrivals_ns(double qps, int min_requests, double min_step_s, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  const double mean_ns = 1e9 / qps;
  const double span_ns = min_step_s * 1e9;
  std::vector<std::int64_t> at;
  at.reserve(static_cast<std::size_t>(std::max<double>(min_requests, qps * min_step_s * 1.01 + 64)));
  double t = 0;
  while (at.size() < static_cast<std::size_t>(min_requests) || t < span_ns) {
    const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // [0, 1)
    t += -std::log1p(-u) * mean_ns;
    at.push_back(std::llround(t));
  }
  return at;
}

namespace {

// Latencies (sorted, ms), mean wait and batch counts from the trace's batches.
void summarize_latencies(const StepTrace& trace, StepResult& r) {
  std::vector<double> lat;
  lat.reserve(trace.arrival_ns.size());
  double wait_sum_ms = 0, service_sum_ms = 0;
  std::int64_t last_ns = 0;
  for (const StepTrace::Batch& b : trace.batches) {
    service_sum_ms += static_cast<double>(b.completed_ns - b.dispatched_ns) * 1e-6;
    for (std::int64_t j = b.first; j < b.first + b.count; ++j) {
      lat.push_back(static_cast<double>(b.completed_ns - trace.arrival_ns[static_cast<std::size_t>(j)]) * 1e-6);
      wait_sum_ms += static_cast<double>(b.dispatched_ns - trace.arrival_ns[static_cast<std::size_t>(j)]) * 1e-6;
    }
    last_ns = std::max(last_ns, b.completed_ns);
  }
  r.completed = static_cast<std::int64_t>(lat.size());
  r.batches = static_cast<std::int64_t>(trace.batches.size());
  r.duration_s = static_cast<double>(last_ns) * 1e-9;
  if (lat.empty()) return;
  std::sort(lat.begin(), lat.end());
  r.p50_ms = quantile_sorted(lat, 0.5);
  r.p90_ms = quantile_sorted(lat, 0.9);
  r.p99_ms = quantile_sorted(lat, 0.99);
  r.p999_ms = quantile_sorted(lat, 0.999);
  r.max_ms = lat.back();
  double sum = 0;
  for (double v : lat) sum += v;
  r.mean_ms = sum / static_cast<double>(lat.size());
  r.mean_wait_ms = wait_sum_ms / static_cast<double>(lat.size());
  r.mean_batch = static_cast<double>(r.completed) / static_cast<double>(r.batches);
  r.mean_service_ms = service_sum_ms / static_cast<double>(r.batches);
  if (r.duration_s > 0) r.achieved_qps = static_cast<double>(r.completed) / r.duration_s;
  if (!trace.arrival_ns.empty()) r.drain_s = std::max(0.0, r.duration_s - static_cast<double>(trace.arrival_ns.back()) * 1e-9);
}

// How late the server saw the events it waited for, p99 and max in us.
void summarize_issue_lag(const StepTrace& trace, StepResult& r) {
  if (trace.lag_ns.empty()) return;
  std::vector<double> lag(trace.lag_ns.size());
  for (std::size_t i = 0; i < lag.size(); ++i) lag[i] = static_cast<double>(std::max<std::int64_t>(0, trace.lag_ns[i])) * 1e-3;
  std::sort(lag.begin(), lag.end());
  r.issue_lag_p99_us = quantile_sorted(lag, 0.99);
  r.issue_lag_max_us = lag.back();
}

}  // namespace

void set_queue_depths(StepTrace& trace) {
  std::size_t bi = 0;
  std::int64_t dispatched = 0, sum = 0;
  trace.max_depth = 0;
  for (std::size_t j = 0; j < trace.arrival_ns.size(); ++j) {
    while (bi < trace.batches.size() && trace.batches[bi].dispatched_ns < trace.arrival_ns[j]) dispatched += trace.batches[bi++].count;
    const std::int64_t depth = std::max<std::int64_t>(0, static_cast<std::int64_t>(j) - dispatched);
    sum += depth;
    trace.max_depth = std::max(trace.max_depth, depth);
  }
  trace.mean_depth = trace.arrival_ns.empty() ? 0 : static_cast<double>(sum) / static_cast<double>(trace.arrival_ns.size());
}

StepResult summarize_step(const StepTrace& trace, double qps, const ServeConfig& config) {
  StepResult r;
  r.offered_qps = qps;
  r.issued = static_cast<std::int64_t>(trace.arrival_ns.size());
  r.simulated = trace.simulated;
  r.interrupted = trace.interrupted;
  r.max_queue = trace.max_depth;
  r.mean_queue = trace.mean_depth;
  summarize_latencies(trace, r);
  summarize_issue_lag(trace, r);
  r.overloaded = trace.overloaded || r.drain_s > config.drain_limit_s;
  return r;
}

namespace {

// Runs one step unless stopped; false when the search must end (stopped or the step was interrupted).
bool run_one(const StepFn& step, double qps, SearchResult& out, const std::atomic<bool>* stop) {
  if (stop && stop->load()) {
    out.interrupted = true;
    return false;
  }
  out.steps.push_back(step(qps));
  if (out.steps.back().interrupted) out.interrupted = true;
  return !out.interrupted;
}

void finish(SearchResult& out) {
  out.simulated = !out.steps.empty();
  for (const StepResult& s : out.steps) {
    out.simulated = out.simulated && s.simulated;
    if (s.meets(out.config.slo_ms)) out.best_qps = std::max(out.best_qps, s.offered_qps);
  }
}

}  // namespace

SearchResult search_rate(const StepFn& step, const ServeConfig& config, const std::atomic<bool>* stop) {
  SearchResult out;
  out.config = config;
  out.searched = true;
  double meet = 0, fail = 0;  // the highest rate that met the bound, the lowest that did not
  double q = config.search_start_qps;
  const double floor = config.search_floor_qps > 0 ? config.search_floor_qps : config.search_start_qps / 1024;
  bool go = true;
  while (go && (meet == 0 || fail == 0)) {  // bracket: double while it holds, halve while it fails
    if (!(go = run_one(step, q, out, stop))) break;
    if (out.steps.back().meets(config.slo_ms)) {
      meet = q;
      if (q >= kMaxServeQps) break;  // holds at the largest rate a step takes
      if (fail == 0) q = std::min(2 * q, kMaxServeQps);
    } else {
      fail = q;
      if (meet == 0 && q / 2 < floor) break;  // nothing meets the bound
      if (meet == 0) q /= 2;
    }
  }
  while (go && meet > 0 && fail > 0 && (fail - meet) / meet > config.search_tolerance) {  // bisect
    const double mid = (meet + fail) / 2;
    if (!(go = run_one(step, mid, out, stop))) break;
    (out.steps.back().meets(config.slo_ms) ? meet : fail) = mid;
  }
  finish(out);
  return out;
}

SearchResult measure_rates(const StepFn& step, const ServeConfig& config, const std::atomic<bool>* stop) {
  SearchResult out;
  out.config = config;
  for (double q : config.qps) {
    if (!run_one(step, q, out, stop)) break;
  }
  finish(out);
  return out;
}

SearchResult run_serve(const StepFn& step, const ServeConfig& config, const std::atomic<bool>* stop) {
  return config.qps.empty() ? search_rate(step, config, stop) : measure_rates(step, config, stop);
}

}  // namespace mlpbench
