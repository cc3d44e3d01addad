// Human-readable output: the three headline lines, the whole table with each cell's source and noise.
#pragma once

#include <string>

#include "mlpbench/results.hpp"

namespace mlpbench {

// "CPU time: X ms\nGPU time: Y ms\nFaster hardware: Z\n" for one batch size. A cell not measured here says so on its
// line ("(measured elsewhere: NVIDIA H200, 2026-12-01)", "(illustrative, not measured)"); a missing cell prints "n/a"
// with why; an emulated cell has no time: "GPU time: emulated, not timed (<emulator>)". Without two measurements
// (is_measurement) the verdict is "unknown", and one more line says why and how to get a real answer ("Why unknown: ...").
std::string headline(const Table& table, int batch);

// "Cheaper hardware: Z\n" by cost per million inferences at this batch size (and the two costs on the next
// line); "Cheaper hardware: unknown (why)" without two measurements; "" without prices.
std::string cost_lines(const Table& table, int batch, const Prices& prices);

// "Crossover: ..." in one line; label names the table when there are two ("Crossover, weights cold: ...").
std::string crossover_line(const Table& table, const std::string& label = "");

// After the three lines: with --cache both, "Faster hardware, weights cold: Z" when the cold cells' verdict
// differs from the hot one ("" when it agrees; "unknown (why)" when only the hot one is known, e.g. a reference
// GPU column); with --cache cold, a line saying the three lines are cold.
std::string cold_lines(const Results& results, int batch);

// Lines saying which cells are not measured here and why (reference cells, the file, the reason; emulated cells, the
// emulator).
std::string provenance_notes(const Results& results);

// What the verdict rests on, the line after the three: "At batch 10 the CPU is 1208x faster than the GPU
// reference."; "" without a verdict (a cell missing or illustrative: the headline's "Why unknown" line says why).
std::string ratio_line(const Results& results, int batch);

// A rate in requests per second as the serving lines print it: "850/s", "51k/s", "1.9M/s" (two significant digits
// from 10 of a unit up, three below 1000/s: the search's tolerance makes more noise).
std::string format_rate(double qps);

// The answer under load (`mlpbench serve`, Results::serving), one line per string, without newlines; empty without a
// serving section. In the style of the three lines:
//   Served at p99 <= 1 ms: CPU 51k/s, GPU 1.9M/s
//   Faster hardware under load: GPU
//   Cheaper hardware under load: CPU                                   (with prices: USD per hour / the best rate)
//   (USD per million requests at those rates: CPU 0.0054, GPU 0.51)
// A device's rate is its best run's (best_serving_run): measured where it has a measured run. A simulated rate says
// "simulated (from <source>)"; an interrupted one "(interrupted: at least)"; "none (...)" when no rate met the bound.
// A verdict needs two measurements: with a simulated or missing side, or an interrupted run, the verdicts say
// "unknown (why)". Two searched rates within the search's tolerance are "about the same". Where a device has both a
// measured and a simulated run, a last line sets them side by side ("Simulator check: ..."), so the reader sees how
// far the simulator is from reality.
std::vector<std::string> serving_lines(const Results& results);

// Every serving run, one row each: device, source, backend, configuration, the best rate, its p99, the steps run,
// and where a simulated run's latencies came from; then a legend. "" without a serving section.
std::string serving_table(const Results& results);

// The whole table: one row per batch size, for each device the median, its source and noise; with `cold`, the
// cold row of each batch size after its hot one ("1 cold").
std::string table_text(const Table& table, const Table* cold = nullptr);

// Everything `run` and `report` print for one batch size: the three lines, the ratio line, the cost line (with prices),
// the crossover, notes on unmeasured cells, the table with its legend, and each backend's figures.
std::string text_report(const Results& results, int batch);

// A run in Google Benchmark's JSON (context + benchmarks), so its tools (compare.py, dashboards) read our
// files: per measured cell, named BM_forward/<device>/<batch>[/cold], one repetition per round (real_time = the
// round's median, in ns) and the mean, median, stddev and cv aggregates over them, as --benchmark_repetitions writes.
// Reference cells are left out: a benchmark tool takes every entry for a measurement.
std::string gbench_json(const Results& results);

// The same as Markdown, for a pull-request comment: the three lines in bold, a table per device column.
std::string markdown_report(const Results& results, int batch);

// For every measured cell timed with more than one backend or with a device split, one line per backend:
// its median and, on a GPU, device-only time and the copies; for an emulated cell, the backends that ran.
// Empty when there is nothing to add.
std::string backend_details(const Table& table);

// "GPU energy per inference (...): batch 1: X mJ at Y W; ..." over the GPU cells that carry energy, or
// "GPU energy per inference: not measured (why)"; "" when no cell has anything to say.
std::string energy_line(const Table& table);

}  // namespace mlpbench
