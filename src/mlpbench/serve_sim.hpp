// The serving simulator: a discrete-event simulation of the live server's arrivals (poisson_arrivals_ns, the same
// seed) and batcher (Triton's rule, as Batcher) with K identical servers, each batch's service time read from a table
// of per-batch-size latencies: a table column (the GPU's cells, or the CPU's own measured ones, to show how far the
// simulator is from the live CPU). Its results say simulated (StepResult::simulated), never measured.
// Usage: Simulator sim(ServiceTable({{1, 0.05}, {10, 0.08}, {100, 0.4}}), config); run_serve([&](double q) { return sim.step(q); }, config).
#pragma once

#include <utility>
#include <vector>

#include "mlpbench/serve_load.hpp"

namespace mlpbench {

// One server's time for a batch of b requests, from a few measured batch sizes (ms). Between two of them: linear on
// log-log axes (log time against log batch). Below the smallest: that size's time (a smaller batch is not assumed
// cheaper). Above the largest: proportional to the batch from the largest (slope 1 on log-log: no more gain from
// batching than the largest size measured showed), as kExtrapolation says.
class ServiceTable {
 public:
  static constexpr const char* kExtrapolation =
      "log-log interpolation between measured batch sizes; below the smallest, its time; above the largest, its time "
      "scaled by batch / largest";
  // (batch size, ms) pairs in any order; throws InputError when empty, a batch < 1, a time not > 0, or a batch twice.
  explicit ServiceTable(std::vector<std::pair<int, double>> ms_by_batch);
  double ms(int batch) const;
  const std::vector<std::pair<int, double>>& points() const { return points_; }

 private:
  std::vector<std::pair<int, double>> points_;  // sorted by batch
};

class Simulator {
 public:
  // config.workers servers, config's batcher and step settings (validate_serve_config first).
  Simulator(ServiceTable table, const ServeConfig& config);
  // One step at `qps`: every arrival served (a simulation cannot stall); overloaded when its drain takes longer than
  // drain_limit_s. Never interrupted.
  StepResult step(double qps);
  const StepTrace& trace() const { return trace_; }

 private:
  ServiceTable table_;
  ServeConfig config_;
  std::vector<std::int64_t> service_ns_;  // by batch size 1..max_batch
  StepTrace trace_;
};

// The simulation of one step's arrivals (ns) into a trace: batches, and the queue each arrival found.
StepTrace simulate_trace(const std::vector<std::int64_t>& arrival_ns, const std::vector<std::int64_t>& service_ns, const ServeConfig& config);

}  // namespace mlpbench
