// Deciding: the crossover on synthetic tables (crosses once, never, twice, reference-only columns) and the
// cost arithmetic; the Markdown report's shape.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "mlpbench/report.hpp"
#include "mlpbench/table.hpp"
#include "test_util.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;

namespace {

Cell cell(double ms, Source source = Source::Measured) {
  Cell c;
  c.source = source;
  c.backend = "test";
  c.stats.median_ms = ms;
  return c;
}

// A reference cell measured elsewhere and promoted (mlpbench reference --from): a measurement.
Cell promoted(double ms) {
  Cell c = cell(ms, Source::Reference);
  c.provenance.kind = "measured";
  return c;
}

Table table_of(const std::vector<int>& batches, const std::vector<double>& cpu, const std::vector<double>& gpu) {
  Table t;
  for (std::size_t i = 0; i < batches.size(); ++i) {
    if (cpu[i] > 0) t.set("CPU", batches[i], cell(cpu[i]));
    if (gpu[i] > 0) t.set("GPU", batches[i], cell(gpu[i]));
  }
  return t;
}

}  // namespace

TEST(Crossover, CrossesOnceInterpolatedOnLogAxes) {
  // CPU 1 ms at 10, 10 ms at 100; GPU 4 ms at both: log ratio +1.386 at 10, -0.916 at 100.
  const Table t = table_of({1, 10, 100, 1000}, {0.1, 1, 10, 100}, {4, 4, 4, 8});
  const Crossover x = crossover(t);
  ASSERT_TRUE(x.batch) << x.how;
  const double d0 = std::log(4.0 / 1), d1 = std::log(4.0 / 10);
  const double expected = std::exp(std::log(10.0) + (std::log(100.0) - std::log(10.0)) * d0 / (d0 - d1));
  EXPECT_NEAR(x.exact, expected, 1e-9);  // = 40 exactly: GPU and CPU both 4 ms there
  EXPECT_NEAR(x.exact, 40.0, 1e-9);
  EXPECT_EQ(*x.batch, 40);
  EXPECT_THAT(x.how, HasSubstr("between batch 10 (CPU faster) and 100 (GPU faster)"));
}

TEST(Crossover, NeverCrosses) {
  const Crossover gpu_always = crossover(table_of({1, 10, 100}, {50, 400, 3500}, {30, 100, 800}));
  EXPECT_FALSE(gpu_always.batch);
  EXPECT_THAT(gpu_always.how, HasSubstr("never cross: the GPU is faster at every batch size from 1 to 100"));
  const Crossover cpu_always = crossover(table_of({1, 10, 100}, {0.01, 0.06, 0.6}, {30, 100, 800}));
  EXPECT_FALSE(cpu_always.batch);
  EXPECT_THAT(cpu_always.how, HasSubstr("the CPU is faster at every batch size"));
}

TEST(Crossover, CrossesTwiceOrTheWrongWay) {
  const Crossover twice = crossover(table_of({1, 10, 100, 1000}, {1, 5, 10, 50}, {2, 2, 20, 20}));
  EXPECT_FALSE(twice.batch);
  EXPECT_THAT(twice.how, HasSubstr("cross 3 times"));
  const Crossover wrong_way = crossover(table_of({1, 10, 100}, {2, 2, 2}, {1, 3, 4}));
  EXPECT_FALSE(wrong_way.batch);
  EXPECT_THAT(wrong_way.how, HasSubstr("the GPU is faster only below batch size 10"));
}

TEST(Crossover, ReferenceColumnWithoutCellsAtTheSweepsSizes) {
  // A sweep at 2, 4, 8 against a reference GPU column that holds only 1, 10, 100: no batch has both.
  Table t = table_of({2, 4, 8}, {1, 2, 4}, {0, 0, 0});
  for (int b : {1, 10, 100}) t.set("GPU", b, promoted(30));
  const Crossover x = crossover(t);
  EXPECT_FALSE(x.batch);
  EXPECT_EQ(x.how,
            "too few points to tell: no batch size has both a CPU and a GPU cell measured, and it takes three; missing: CPU at 1,10,100; GPU at 2,4,8");
}

// Illustrative values decide nothing: a column of them gives no crossover, however the lines run, and says why.
TEST(Crossover, IllustrativeCellsAreNoPoints) {
  Table t = table_of({1, 10, 100}, {0.1, 1, 10}, {0, 0, 0});
  for (int b : {1, 10, 100}) t.set("GPU", b, cell(2, Source::Reference));  // would cross between 10 and 100
  const Crossover x = crossover(t);
  EXPECT_FALSE(x.batch);
  EXPECT_EQ(x.how, "too few points to tell: no batch size has both a CPU and a GPU cell measured, and it takes three; illustrative, not measured: "
                   "GPU at 1,10,100");
  for (int b : {1, 10, 100}) t.set("GPU", b, promoted(2));  // measured elsewhere: they count
  const Crossover promoted_x = crossover(t);
  ASSERT_TRUE(promoted_x.batch) << promoted_x.how;
  EXPECT_THAT(promoted_x.how, HasSubstr("uses cells measured elsewhere"));
}

// Two shared points always make a line that crosses or not: that is not a finding. Three can.
TEST(Crossover, TooFewPointsToTellWithOneOrTwoSharedBatchSizesAndAnAnswerWithThree) {
  Table one = table_of({1, 10}, {1, 2}, {5, 0});
  EXPECT_EQ(crossover(one).how, "too few points to tell: only batch 1 has both a CPU and a GPU cell measured, and it takes three; missing: GPU at 10");
  Table two = table_of({1, 10, 100}, {1, 10, 100}, {5, 5, 0});
  const Crossover x2 = crossover(two);
  EXPECT_FALSE(x2.batch) << "CPU faster at 1, GPU at 10: still no crossover from two points";
  EXPECT_EQ(x2.how, "too few points to tell: only batch 1,10 have both a CPU and a GPU cell measured, and it takes three; missing: GPU at 100");
  const Crossover x3 = crossover(table_of({1, 10, 100}, {1, 10, 100}, {5, 5, 5}));
  ASSERT_TRUE(x3.batch);
  EXPECT_THAT(x3.how, HasSubstr("interpolated on log axes between batch 1 (CPU faster) and 10 (GPU faster)"));
}

TEST(Cost, UsdPerMillionInferences) {
  // $3.6 an hour, 10 rows in 1 ms: 36e6 inferences an hour -> $0.1 per million.
  EXPECT_NEAR(usd_per_million(3.6, 10, 1.0), 0.1, 1e-12);
  EXPECT_NEAR(usd_per_million(0.1, 10, 400), 0.1 / 90000 * 1e6, 1e-12);
  const Table t = table_of({10}, {400}, {100});
  EXPECT_EQ(cheaper_at(t, 10, Prices{0.1, 3.0}), "CPU");  // $1.11 vs $8.33
  EXPECT_EQ(cheaper_at(t, 10, Prices{1.0, 1.0}), "GPU");
  EXPECT_FALSE(cheaper_at(t, 10, Prices{}));
  EXPECT_FALSE(cheaper_at(t, 1, Prices{1, 1}));
  EXPECT_EQ(cost_lines(t, 10, Prices{0.1, 3.0}), "Cheaper hardware: CPU\n(USD per million inferences at batch 10: CPU 1.111, GPU 8.333)\n");
  EXPECT_EQ(cost_lines(t, 10, Prices{}), "");
  // An illustrative cell decides nothing, cost included.
  Table illustrative = t;
  illustrative.set("GPU", 10, cell(100, Source::Reference));
  EXPECT_FALSE(cheaper_at(illustrative, 10, Prices{0.1, 3.0}));
  EXPECT_EQ(cost_lines(illustrative, 10, Prices{0.1, 3.0}),
            "Cheaper hardware: unknown (the GPU time is an illustrative value from a reference table, not a measurement)\n");
}

TEST(Markdown, ThreeBoldLinesAndATableRowPerBatch) {
  Results r;
  r.table = table_of({1, 10, 100}, {50, 400, 3500}, {30, 100, 800});
  const std::string md = markdown_report(r, 10);
  EXPECT_THAT(md, ::testing::StartsWith("**CPU time: 400 ms**  \n**GPU time: 100 ms**  \n**Faster hardware: GPU**  \n"));
  std::istringstream in(md);
  std::string line;
  int header = 0, rule = 0, rows = 0;
  while (std::getline(in, line)) {
    if (line.rfind("| batch |", 0) == 0) ++header;
    else if (line.rfind("|---", 0) == 0) ++rule;
    else if (line.rfind("| ", 0) == 0) {
      ++rows;
      EXPECT_EQ(std::count(line.begin(), line.end(), '|'), 15) << line;  // 14 columns
    }
  }
  EXPECT_EQ(header, 1);
  EXPECT_EQ(rule, 1);
  EXPECT_EQ(rows, 3);
}

// In Markdown the reason there is no verdict is as bold as the verdict, and the illustrative label stands on the line.
TEST(Markdown, AnIllustrativeColumnIsLabelledAndItsWhyIsBold) {
  Results r;
  r.table = table_of({1, 10, 100}, {0.05, 0.4, 3.5}, {0, 0, 0});
  for (int b : {1, 10, 100}) r.table.set("GPU", b, cell(100, Source::Reference));
  const std::string md = markdown_report(r, 10);
  EXPECT_THAT(md, ::testing::StartsWith("**CPU time: 0.4 ms**  \n**GPU time: 100 ms (illustrative, not measured)**  \n"
                                        "**Faster hardware: unknown**  \n**Why unknown: the GPU time is an illustrative value"));
  EXPECT_THAT(md, HasSubstr("| illustrative |"));
}

// An emulated cell (a CUDA emulator, a test build) holds no time: no verdict, no crossover, no cost, and each says why.
TEST(Emulated, DecidesNothingAndEverySayingWhyNamesTheEmulator) {
  using mlpbench::testing::emulated_test_cell;
  Table t = table_of({1, 10, 100}, {0.05, 0.4, 3.5}, {0, 0, 0});
  for (int b : {1, 10, 100}) t.set("GPU", b, emulated_test_cell());
  const Cell& g = *t.find("GPU", 10);
  EXPECT_EQ(g.source, Source::Emulated);
  EXPECT_STREQ(source_name(g.source), "emulated");
  EXPECT_EQ(g.backend, "cuda-tiled+graph") << "the first backend that passed";
  EXPECT_EQ(g.io, "copy");
  EXPECT_EQ(g.runs.size(), 2u);
  EXPECT_EQ(g.median_ms(), 0);
  EXPECT_FALSE(is_measurement(g));
  EXPECT_FALSE(faster_at(t, 10));
  EXPECT_FALSE(cheaper_at(t, 10, Prices{1, 2}));
  EXPECT_EQ(why_no_verdict(t, 10), std::string("the GPU cell ran on the CUDA emulator (") + mlpbench::testing::kEmulator +
                                       "): checked against the CPU, not timed");
  const Crossover x = crossover(t);
  EXPECT_FALSE(x.batch);
  EXPECT_THAT(x.how, HasSubstr("no batch size has both a CPU and a GPU cell measured"));
  EXPECT_THAT(x.how, HasSubstr("; emulated, not timed: GPU at 1,10,100"));
  EXPECT_THAT(x.how, ::testing::Not(HasSubstr("illustrative")));
  EXPECT_EQ(column_source(t, "GPU"), "emulated");
  EXPECT_EQ(column_source(t, "CPU"), "measured");
  t.set("GPU", 1000, cell(1));
  EXPECT_EQ(column_source(t, "GPU"), "mixed");
}

// Among measured cells an emulated one is skipped: the crossover rests on the three measured batch sizes only.
TEST(Emulated, TheCrossoverIgnoresEmulatedCells) {
  Table t = table_of({1, 10, 100, 1000}, {1, 10, 100, 1000}, {10, 20, 0, 200});
  t.set("GPU", 100, mlpbench::testing::emulated_test_cell());
  const Crossover x = crossover(t);
  ASSERT_TRUE(x.batch) << x.how;
  EXPECT_THAT(x.how, HasSubstr("between batch 10 (CPU faster) and 1000 (GPU faster)"));
}
