// Human-readable output: milliseconds with 4 significant digits, the exact three headline lines, notes
// that say which cells are reference values and why, and the table with a row per batch size.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cstdio>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "mlpbench/measure.hpp"
#include "mlpbench/report.hpp"
#include "mlpbench/results.hpp"
#include "mlpbench/table.hpp"

using namespace mlpbench;
using mlpbench::testing::promoted_cell;
using mlpbench::testing::reference_cell;
using ::testing::HasSubstr;
using ::testing::Not;

namespace {

Cell measured_cell(double ms) {
  Cell c;
  c.source = Source::Measured;
  c.backend = "cpu-eigen";
  c.config = "threads=2";
  c.stats = summarize({ms * 0.98, ms, ms * 1.02}, 1);
  return c;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  return lines;
}

}  // namespace

// ---- format_ms ----

TEST(ReportFormatMs, FourSignificantDigitsNoTrailingZeros) {
  EXPECT_EQ(format_ms(400), "400");
  EXPECT_EQ(format_ms(3500), "3500");
  EXPECT_EQ(format_ms(0.0843), "0.0843");
  EXPECT_EQ(format_ms(0.084312), "0.08431");
  EXPECT_EQ(format_ms(1.0), "1");
  EXPECT_EQ(format_ms(0.5), "0.5");
  EXPECT_EQ(format_ms(123456.7), "123457");
  EXPECT_EQ(format_ms(0), "0");
  EXPECT_EQ(format_ms(30), "30");
  EXPECT_EQ(format_ms(100), "100");
  EXPECT_EQ(format_ms(1.23456), "1.235");
  EXPECT_EQ(format_ms(0.001), "0.001");
  EXPECT_EQ(format_ms(0.000123456), "0.0001235");
  EXPECT_EQ(format_ms(9.87654), "9.877");
  EXPECT_EQ(format_ms(-2.5), "-2.5");
}

TEST(ReportFormatMs, RoundsLikePrintf) {
  // 12.345 is not exactly representable; whatever %.2f makes of it is right.
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f", 12.345);
  EXPECT_EQ(format_ms(12.345), buf);
  EXPECT_TRUE(format_ms(12.345) == "12.35" || format_ms(12.345) == "12.34") << format_ms(12.345);
}

TEST(ReportFormatMs, NeverAnExponent) {
  for (double v : {1e-6, 1.5e-4, 7e5, 1.234e8, 99999.99}) {
    const std::string s = format_ms(v);
    EXPECT_EQ(s.find_first_of("eE"), std::string::npos) << v << " -> " << s;
    EXPECT_NEAR(std::stod(s), v, 1e-3 * v) << v << " -> " << s;
  }
}

TEST(ReportFormatMs, NonFiniteIsNotANumber) {
  EXPECT_EQ(format_ms(std::numeric_limits<double>::quiet_NaN()), "n/a");
  EXPECT_EQ(format_ms(std::numeric_limits<double>::infinity()), "n/a");
}

// ---- headline ----

TEST(ReportHeadline, BothCells) {
  Table t;
  t.set("CPU", 10, measured_cell(0.4));
  t.set("GPU", 10, measured_cell(0.1));
  EXPECT_EQ(headline(t, 10), "CPU time: 0.4 ms\nGPU time: 0.1 ms\nFaster hardware: GPU\n");
}

TEST(ReportHeadline, CpuFasterAndTie) {
  Table t;
  t.set("CPU", 1, measured_cell(0.0843));
  t.set("GPU", 1, measured_cell(30));
  EXPECT_EQ(headline(t, 1), "CPU time: 0.0843 ms\nGPU time: 30 ms\nFaster hardware: CPU\n");
  t.set("GPU", 1, measured_cell(0.0843));
  EXPECT_EQ(headline(t, 1), "CPU time: 0.0843 ms\nGPU time: 0.0843 ms\nFaster hardware: CPU\n");
}

// The shipped table's values are illustrative: shown, labelled on their line, and no verdict; the next line says why
// and how to get a real answer.
TEST(ReportHeadline, AnIllustrativeCellIsLabelledAndDecidesNothing) {
  Table t;
  t.set("CPU", 10, measured_cell(0.1549));
  t.set("GPU", 10, reference_cell(100));
  EXPECT_EQ(headline(t, 10),
            "CPU time: 0.1549 ms\n"
            "GPU time: 100 ms (illustrative, not measured)\n"
            "Faster hardware: unknown\n"
            "Why unknown: the GPU time is an illustrative value from results/reference.json, not a measurement. A verdict needs two "
            "measurements: run mlpbench on a machine with an NVIDIA GPU, or promote a GPU run made there (mlpbench reference --from "
            "GPU_RUN.json --out results/reference.json).\n");
  EXPECT_FALSE(faster_at(t, 10));
  EXPECT_EQ(why_no_verdict(t, 10), "the GPU time is an illustrative value from results/reference.json, not a measurement");

  t.set("CPU", 10, reference_cell(400));
  const auto both = lines_of(headline(t, 10));
  ASSERT_EQ(both.size(), 4u);
  EXPECT_EQ(both[0], "CPU time: 400 ms (illustrative, not measured)");
  EXPECT_EQ(both[2], "Faster hardware: unknown");
  EXPECT_THAT(both[3], HasSubstr("both times are illustrative values from results/reference.json"));
}

// A run measured elsewhere and promoted is a measurement: it decides, and its line says where and when.
TEST(ReportHeadline, APromotedCellIsAMeasurementAndSaysWhere) {
  Table t;
  t.set("CPU", 10, measured_cell(0.1549));
  t.set("GPU", 10, promoted_cell(0.012));
  EXPECT_EQ(headline(t, 10), "CPU time: 0.1549 ms\nGPU time: 0.012 ms (measured elsewhere: NVIDIA H200, 2026-11-29)\nFaster hardware: GPU\n");
}

TEST(ReportHeadline, MissingGpuCell) {
  Table t;
  t.set("CPU", 10, measured_cell(400));
  t.set("GPU", 1, measured_cell(30));  // a GPU cell at another batch size doesn't count
  const std::string h = headline(t, 10);
  const auto lines = lines_of(h);
  ASSERT_EQ(lines.size(), 4u) << h;
  EXPECT_EQ(lines[0], "CPU time: 400 ms");
  EXPECT_THAT(lines[1], HasSubstr("GPU time: n/a"));
  EXPECT_THAT(lines[1], HasSubstr("batch size 10"));
  EXPECT_EQ(lines[2], "Faster hardware: unknown");
  EXPECT_THAT(lines[3], HasSubstr("Why unknown: no GPU cell at batch size 10"));
  EXPECT_EQ(h.back(), '\n');
}

TEST(ReportHeadline, MissingCpuCell) {
  Table t;
  t.set("GPU", 100, measured_cell(800));
  const auto lines = lines_of(headline(t, 100));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[0], HasSubstr("CPU time: n/a"));
  EXPECT_EQ(lines[1], "GPU time: 800 ms");
  EXPECT_EQ(lines[2], "Faster hardware: unknown");
  EXPECT_THAT(lines[3], HasSubstr("measure the CPU column too"));
}

// ---- provenance ----

TEST(ReportProvenanceNotes, NameTheReferenceFileAndTheReason) {
  Results r;
  r.table.set("CPU", 1, measured_cell(0.05));
  r.table.set("CPU", 10, measured_cell(0.4));
  r.table.set("GPU", 1, reference_cell(30));
  r.table.set("GPU", 10, reference_cell(100));
  r.not_measured["GPU"] = "built without CUDA";
  r.notes = {"cuda-fused left out: width 4096 too large"};
  const std::string n = provenance_notes(r);
  EXPECT_EQ(n,
            "Note: GPU times are illustrative reference values from results/reference.json, not measurements; not measured here: built without CUDA.\n"
            "Note: cuda-fused left out: width 4096 too large\n");
  EXPECT_THAT(n, Not(HasSubstr("CPU times")));  // the CPU column is measured
}

TEST(ReportProvenanceNotes, OneLinePerReferenceFileAndNothingWhenAllMeasured) {
  Results r;
  r.table.set("CPU", 1, reference_cell(50, "a.json"));
  r.table.set("CPU", 10, reference_cell(400, "b.json"));
  r.table.set("CPU", 100, reference_cell(3500, "a.json"));
  const std::string n = provenance_notes(r);
  EXPECT_EQ(n,
            "Note: CPU times are illustrative reference values from a.json, not measurements.\n"
            "Note: CPU times are illustrative reference values from b.json, not measurements.\n");

  Results m;
  m.table.set("CPU", 1, measured_cell(0.05));
  EXPECT_EQ(provenance_notes(m), "");
}

TEST(ReportProvenanceNotes, AReferenceMeasuredElsewhereSaysWhereAndWhen) {
  Results r;
  r.table.set("CPU", 10, measured_cell(0.06));
  Cell g = reference_cell(0.012, "results/h200.json");
  g.provenance = Provenance{"measured", "NVIDIA H200", "0123456789abcdef", "2026-11-29T12:00:00Z"};
  r.table.set("GPU", 10, g);
  r.not_measured["GPU"] = "no NVIDIA driver on this machine";
  EXPECT_EQ(provenance_notes(r),
            "Note: GPU times were measured elsewhere on NVIDIA H200 (commit 0123456789ab, 2026-11-29T12:00:00Z), read from results/h200.json as a "
            "reference; not measured here: no NVIDIA driver on this machine.\n");
}

TEST(ReportRatio, TheLineAfterTheThreeSaysByHowMuchAndAgainstWhat) {
  Results r;
  r.table.set("CPU", 10, measured_cell(0.0828));
  r.table.set("GPU", 10, promoted_cell(100));
  EXPECT_EQ(ratio_line(r, 10), "At batch 10 the CPU is 1208x faster than the GPU reference.\n");
  r.table.set("GPU", 10, reference_cell(100));
  EXPECT_EQ(ratio_line(r, 10), "") << "an illustrative value is no measure of by how much";
  r.table.set("GPU", 10, measured_cell(0.02));
  EXPECT_EQ(ratio_line(r, 10), "At batch 10 the GPU is 4.14x faster than the CPU.\n");
  r.table.set("GPU", 10, measured_cell(0.0828));
  EXPECT_EQ(ratio_line(r, 10), "At batch 10 the CPU and the GPU take the same time.\n");
  Results missing;
  missing.table.set("CPU", 10, measured_cell(0.0828));
  missing.not_measured["GPU"] = "built without CUDA; no reference for 20-64-33-5 at fp32 in results/reference.json (it holds 784-512-512-10 at fp32)";
  EXPECT_EQ(ratio_line(missing, 10), "") << "no verdict: the headline says why";
  EXPECT_THAT(text_report(missing, 10), HasSubstr("Why unknown: no GPU cell at batch size 10"));
  EXPECT_THAT(text_report(missing, 10), HasSubstr("Note: GPU times are not measured (built without CUDA; no reference for 20-64-33-5"));
  // text_report puts it right after the three lines.
  EXPECT_THAT(text_report(r, 10), ::testing::StartsWith(headline(r.table, 10) + ratio_line(r, 10)));
}

TEST(ReportProvenanceNotes, ReasonIsGivenEvenWithoutReferenceCells) {
  // The reference table has no value at batch 1000: the GPU column is empty, and the reader must still
  // learn why it was not measured.
  Results r;
  r.table.set("CPU", 1000, measured_cell(35));
  r.not_measured["GPU"] = "built without CUDA";
  EXPECT_EQ(provenance_notes(r), "Note: GPU times are not measured (built without CUDA).\n");
}

// ---- table ----

// Where the bars stand in a line: the columns line up when every row has them where the header has them.
std::vector<std::size_t> bars(const std::string& line) {
  std::vector<std::size_t> at;
  for (std::size_t i = line.find('|'); i != std::string::npos; i = line.find('|', i + 1)) at.push_back(i);
  return at;
}

TEST(ReportTableText, RowPerBatchSizeWithSourcesAndPercentiles) {
  Table t;
  t.set("CPU", 1, measured_cell(0.0843));
  t.set("CPU", 10, measured_cell(0.4));
  t.set("CPU", 100, measured_cell(3.5));
  t.set("GPU", 1, promoted_cell(30));
  t.set("GPU", 10, promoted_cell(0.1));
  t.set("GPU", 100, reference_cell(0.8));
  const std::string text = table_text(t);
  const auto lines = lines_of(text);
  ASSERT_EQ(lines.size(), 2u + 3u) << text;  // header, rule, one row per batch size
  std::istringstream head(lines[0]);
  std::vector<std::string> words;
  for (std::string w; head >> w;) words.push_back(w);
  EXPECT_EQ(words, (std::vector<std::string>{"batch", "|", "CPU", "ms", "p90", "p99", "cv", "floor", "source", "backend", "|", "GPU", "ms", "p90",
                                             "p99", "cv", "floor", "source", "backend", "|", "faster"}));
  EXPECT_EQ(lines[1].find_first_not_of('-'), std::string::npos);
  EXPECT_EQ(lines[1].size(), lines[0].size());

  const struct {
    const char* batch;
    const char* cpu;
    const char* gpu;
    const char* gpu_source;
    const char* faster;
  } rows[] = {{"1", "0.0843", "30", "reference", "CPU"}, {"10", "0.4", "0.1", "reference", "GPU"}, {"100", "3.5", "0.8", "illustrative", "-"}};
  const Stats cpu_stats = measured_cell(0.0843).stats;
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(lines[2 + i]);
    std::istringstream cols(lines[2 + i]);
    std::string batch, bar1, cpu, p90, p99, cv, cpu_floor, cpu_source, cpu_backend, bar2, gpu, gpu_p90, gpu_p99, gpu_cv, gpu_floor, gpu_source,
        gpu_backend, bar3, faster;
    cols >> batch >> bar1 >> cpu >> p90 >> p99 >> cv >> cpu_floor >> cpu_source >> cpu_backend >> bar2 >> gpu >> gpu_p90 >> gpu_p99 >> gpu_cv >>
        gpu_floor >> gpu_source >> gpu_backend >> bar3 >> faster;
    EXPECT_EQ(batch, rows[i].batch);
    EXPECT_EQ(cpu, rows[i].cpu);
    if (i == 0) {
      EXPECT_EQ(p90, format_ms(cpu_stats.p90_ms));
      EXPECT_EQ(p99, format_ms(cpu_stats.p99_ms));
    }
    EXPECT_EQ(cv.back(), '%');
    EXPECT_EQ(cpu_floor, "-");  // no floor known for these cells
    EXPECT_EQ(cpu_source, "measured");
    EXPECT_EQ(cpu_backend, "cpu-eigen");
    EXPECT_EQ(gpu, rows[i].gpu);
    EXPECT_EQ(gpu_p90, "-");  // a reference cell holds a median only
    EXPECT_EQ(gpu_cv, "-");
    EXPECT_EQ(gpu_floor, "-");
    EXPECT_EQ(gpu_source, rows[i].gpu_source);
    EXPECT_EQ(faster, rows[i].faster);
    EXPECT_EQ(bars(lines[2 + i]), bars(lines[0]));  // columns line up
  }
}

TEST(ReportTableText, LargeCvKeepsTheColumnsAligned) {
  Table t;
  Cell c = measured_cell(1.0);
  c.stats.cv = 15.662;  // 1566.2%
  t.set("CPU", 1, c);
  t.set("CPU", 10, measured_cell(2.0));
  const auto lines = lines_of(table_text(t));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_THAT(lines[2], HasSubstr(" 1566% "));
  EXPECT_EQ(bars(lines[2]), bars(lines[0]));
  EXPECT_EQ(bars(lines[3]), bars(lines[0]));
}

TEST(ReportTableText, MissingCellShowsADash) {
  Table t;
  t.set("CPU", 1, measured_cell(0.05));
  t.set("CPU", 10, measured_cell(0.4));
  t.set("GPU", 10, reference_cell(0.1));
  const auto lines = lines_of(table_text(t));
  ASSERT_EQ(lines.size(), 4u);
  std::istringstream cols(lines[2]);
  std::vector<std::string> words;
  for (std::string w; cols >> w;) words.push_back(w);
  ASSERT_EQ(words.size(), 19u) << lines[2];  // batch | 7 columns | 7 columns | faster
  EXPECT_EQ(words[0], "1");
  EXPECT_EQ(words[10], "-");  // GPU ms
  EXPECT_EQ(words[17], "|");
  EXPECT_EQ(words[18], "-");  // faster
  EXPECT_THAT(lines[3], HasSubstr("illustrative"));
  EXPECT_EQ(bars(lines[2]), bars(lines[0]));
}

TEST(ReportTableText, ShareOfTheFloorIsShown) {
  Table t;
  Cell c = measured_cell(1.0);
  c.floor_ms = 0.5;
  c.floor_bound = "L3";
  t.set("CPU", 1, c);
  const auto lines = lines_of(table_text(t));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_THAT(lines[2], HasSubstr(" 50% "));
  EXPECT_DOUBLE_EQ(c.efficiency(), 0.5);
}

TEST(ReportTableText, CvIsShownAsAPercentage) {
  Table t;
  Cell c;
  c.source = Source::Measured;
  c.backend = "cpu-eigen";
  c.stats.median_ms = 1.0;
  c.stats.cv = 0.0234;
  t.set("CPU", 1, c);
  EXPECT_THAT(table_text(t), HasSubstr("2.3%"));
}

TEST(ReportEnergy, MillijoulesPerInferenceOrWhyNot) {
  Table t;
  EXPECT_EQ(energy_line(t), "");
  Cell g = measured_cell(0.01);
  g.energy = Energy{0.0015, 300, 0.5, ""};
  t.set("GPU", 1, g);
  g.energy = Energy{0.0002, 310, 0.5, ""};
  t.set("GPU", 100, g);
  t.set("CPU", 1, measured_cell(0.02));
  EXPECT_EQ(energy_line(t), "GPU energy per inference (NVML, whole board, headline backend): batch 1: 1.5 mJ at 300 W; batch 100: 0.2 mJ at 310 W\n");
  Table none;
  g.energy = Energy{0, 0, 0, "NVML (libnvidia-ml.so.1) not found: no NVIDIA driver here"};
  none.set("GPU", 1, g);
  EXPECT_EQ(energy_line(none), "GPU energy per inference: not measured (NVML (libnvidia-ml.so.1) not found: no NVIDIA driver here)\n");
}

// ---- hot and cold (run --cache) ----

namespace {

Cell cold_cell(double ms) {
  Cell c = measured_cell(ms);
  c.cache = CacheMode::Cold;
  return c;
}

// Hot: the CPU is faster at batch 1 (0.03 vs 0.05 ms); cold: the CPU reads its weights from DRAM and the GPU wins.
Results hot_and_cold() {
  Results r;
  r.table.set("CPU", 1, measured_cell(0.03));
  r.table.set("GPU", 1, measured_cell(0.05));
  r.table.set("CPU", 10, measured_cell(0.3));
  r.table.set("GPU", 10, measured_cell(0.06));
  r.cold = Table{};
  r.cold->set("CPU", 1, cold_cell(0.09));
  r.cold->set("GPU", 1, cold_cell(0.052));
  r.cold->set("CPU", 10, cold_cell(0.4));
  r.cold->set("GPU", 10, cold_cell(0.065));
  return r;
}

}  // namespace

TEST(ReportCold, TheThreeLinesStayHotAndOneMoreGivesTheColdVerdictWhereItDiffers) {
  const Results r = hot_and_cold();
  const std::string at1 = text_report(r, 1);
  EXPECT_THAT(at1, ::testing::StartsWith("CPU time: 0.03 ms\nGPU time: 0.05 ms\nFaster hardware: CPU\nFaster hardware, weights cold: GPU\n"));
  // At batch 10 both say GPU: no extra line.
  const std::string at10 = text_report(r, 10);
  EXPECT_THAT(at10, ::testing::StartsWith("CPU time: 0.3 ms\nGPU time: 0.06 ms\nFaster hardware: GPU\nAt batch 10"));
  EXPECT_THAT(at10, Not(HasSubstr("Faster hardware, weights cold")));
}

TEST(ReportCold, AColdVerdictThatCannotBeGivenSaysWhy) {
  Results r = hot_and_cold();
  r.table.set("GPU", 1, promoted_cell(30));  // --device cpu: the hot GPU cell from a promoted GPU run, no cold one
  r.cold->cells["GPU"].clear();
  EXPECT_THAT(text_report(r, 1), HasSubstr("\nFaster hardware: CPU\nFaster hardware, weights cold: unknown (no cold GPU cell at batch 1: only "
                                           "measured cells are cold, a reference holds hot numbers)\n"));
}

TEST(ReportCold, EachBatchSizeHasItsColdRowAfterItsHotOne) {
  const Results r = hot_and_cold();
  const std::vector<std::string> rows = lines_of(table_text(r.table, &*r.cold));
  std::vector<std::string> firsts;  // the batch column of each row
  for (const std::string& l : rows) {
    const std::string first = l.substr(0, l.find('|'));
    firsts.push_back(first.substr(first.find_first_not_of(' '), first.find_last_not_of(' ') - first.find_first_not_of(' ') + 1));
    if (l.find('|') != std::string::npos) {  // every line but the rule
      EXPECT_EQ(bars(l), bars(rows[0])) << l;
    }
  }
  ASSERT_GE(firsts.size(), 6u);
  EXPECT_EQ(firsts[2], "1");
  EXPECT_EQ(firsts[3], "1 cold");
  EXPECT_EQ(firsts[4], "10");
  EXPECT_EQ(firsts[5], "10 cold");
  EXPECT_THAT(rows[3], HasSubstr("0.09"));
}

TEST(ReportCold, AColdOnlyRunSaysItsThreeLinesAreCold) {
  Results r;
  r.table.set("CPU", 1, cold_cell(0.09));
  r.table.set("GPU", 1, cold_cell(0.052));
  EXPECT_THAT(text_report(r, 1), ::testing::StartsWith("CPU time: 0.09 ms\nGPU time: 0.052 ms\nFaster hardware: GPU\n(weights cold: "));
}

TEST(ReportCold, GoogleBenchmarkNamesTheColdCells) {
  const std::string json = gbench_json(hot_and_cold());
  EXPECT_THAT(json, HasSubstr("\"BM_forward/CPU/1\""));
  EXPECT_THAT(json, HasSubstr("\"BM_forward/CPU/1/cold\""));
  EXPECT_THAT(json, HasSubstr("\"BM_forward/GPU/10/cold\""));
}

// ---- emulated cells (a CUDA emulator, a test build) ----

// The three lines keep their form; the GPU line says emulated and names the emulator, with no number; no verdict, and
// the line after says why.
TEST(ReportEmulated, TheGpuLineSaysEmulatedAndTheVerdictIsUnknown) {
  using mlpbench::testing::kEmulator;
  Table t;
  t.set("CPU", 10, measured_cell(0.1549));
  t.set("GPU", 10, mlpbench::testing::emulated_test_cell());
  const auto lines = lines_of(headline(t, 10));
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[0], "CPU time: 0.1549 ms");
  EXPECT_EQ(lines[1], std::string("GPU time: emulated, not timed (") + kEmulator + ")");
  EXPECT_EQ(lines[2], "Faster hardware: unknown");
  EXPECT_THAT(lines[3], ::testing::StartsWith(std::string("Why unknown: the GPU cell ran on the CUDA emulator (") + kEmulator +
                                              "): checked against the CPU, not timed. A verdict needs two measurements: "));
  EXPECT_EQ(cost_lines(t, 10, Prices{1, 2}), std::string("Cheaper hardware: unknown (the GPU cell ran on the CUDA emulator (") + kEmulator +
                                                 "): checked against the CPU, not timed)\n");
}

// The whole report: no time for the emulated cells in the tables (a dash, source "emulated"), a note naming the emulator,
// the backends that ran, no ratio; Markdown likewise; Google Benchmark's JSON leaves them out.
TEST(ReportEmulated, TablesShowNoTimeAndANoteAndTheBackendsThatRan) {
  Results r;
  for (int b : {1, 10}) {
    r.table.set("CPU", b, measured_cell(0.1 * b));
    r.table.set("GPU", b, mlpbench::testing::emulated_test_cell());
  }
  const std::string text = text_report(r, 10);
  EXPECT_THAT(text, Not(HasSubstr("At batch 10")));
  EXPECT_THAT(text, HasSubstr(std::string("Note: GPU cells ran on the CUDA emulator (") + mlpbench::testing::kEmulator +
                              "): every backend that passed its check against the CPU was run, none timed; they hold no time and decide nothing.\n"));
  EXPECT_THAT(text, HasSubstr("\nGPU backends at batch 10 (emulated, not timed): cuda-tiled+graph cublaslt+graph+zerocopy\n"));
  EXPECT_THAT(text, HasSubstr("; emulated: run on a CUDA emulator, checked against the CPU, not timed"));
  const auto lines = lines_of(table_text(r.table));
  ASSERT_EQ(lines.size(), 4u);
  std::istringstream cols(lines[3]);
  std::vector<std::string> words;
  for (std::string w; cols >> w;) words.push_back(w);
  ASSERT_EQ(words.size(), 19u) << lines[3];  // batch | 7 columns | 7 columns | faster
  EXPECT_EQ(words[0], "10");
  EXPECT_EQ(std::vector<std::string>(words.begin() + 10, words.end()),
            (std::vector<std::string>{"-", "-", "-", "-", "-", "emulated", "cuda-tiled+graph", "|", "-"}));
  EXPECT_EQ(bars(lines[3]), bars(lines[0]));
  const std::string md = markdown_report(r, 10);
  EXPECT_THAT(md, HasSubstr(std::string("**GPU time: emulated, not timed (") + mlpbench::testing::kEmulator + ")**  \n**Faster hardware: unknown**"));
  EXPECT_THAT(md, HasSubstr("| - | - | - | emulated | `cuda-tiled+graph` | - | -"));
  EXPECT_THAT(gbench_json(r), Not(HasSubstr("BM_forward/GPU")));
  EXPECT_THAT(gbench_json(r), HasSubstr("BM_forward/CPU/10"));
}

// ---- the answer under load (serving) ----

namespace {

using mlpbench::testing::serving_run;

// CPU measured up to 51k/s at p99 <= 1 ms, the GPU (measured or simulated) up to 1.9M/s; a CPU cell so the file is whole.
Results served(const std::string& gpu_source) {
  Results r;
  r.table.set("CPU", 1, measured_cell(0.03));
  r.table.set("GPU", 1, reference_cell(0.05));
  Serving sv;
  sv.runs.push_back(serving_run("CPU", "measured", {{1000, 0.2}, {32000, 0.5}, {64000, 4}, {51000, 0.9}, {56000, 1.3}}, sv.config));
  sv.runs.push_back(serving_run("GPU", gpu_source, {{1000, 0.05}, {1.9e6, 0.7}, {2.1e6, 1.5}}, sv.config, "streams=1"));
  r.serving = sv;
  return r;
}

}  // namespace

TEST(ServingReport, RatesReadLikeTheIssue) {
  EXPECT_EQ(format_rate(850), "850/s");
  EXPECT_EQ(format_rate(51234), "51k/s");
  EXPECT_EQ(format_rate(1.93e6), "1.9M/s");
  EXPECT_EQ(format_rate(1e6), "1M/s");
  EXPECT_EQ(format_rate(999.7), "1k/s");
  EXPECT_EQ(format_rate(2.5), "2.5/s");
  EXPECT_EQ(format_rate(123456), "123k/s");
}

TEST(ServingReport, BothMeasuredGiveAVerdict) {
  const std::vector<std::string> lines = serving_lines(served("measured"));
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "Served at p99 <= 1 ms: CPU 51k/s, GPU 1.9M/s");
  EXPECT_EQ(lines[1], "Faster hardware under load: GPU");
}

TEST(ServingReport, ASimulatedGpuIsLabelledAndDecidesNothing) {
  const Results r = served("simulated");
  const std::vector<std::string> lines = serving_lines(r);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(lines[0], "Served at p99 <= 1 ms: CPU 51k/s, GPU 1.9M/s simulated (from results/reference.json (reference))");
  EXPECT_EQ(lines[1], "Faster hardware under load: unknown (the GPU rate is simulated, not measured: a verdict needs two measurements)");
  Results priced = r;
  priced.prices = Prices{1, 2};
  EXPECT_THAT(serving_lines(priced), ::testing::Contains("Cheaper hardware under load: unknown (the GPU rate is simulated, not measured: a verdict "
                                                         "needs two measurements)"));
}

TEST(ServingReport, PricesSayWhichIsCheaperPerRequest) {
  Results r = served("measured");
  r.prices = Prices{1, 100};  // CPU 1 USD/h at 51k/s: 0.005447 per million; GPU 100 USD/h at 1.9M/s: 0.01462
  std::vector<std::string> lines = serving_lines(r);
  ASSERT_EQ(lines.size(), 4u);
  EXPECT_EQ(lines[2], "Cheaper hardware under load: CPU");
  EXPECT_EQ(lines[3], "(USD per million requests at those rates: CPU 0.005447, GPU 0.01462)");
  r.prices = Prices{1, 10};  // GPU: 0.001462
  lines = serving_lines(r);
  EXPECT_EQ(lines.at(2), "Cheaper hardware under load: GPU");
}

TEST(ServingReport, NoVerdictFromAnInterruptedRunAndNoneWhenNoRateMetTheBound) {
  Results r = served("measured");
  r.serving->runs[0].search.interrupted = true;
  EXPECT_EQ(serving_lines(r).at(1), "Faster hardware under load: unknown (the CPU run was interrupted: its rate is only a lower bound)");
  EXPECT_THAT(serving_lines(r).at(0), HasSubstr("CPU 51k/s (interrupted: at least)"));
  r = served("measured");
  r.serving->runs[0] = serving_run("CPU", "measured", {{1000, 3}, {500, 2}});
  EXPECT_EQ(serving_lines(r).at(0), "Served at p99 <= 1 ms: CPU none (no rate met the bound, down to 500/s), GPU 1.9M/s");
  EXPECT_EQ(serving_lines(r).at(1), "Faster hardware under load: GPU") << "a measured GPU served, a measured CPU did not";
  r.serving->runs.pop_back();
  EXPECT_EQ(serving_lines(r).at(1), "Faster hardware under load: unknown (no GPU run under load)");
}

TEST(ServingReport, RatesWithinTheSearchToleranceAreAboutTheSame) {
  Results r = served("measured");
  r.serving->runs[1] = serving_run("GPU", "measured", {{53000, 0.9}, {60000, 1.2}});  // 53k against 51k: within 5%
  EXPECT_EQ(serving_lines(r).at(1), "Faster hardware under load: about the same (the best rates are within the search's 5% tolerance)");
}

TEST(ServingReport, TheSimulatorStandsBesideTheLiveMeasurement) {
  Results r = served("measured");
  ServingRun sim = serving_run("CPU", "simulated", {{1000, 0.1}, {60000, 0.8}});
  sim.simulated_from = "the CPU column of this run (measured)";
  r.serving->runs.push_back(sim);
  const std::vector<std::string> lines = serving_lines(r);
  EXPECT_EQ(lines.at(1), "Faster hardware under load: GPU") << "a simulated run beside a measured one changes no verdict";
  EXPECT_EQ(lines.back(),
            "Simulator check: CPU 60k/s simulated (from the CPU column of this run (measured), workers=1,threads=1) against 51k/s measured "
            "(workers=1,threads=1), +18%; p99 at 1k/s: 0.1 ms simulated, 0.2 ms measured, -50%; mean batch there: 1.5 requests in 0.02 ms "
            "simulated, 1.5 in 0.04 ms measured");
}

TEST(ServingReport, TheReportPrintsTheAnswerUnderLoadAfterTheTable) {
  const std::string text = text_report(served("simulated"), 1);
  const auto table = text.find("batch |"), under = text.find("Under load (mlpbench serve):");
  ASSERT_NE(under, std::string::npos) << text;
  EXPECT_LT(table, under);
  EXPECT_THAT(text, HasSubstr("GPU 1.9M/s simulated (from results/reference.json (reference))"));
  EXPECT_THAT(text, HasSubstr("GPU    simulated cuda-gemv+graph streams=1           1.9M/s    0.7     3 results/reference.json (reference)"));
  EXPECT_THAT(markdown_report(served("measured"), 1), HasSubstr("**Faster hardware under load: GPU**"));
  Results plain = served("measured");
  plain.serving.reset();
  EXPECT_TRUE(serving_lines(plain).empty());
  EXPECT_THAT(text_report(plain, 1), Not(HasSubstr("under load")));
}
