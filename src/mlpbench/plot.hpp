// A standalone SVG chart of one or more results files: latency (ms) against batch size on log-log axes,
// and beside it throughput (inferences/s) against batch size; one line per device and file in colour-blind-safe
// colours (cells measured elsewhere and promoted are data, labelled so), illustrative cells grey, dashed, hollow
// and named in a bold note under the title, a reference column several files share drawn once, each file's
// crossover (from measurements only) marked, axis labels with units, a legend. Where a file has a serving section
// (`mlpbench serve`), a panel below: p99 latency (ms) against achieved rate (requests/s), log-log, a curve per run of
// each file (Triton's curve; simulated runs dashed and labelled so), its bound as a horizontal line.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "mlpbench/results.hpp"

namespace mlpbench {

// files: (label, results). Returns the SVG document. Throws InputError when no file has a cell.
std::string plot_svg(const std::vector<std::pair<std::string, Results>>& files);

}  // namespace mlpbench
