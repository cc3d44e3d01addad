// A standalone SVG chart of one or more results files: latency (ms) against batch size on log-log axes,
// and beside it throughput (inferences/s) against batch size; one line per device and file, reference
// cells drawn dashed and labelled, each file's crossover marked, axis labels with units, a legend.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mlpbench/results.hpp"

namespace mlpbench {

// files: (label, results). Returns the SVG document. Throws InputError when no file has a cell.
std::string plot_svg(const std::vector<std::pair<std::string, Results>>& files);

}  // namespace mlpbench
