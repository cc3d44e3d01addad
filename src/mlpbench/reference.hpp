// Reference tables: what a run falls back on for a column it can't measure (results/reference.json). As shipped
// the table holds illustrative values; `mlpbench reference` replaces it with cells measured in real runs (a GPU
// run and a CPU run, say), so CPU-only CI compares with real GPU numbers, each cell saying where it was measured.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mlpbench/results.hpp"

namespace mlpbench {

// A reference table from measured runs (name, results), oldest or newest in any order: for every device and
// batch size, the newest measured cell (by run.started_utc; a run without a date counts as the oldest), as a
// reference cell keeping its backend and provenance (the run's file, its GPU or CPU, commit, date). Throws
// InputError when the runs hold different models (layer widths) or precisions, or no measured cell at all.
// Emulated cells (run on a CUDA emulator) hold no time and are never promoted.
Results make_reference(const std::vector<std::pair<std::string, Results>>& runs);

// `cell` of `device` in `run` (read from `file`) as a reference cell: its backend and median, the file, and where
// it was measured (kind "measured", the run's GPU or CPU, commit, date); a reference cell keeps the provenance it
// has. Used by make_reference and by a run filling a column from its --reference.
Cell as_reference_cell(const Cell& cell, const std::string& device, const Results& run, const std::string& file);

}  // namespace mlpbench
