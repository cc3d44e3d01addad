// See reference.hpp.
#include "mlpbench/reference.hpp"

#include "mlpbench/defaults.hpp"
#include "mlpbench/errors.hpp"

namespace mlpbench {

Cell as_reference_cell(const Cell& c, const std::string& device, const Results& run, const std::string& file) {
  Cell cell;
  cell.source = Source::Reference;
  cell.backend = c.backend;
  cell.stats.median_ms = c.median_ms();
  cell.reference_file = file;
  if (c.source == Source::Measured) {  // a measured run: say where and when
    cell.provenance.kind = "measured";
    cell.provenance.machine = device == "GPU" ? gpu_text(run.machine) : run.machine.cpu.value_or("");
    cell.provenance.commit = run.build.git_commit.value_or("");
    cell.provenance.date = run.run.started_utc.value_or("");
  } else {
    cell.provenance = c.provenance;  // a reference of a reference keeps the original provenance
  }
  return cell;
}

Results make_reference(const std::vector<std::pair<std::string, Results>>& runs) {
  if (runs.empty()) throw InputError("reference: give at least one measured run (--from RUN.json)");
  const auto& [first_name, first] = runs.front();
  const std::string precision = first.run.precision.value_or("fp32");
  for (const auto& [name, r] : runs) {
    if (r.model.layers != first.model.layers) {
      throw InputError("reference: " + name + " ran " + list_text(r.model.layers) + " but " + first_name + " ran " + list_text(first.model.layers) +
                       ": a reference table holds one model");
    }
    if (r.run.precision.value_or("fp32") != precision) {
      throw InputError("reference: " + name + " ran at " + r.run.precision.value_or("fp32") + " but " + first_name + " at " + precision +
                       ": a reference table holds one precision");
    }
  }
  Results out;
  out.model = first.model;
  out.run.precision = precision;
  std::map<std::pair<std::string, int>, std::string> date_of;  // the run date of the cell chosen so far
  std::string cold_runs;  // runs whose headline cells are cold (run --cache cold): a reference holds hot numbers
  bool emulated = false;  // a run held emulated cells: no time, never promoted
  for (const auto& [name, r] : runs) {
    if (is_cold(r.table)) {
      cold_runs += (cold_runs.empty() ? "" : ", ") + name;
      continue;
    }
    const std::string date = r.run.started_utc.value_or("");
    for (const auto& [device, per_batch] : r.table.cells) {
      for (const auto& [batch, cell] : per_batch) {
        emulated = emulated || cell.source == Source::Emulated;
        if (cell.source != Source::Measured) continue;
        const auto key = std::make_pair(device, batch);
        const auto seen = date_of.find(key);
        if (seen != date_of.end() && seen->second > date) continue;  // ISO 8601 in UTC: text order is time order
        out.table.set(device, batch, as_reference_cell(cell, device, r, name));
        date_of[key] = date;
      }
    }
  }
  if (out.table.batch_sizes.empty()) {
    throw InputError(cold_runs.empty() ? "reference: no measured cell in the runs given" +
                                             std::string(emulated ? " (emulated cells, run on a CUDA emulator, hold no time and are never promoted)" : "")
                                       : "reference: a reference holds hot numbers, and " + cold_runs + " ran with --cache cold");
  }
  std::string from;
  for (const auto& [name, r] : runs) from += (from.empty() ? "" : ", ") + name;
  out.note = "Reference table built by `mlpbench reference` from measured runs (" + from +
             "): each cell is the newest measurement of its device and batch size and says where and when it was measured. It fills a "
             "column a run cannot measure, labelled 'reference'.";
  return out;
}

}  // namespace mlpbench
