// See serve_sim.hpp.
#include "mlpbench/serve_sim.hpp"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <queue>
#include <string>

#include "mlpbench/errors.hpp"

namespace mlpbench {

ServiceTable::ServiceTable(std::vector<std::pair<int, double>> ms_by_batch) : points_(std::move(ms_by_batch)) {
  if (points_.empty()) throw InputError("serve simulator: the service table has no batch sizes");
  std::sort(points_.begin(), points_.end());
  for (std::size_t i = 0; i < points_.size(); ++i) {
    const auto& [b, ms] = points_[i];
    if (b < 1) throw InputError("serve simulator: batch size " + std::to_string(b) + " in the service table (must be >= 1)");
    if (!(ms > 0) || !std::isfinite(ms)) throw InputError("serve simulator: the time of batch " + std::to_string(b) + " must be > 0 ms");
    if (i > 0 && points_[i - 1].first == b) throw InputError("serve simulator: batch size " + std::to_string(b) + " twice in the service table");
  }
}

double ServiceTable::ms(int batch) const {
  const auto& lo = points_.front();
  const auto& hi = points_.back();
  if (batch <= lo.first) return lo.second;
  if (batch >= hi.first) return hi.second * batch / hi.first;
  const auto upper = std::upper_bound(points_.begin(), points_.end(), std::make_pair(batch, std::numeric_limits<double>::infinity()));
  const auto& [b0, t0] = *(upper - 1);
  const auto& [b1, t1] = *upper;
  const double f = std::log(static_cast<double>(batch) / b0) / std::log(static_cast<double>(b1) / b0);
  return std::exp(std::log(t0) + f * (std::log(t1) - std::log(t0)));
}


// The earliest free server takes the next batch at max(free, min(oldest + delay, arrival of the max_batch-th)): all
// that have arrived by then, up to max_batch, as a live worker polling the Batcher would.
StepTrace simulate_trace(const std::vector<std::int64_t>& arrival_ns, const std::vector<std::int64_t>& service_ns, const ServeConfig& config) {
  StepTrace trace;
  trace.arrival_ns = arrival_ns;
  trace.simulated = true;
  const std::int64_t n = static_cast<std::int64_t>(arrival_ns.size());
  const std::int64_t max_batch = config.max_batch;
  const std::int64_t delay = std::llround(config.max_queue_delay_us * 1e3);
  using Free = std::pair<std::int64_t, int>;  // (free from, server)
  std::priority_queue<Free, std::vector<Free>, std::greater<Free>> servers;
  for (int k = 0; k < config.workers; ++k) servers.push({0, k});
  for (std::int64_t taken = 0; taken < n;) {
    const auto [free_ns, k] = servers.top();
    servers.pop();
    const std::int64_t full_at = taken + max_batch - 1 < n ? arrival_ns[static_cast<std::size_t>(taken + max_batch - 1)] : std::numeric_limits<std::int64_t>::max();
    const std::int64_t d = std::max(free_ns, std::min(arrival_ns[static_cast<std::size_t>(taken)] + delay, full_at));
    const auto begin = arrival_ns.begin() + taken;
    const std::int64_t count = std::upper_bound(begin, begin + std::min(max_batch, n - taken), d) - begin;
    const std::int64_t done = d + service_ns[static_cast<std::size_t>(count)];
    trace.batches.push_back({taken, count, d, done, k});
    servers.push({done, k});
    taken += count;
  }
  set_queue_depths(trace);
  return trace;
}

Simulator::Simulator(ServiceTable table, const ServeConfig& config) : table_(std::move(table)), config_(config) {
  service_ns_.assign(static_cast<std::size_t>(config.max_batch) + 1, 0);
  for (int b = 1; b <= config.max_batch; ++b) service_ns_[static_cast<std::size_t>(b)] = std::max<std::int64_t>(1, std::llround(table_.ms(b) * 1e6));
}

StepResult Simulator::step(double qps) {
  trace_ = simulate_trace(poisson_arrivals_ns(qps, config_.min_requests, config_.min_step_s, config_.seed), service_ns_, config_);
  return summarize_step(trace_, qps, config_);
}

}  // namespace mlpbench
