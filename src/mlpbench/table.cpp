// See table.hpp.
#include "mlpbench/table.hpp"

#include <algorithm>

namespace mlpbench {

const Cell* Table::find(const std::string& device, int batch) const {
  const auto d = cells.find(device);
  if (d == cells.end()) return nullptr;
  const auto c = d->second.find(batch);
  return c == d->second.end() ? nullptr : &c->second;
}

void Table::set(const std::string& device, int batch, Cell cell) {
  cells[device][batch] = std::move(cell);
  if (std::find(batch_sizes.begin(), batch_sizes.end(), batch) == batch_sizes.end()) {
    batch_sizes.push_back(batch);
    std::sort(batch_sizes.begin(), batch_sizes.end());
  }
}

Cell best_of(std::vector<BackendRun> runs) {
  const auto best = std::min_element(runs.begin(), runs.end(),
                                     [](const BackendRun& a, const BackendRun& b) { return a.stats.median_ms < b.stats.median_ms; });
  Cell c;
  c.source = Source::Measured;
  c.backend = best->backend;
  c.config = best->config;
  c.threads = best->threads;
  c.bytes_per_weight = best->bytes_per_weight;
  c.stats = best->stats;
  c.split = best->split;
  c.runs = std::move(runs);
  return c;
}

std::optional<std::string> faster_at(const Table& table, int batch) {
  const Cell* cpu = table.find("CPU", batch);
  const Cell* gpu = table.find("GPU", batch);
  if (!cpu || !gpu) return std::nullopt;
  return gpu->median_ms() < cpu->median_ms() ? "GPU" : "CPU";
}

}  // namespace mlpbench
