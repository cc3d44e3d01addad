// mlpbench compare: the Mann-Whitney U test against scipy, verdicts and regressions on synthetic samples,
// notes on files that differ, the fleet view, and the command's exit codes end to end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <tuple>
#include <unistd.h>

#include "mlpbench/compare.hpp"
#include "mlpbench/measure.hpp"
#include "mlpbench/report.hpp"
#include "mlpbench/results.hpp"

using namespace mlpbench;
using mlpbench::testing::input_error;
using mlpbench::testing::reference_cell;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

namespace {

// n samples around `center` ms, each center * exp(N(0, sigma)): positive and right-skewed like timings.
std::vector<double> noisy(double center, double sigma, int n, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d(0.0, sigma);
  std::vector<double> v;
  for (int i = 0; i < n; ++i) v.push_back(center * std::exp(d(rng)));
  return v;
}

std::vector<double> scaled(std::vector<double> v, double k) {
  for (double& x : v) x *= k;
  return v;
}

Cell measured(std::vector<double> samples_ms) {
  Cell c;
  c.source = Source::Measured;
  c.backend = "eigen";
  c.stats = summarize(std::move(samples_ms), 1);
  return c;
}

Results results(const std::vector<std::tuple<std::string, int, Cell>>& cells, const std::string& cpu = "Test CPU") {
  Results r;
  r.model.layers = {784, 512, 10};
  r.model.origin.kind = "seed";
  r.model.origin.seed = 1;
  r.machine = machine_from_json({{"host", "test"}, {"cpu", cpu}, {"cores", 2}, {"threads", 2}, {"gpu", nullptr}}, "machine");
  for (const auto& [device, batch, cell] : cells) r.table.set(device, batch, cell);
  return r;
}

Cell cold(Cell c) {
  c.cache = CacheMode::Cold;
  return c;
}

Results cpu1(Cell c) { return results({{"CPU", 1, std::move(c)}}); }

Comparison compare2(const Results& base, const Results& now, double threshold = 5) {
  return compare_results({{"base.json", base}, {"new.json", now}}, threshold);
}

}  // namespace

TEST(Compare, IdenticalSamplesAreTheSame) {
  const std::vector<double> s = noisy(1.0, 0.05, 40, 1);
  const Comparison c = compare2(cpu1(measured(s)), cpu1(measured(s)));
  ASSERT_EQ(c.vs.size(), 1u);
  ASSERT_EQ(c.vs[0].size(), 1u);
  const CellChange& ch = c.vs[0][0];
  EXPECT_EQ(ch.device, "CPU");
  EXPECT_EQ(ch.batch, 1);
  EXPECT_DOUBLE_EQ(ch.ratio, 1.0);
  ASSERT_TRUE(ch.p.has_value());
  EXPECT_DOUBLE_EQ(*ch.p, 1.0);
  EXPECT_FALSE(ch.significant);
  EXPECT_EQ(ch.verdict, Verdict::Same);
  EXPECT_FALSE(ch.regression);
  EXPECT_FALSE(c.regression);
  EXPECT_TRUE(c.notes.empty());
  EXPECT_THAT(comparison_text(c), HasSubstr("\nNo regression.\n"));
}

TEST(Compare, SlowdownOf1_6xIsASignificantRegression) {
  const std::vector<double> base = noisy(0.2, 0.02, 50, 2);
  const Comparison c = compare2(cpu1(measured(base)), cpu1(measured(scaled(base, 1.6))), 5);
  const CellChange& ch = c.vs.at(0).at(0);
  EXPECT_NEAR(ch.ratio, 1.6, 1e-12);
  ASSERT_TRUE(ch.p.has_value());
  EXPECT_LT(*ch.p, 1e-6);
  EXPECT_TRUE(ch.significant);
  EXPECT_EQ(ch.verdict, Verdict::Slower);
  EXPECT_TRUE(ch.regression);
  EXPECT_TRUE(c.regression);
  const std::string text = comparison_text(c);
  EXPECT_THAT(text, HasSubstr("1.60x"));
  EXPECT_THAT(text, HasSubstr("slower, regression"));
  EXPECT_THAT(text, HasSubstr("\nRegression: 1 cell(s) significantly slower by more than 5%\n"));

  // The same slowdown under a 70% threshold: significant, but within the threshold: same, no regression.
  const Comparison loose = compare2(cpu1(measured(base)), cpu1(measured(scaled(base, 1.6))), 70);
  EXPECT_TRUE(loose.vs[0][0].significant);
  EXPECT_EQ(loose.vs[0][0].verdict, Verdict::Same);
  EXPECT_FALSE(loose.vs[0][0].regression);
  EXPECT_FALSE(loose.regression);
  EXPECT_THAT(comparison_text(loose), HasSubstr("No regression."));
}

TEST(Compare, NoisySamplesOfOneDistributionAreNotSignificant) {
  // 20% noise, two independent draws of the same distribution.
  const Comparison c = compare2(cpu1(measured(noisy(1.0, 0.2, 50, 11))), cpu1(measured(noisy(1.0, 0.2, 50, 12))));
  const CellChange& ch = c.vs.at(0).at(0);
  ASSERT_TRUE(ch.p.has_value());
  EXPECT_GE(*ch.p, 0.05);
  EXPECT_FALSE(ch.significant);
  EXPECT_EQ(ch.verdict, Verdict::Same);
  EXPECT_FALSE(c.regression);

  // And the test keeps its level: about 5% of such pairs come out significant at alpha 0.05, not many more.
  int significant = 0;
  const int pairs = 400;
  for (int i = 0; i < pairs; ++i) {
    const auto m = mann_whitney(noisy(1.0, 0.2, 30, 1000 + 2 * i), noisy(1.0, 0.2, 30, 1001 + 2 * i));
    significant += m->p < 0.05;
  }
  EXPECT_GT(significant, 0.01 * pairs);
  EXPECT_LT(significant, 0.09 * pairs);
}

TEST(Compare, SignificantButSmallDifferencesAreTheSame) {
  // Thousands of samples make a 1% shift significant; under a 5% threshold it is still the same.
  const std::vector<double> base = noisy(1.0, 0.01, 2000, 11);
  const Comparison c = compare2(cpu1(measured(base)), cpu1(measured(scaled(base, 1.01))));
  const CellChange& ch = c.vs.at(0).at(0);
  EXPECT_TRUE(ch.significant);
  EXPECT_EQ(ch.verdict, Verdict::Same);
  EXPECT_FALSE(ch.regression);
}

TEST(Compare, SpeedupIsFasterNotARegression) {
  const std::vector<double> base = noisy(2.0, 0.03, 30, 3);
  const Comparison c = compare2(cpu1(measured(base)), cpu1(measured(scaled(base, 0.5))));
  const CellChange& ch = c.vs.at(0).at(0);
  EXPECT_NEAR(ch.ratio, 0.5, 1e-12);
  EXPECT_TRUE(ch.significant);
  EXPECT_EQ(ch.verdict, Verdict::Faster);
  EXPECT_FALSE(ch.regression);
  EXPECT_FALSE(c.regression);
  EXPECT_THAT(comparison_text(c), HasSubstr("0.50x"));
}

TEST(Compare, ReferenceCellsNeverRegress) {
  // Reference on both sides, and a measured BASE against a reference NEW: 1000x slower, still no regression.
  const Results base = results({{"CPU", 1, measured(noisy(1.0, 0.05, 20, 4))}, {"GPU", 1, reference_cell(1.0)}});
  const Results now = results({{"CPU", 1, reference_cell(1000.0)}, {"GPU", 1, reference_cell(1000.0)}});
  const Comparison c = compare2(base, now);
  ASSERT_EQ(c.vs.at(0).size(), 2u);
  for (const CellChange& ch : c.vs[0]) {
    EXPECT_GT(ch.ratio, 900) << ch.device;
    EXPECT_TRUE(ch.reference) << ch.device;
    EXPECT_FALSE(ch.p.has_value()) << ch.device;
    EXPECT_EQ(ch.verdict, Verdict::Untested) << ch.device;
    EXPECT_FALSE(ch.regression) << ch.device;
  }
  EXPECT_FALSE(c.regression);
  EXPECT_THAT(comparison_text(c), HasSubstr("untested (reference cell)"));
}

TEST(Compare, CellsWithoutSamplesAreUntested) {
  Cell base = measured(noisy(1.0, 0.05, 20, 5));
  Cell slow = measured(noisy(10.0, 0.05, 20, 6));
  slow.stats.samples_ms.clear();  // an older file without samples
  Comparison c = compare2(cpu1(base), cpu1(slow));
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Untested);
  EXPECT_FALSE(c.vs[0][0].reference);
  EXPECT_FALSE(c.vs[0][0].p.has_value());
  EXPECT_FALSE(c.regression) << "no samples, no evidence: never a regression";
  const std::string text = comparison_text(c);
  EXPECT_THAT(text, HasSubstr("untested (no samples)"));
  EXPECT_THAT(text, HasSubstr("  -  "));  // the p column

  slow = measured({10.0, 10.1});  // fewer than 3 samples
  c = compare2(cpu1(base), cpu1(slow));
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Untested);
  EXPECT_FALSE(c.regression);
}

TEST(Compare, DifferentMachinesAreComparedWithANoteEach) {
  const std::vector<double> s = noisy(1.0, 0.05, 20, 7);
  Results base = results({{"CPU", 1, measured(s)}}, "Intel Xeon");
  Results now = results({{"CPU", 1, measured(s)}}, "AMD EPYC");
  EXPECT_TRUE(compare2(base, base).notes.empty()) << "the same machine and model: no note";

  now.machine.gpu = GpuInfo{"NVIDIA H200", "570", "12.8", Json::object()};
  const Comparison c = compare2(base, now);
  ASSERT_EQ(c.vs.at(0).size(), 1u);
  EXPECT_THAT(c.notes, ::testing::ElementsAre("new.json ran on another machine: CPU 'AMD EPYC' vs 'Intel Xeon' in base.json",
                                               "new.json ran on another machine: GPU 'NVIDIA H200' vs 'none' in base.json"));
  EXPECT_THAT(comparison_text(c), HasSubstr("Note: new.json ran on another machine: CPU 'AMD EPYC' vs 'Intel Xeon' in base.json\n"));

  // A file that records no machine (results/reference.json) is not "another machine".
  Results unknown = results({{"CPU", 1, measured(s)}});
  unknown.machine = MachineInfo{};
  EXPECT_TRUE(compare2(unknown, base).notes.empty());
}

// Another model (layers, or weights: another seed, a file of another sha256) or precision: refused, naming both files and
// what differs; a seeded model against a file is not known to differ (export-weights writes a seed's model): a note.
TEST(Compare, DifferentModelsOrPrecisionsAreRefusedNamingBothAndWhatDiffers) {
  const std::vector<double> s = noisy(1.0, 0.05, 20, 17);
  const Results base = results({{"CPU", 1, measured(s)}});
  Results layers = base;
  layers.model.layers = {32, 64, 16, 2};
  EXPECT_EQ(input_error([&] { compare2(base, layers); }),
            "compare: base.json holds 784-512-10 at fp32 and new.json 32-64-16-2 at fp32: different models; --allow-different-models "
            "compares them anyway");
  Results seed = base;
  seed.model.origin.seed = 2;
  EXPECT_EQ(input_error([&] { compare2(base, seed); }),
            "compare: base.json holds 784-512-10 (seed 1) at fp32 and new.json 784-512-10 (seed 2) at fp32: different weights; "
            "--allow-different-models compares them anyway");
  Results file_a = base, file_b = base;
  file_a.model.origin.kind = file_b.model.origin.kind = "file";
  file_a.model.origin.file = file_b.model.origin.file = "a.safetensors";  // the same path, other bytes
  file_a.model.origin.sha256 = std::string(64, 'a');
  file_b.model.origin.sha256 = std::string(64, 'b');
  EXPECT_THAT(input_error([&] { compare2(file_a, file_b); }), HasSubstr("different weights"));
  EXPECT_TRUE(compare2(file_a, file_a).notes.empty()) << "the same file's bytes: the same model";
  Results bf16 = base;
  bf16.run.precision = "bf16";
  EXPECT_EQ(input_error([&] { compare2(base, bf16); }),
            "compare: base.json holds 784-512-10 at fp32 and new.json 784-512-10 at bf16: different precisions; --allow-different-models "
            "compares them anyway");
  layers.run.precision = "tf32";
  EXPECT_THAT(input_error([&] { compare2(base, layers); }), HasSubstr("at tf32: different models and different precisions;"));
  // In a fleet the first file that differs is named, even after one that doesn't.
  EXPECT_THAT(input_error([&] { compare_results({{"base.json", base}, {"a.json", base}, {"b.json", seed}}, 5); }),
              HasSubstr("base.json holds 784-512-10 (seed 1) at fp32 and b.json"));

  const Comparison mixed = compare2(base, file_a);
  ASSERT_EQ(mixed.vs.at(0).size(), 1u) << "a seed against a file is compared";
  EXPECT_THAT(mixed.notes, ::testing::ElementsAre(HasSubstr("new.json ran weights 'file with sha256 aaaaaaaaaaaa' and base.json 'seed 1': the "
                                                            "same model only if the file holds that seed's weights")));
}

// --allow-different-models: compared, said first (text and Markdown), verdicts kept, but no cell is a regression.
TEST(Compare, AllowedDifferentModelsAreSaidFirstAndNeverRegress) {
  const std::vector<double> s = noisy(0.2, 0.02, 50, 18);
  const Results small = results({{"CPU", 1, measured(s)}});
  Results big = results({{"CPU", 1, measured(scaled(s, 225))}});
  big.model.layers = {784, 512, 512, 10};
  const Comparison c = compare_results({{"small.json", small}, {"big.json", big}}, 5, kAlpha, /*allow_different_models=*/true);
  ASSERT_EQ(c.vs.at(0).size(), 1u);
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Slower);
  EXPECT_FALSE(c.vs[0][0].regression);
  EXPECT_FALSE(c.regression);
  EXPECT_THAT(c.model_differences, ::testing::ElementsAre("small.json holds 784-512-10 at fp32 and big.json 784-512-512-10 at fp32: different models"));
  const std::string text = comparison_text(c);
  EXPECT_THAT(text, ::testing::StartsWith("Different models (--allow-different-models): the ratios compare different work, and no cell of "
                                          "big.json counts as a regression.\n\n  small.json holds 784-512-10 at fp32 and big.json "
                                          "784-512-512-10 at fp32: different models\n\nBASE: small.json\n"));
  EXPECT_THAT(text, HasSubstr("225x  <0.0001  slower\n"));
  EXPECT_THAT(text, Not(HasSubstr("regression\n")));
  EXPECT_THAT(text, HasSubstr("\nNo regression judged: the files hold different models.\n"));
  const std::string md = comparison_markdown(c);
  EXPECT_THAT(md, ::testing::StartsWith("**Different models (--allow-different-models): the ratios compare different work, and no cell of "
                                        "`big.json` counts as a regression.**\n\n- small.json holds 784-512-10 at fp32 and big.json"));
  EXPECT_THAT(md, Not(HasSubstr("**No regression")));
  // The same model with the flag: judged as ever.
  const Comparison same = compare_results({{"small.json", small}, {"slow.json", results({{"CPU", 1, measured(scaled(s, 1.6))}})}}, 5, kAlpha, true);
  EXPECT_TRUE(same.regression);
  EXPECT_TRUE(same.model_differences.empty());
  EXPECT_THAT(comparison_text(same), Not(HasSubstr("Different models")));
}

TEST(Compare, CellsInOnlyOneFileAreListedInANote) {
  const std::vector<double> s = noisy(1.0, 0.05, 20, 8);
  const Results base = results({{"CPU", 1, measured(s)}, {"CPU", 1000, measured(s)}});
  const Results now = results({{"CPU", 1, measured(s)}, {"GPU", 5, measured(s)}});
  const Comparison c = compare2(base, now);
  ASSERT_EQ(c.vs.at(0).size(), 1u);
  EXPECT_EQ(c.vs[0][0].batch, 1);
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_EQ(c.notes[0], "not compared (in one file only): CPU 1000 only in base.json; GPU 5 only in new.json");
}

TEST(CompareCache, ColdCellsAreJudgedAgainstColdOnesAndShownApart) {
  const std::vector<double> s = noisy(1.0, 0.05, 20, 11);
  Results base = results({{"CPU", 1, measured(s)}}), now = results({{"CPU", 1, measured(s)}});
  base.cold = Table{};
  base.cold->set("CPU", 1, cold(measured(scaled(s, 3))));
  now.cold = Table{};
  now.cold->set("CPU", 1, cold(measured(scaled(s, 6))));  // cold twice as slow: a regression of the cold cell only
  const Comparison c = compare2(base, now);
  ASSERT_EQ(c.vs.at(0).size(), 2u);
  EXPECT_EQ(c.vs[0][0].cache, CacheMode::Hot);
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Same);
  EXPECT_EQ(c.vs[0][1].cache, CacheMode::Cold);
  EXPECT_NEAR(c.vs[0][1].ratio, 2.0, 1e-9);
  EXPECT_TRUE(c.vs[0][1].regression);
  EXPECT_TRUE(c.notes.empty()) << c.notes.front();
  EXPECT_THAT(comparison_text(c), ::testing::ContainsRegex("\nCPU +1 cold +[0-9.]+ +[0-9.]+ +2.00x .* slower, regression\n"));
}

TEST(CompareCache, AHotCellIsNeverJudgedAgainstAColdOneAndANoteSaysWhy) {
  const std::vector<double> s = noisy(1.0, 0.05, 20, 12);
  const Results base = results({{"CPU", 1, measured(s)}, {"CPU", 10, measured(s)}});
  const Results now = results({{"CPU", 1, cold(measured(scaled(s, 3)))}, {"CPU", 10, measured(s)}});  // run --cache cold at batch 1
  const Comparison c = compare2(base, now);
  ASSERT_EQ(c.vs.at(0).size(), 1u);
  EXPECT_EQ(c.vs[0][0].batch, 10);
  EXPECT_FALSE(c.regression);  // 3x slower, but cold: not a regression of the hot cell
  ASSERT_EQ(c.notes.size(), 1u);
  EXPECT_EQ(c.notes[0],
            "not compared (hot against cold: the weights in the caches in one, evicted in the other): CPU 1 (hot in base.json, cold in "
            "new.json); run both with the same --cache");
  // A cold cell with its hot twin in the other file only: in one file only, not a mismatch.
  Results both = base;
  both.cold = Table{};
  both.cold->set("CPU", 1, cold(measured(s)));
  const Comparison d = compare2(both, base);
  ASSERT_EQ(d.vs.at(0).size(), 2u);
  ASSERT_EQ(d.notes.size(), 1u);
  EXPECT_EQ(d.notes[0], "not compared (in one file only): CPU 1 cold only in base.json");
}

TEST(Compare, TwoFilesPrintOneRowPerCell) {
  const std::vector<double> s = noisy(0.1766, 0.02, 30, 9);
  const Results base = results({{"CPU", 1, measured(s)}, {"CPU", 10, measured(scaled(s, 10))}, {"GPU", 1, reference_cell(30)}});
  const Results now = results({{"CPU", 1, measured(scaled(s, 1.6))}, {"CPU", 10, measured(scaled(s, 10))}, {"GPU", 1, reference_cell(30)}});
  const Comparison c = compare2(base, now);
  const std::string text = comparison_text(c);
  const std::string median = format_ms(c.vs[0][0].base_ms), slow = format_ms(c.vs[0][0].new_ms), ten = format_ms(c.vs[0][1].base_ms);
  std::ostringstream want;
  want << "BASE: base.json\nNEW:  new.json\n\n";
  // Widths: the numbers have 4 significant digits (6 characters here), the verdicts set the last column.
  ASSERT_EQ(median.size(), 6u) << median;
  ASSERT_EQ(slow.size(), 6u) << slow;
  ASSERT_EQ(ten.size(), 5u) << ten;
  want << "device  batch  base ms  new ms  ratio        p  verdict\n"
       << "CPU         1   " << median << "  " << slow << "  1.60x  <0.0001  slower, regression\n"
       << "CPU        10    " << ten << "   " << ten << "  1.00x   1.0000  same\n"
       << "GPU         1       30      30  1.00x        -  untested (reference cell)\n";
  EXPECT_THAT(text, ::testing::StartsWith(want.str()));
  EXPECT_THAT(text, HasSubstr("\nRegression: 1 cell(s) significantly slower by more than 5%\n"));
}

TEST(Compare, AFleetOfThreeFilesHasAColumnPerNewFile) {
  const std::vector<double> s = noisy(1.0, 0.05, 30, 10);
  const Results base = results({{"CPU", 1, measured(s)}, {"CPU", 10, measured(scaled(s, 5))}});
  const Results same = results({{"CPU", 1, measured(s)}, {"CPU", 10, measured(scaled(s, 5))}});
  const Results slow = results({{"CPU", 1, measured(scaled(s, 1.6))}});  // no batch 10
  const Comparison c = compare_results({{"base.json", base}, {"a.json", same}, {"b.json", slow}}, 5);
  ASSERT_EQ(c.files.size(), 3u);
  ASSERT_EQ(c.vs.size(), 2u);
  EXPECT_EQ(c.vs[0].size(), 2u);
  EXPECT_EQ(c.vs[1].size(), 1u);
  EXPECT_TRUE(c.regression);
  const std::string text = comparison_text(c);
  std::istringstream lines(text);
  std::string line;
  std::vector<std::string> all;
  while (std::getline(lines, line)) all.push_back(line);
  ASSERT_GE(all.size(), 5u) << text;
  EXPECT_EQ(all[0], "BASE: base.json");
  EXPECT_THAT(all[2], ::testing::MatchesRegex("device +batch +base ms +a\\.json +b\\.json"));
  EXPECT_THAT(all[3], ::testing::MatchesRegex("CPU +1 +[0-9.]+ +1\\.00x same +1\\.60x slower, regression"));
  EXPECT_THAT(all[4], ::testing::MatchesRegex("CPU +10 +[0-9.]+ +1\\.00x same +-"));
  EXPECT_THAT(text, Not(HasSubstr("new ms")));
  EXPECT_THAT(text, HasSubstr("Regression: 1 cell(s)"));
}

// The command end to end: exit 0 without a regression, 1 with one, 2 for a missing or malformed file.
class CompareCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("mlpbench_compare_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const std::vector<double> s = noisy(0.5, 0.03, 40, 21);
    write("base.json", results({{"CPU", 1, measured(s)}, {"CPU", 10, measured(scaled(s, 4))}}));
    write("same.json", results({{"CPU", 1, measured(s)}, {"CPU", 10, measured(scaled(s, 4))}}));
    write("slow.json", results({{"CPU", 1, measured(scaled(s, 1.6))}, {"CPU", 10, measured(scaled(s, 4))}}));
    std::ofstream(dir_ / "bad.json") << "{\"schema\": \"mlpbench/1\", \"cells\": ";
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const std::string& name, const Results& r) const { std::ofstream(dir_ / name) << dump_json(to_json(r)); }

  static std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  struct Outcome {
    int code;
    std::string out, err;
  };
  Outcome compare(const std::string& args) const {
    const std::string cmd = "cd '" + dir_.string() + "' && " + MLPBENCH_EXE + " compare " + args + " >stdout.txt 2>stderr.txt";
    const int status = std::system(cmd.c_str());
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir_ / "stdout.txt"), slurp(dir_ / "stderr.txt")};
  }

  fs::path dir_;
};

TEST_F(CompareCli, ExitCodes) {
  Outcome o = compare("base.json same.json");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("No regression."));

  o = compare("base.json slow.json");
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_THAT(o.out, HasSubstr("Regression: 1 cell(s) significantly slower by more than 5%"));
  EXPECT_EQ(compare("base.json slow.json --threshold 70").code, 0);
  EXPECT_EQ(compare("base.json same.json slow.json").code, 1) << "the fleet view regresses when any file does";

  o = compare("base.json missing.json");
  EXPECT_EQ(o.code, 2);
  EXPECT_THAT(o.err, HasSubstr("missing.json"));
  EXPECT_EQ(o.out, "");
  o = compare("base.json bad.json");
  EXPECT_EQ(o.code, 2);
  EXPECT_THAT(o.err, HasSubstr("bad.json"));
  EXPECT_EQ(compare("base.json").code, 2) << "one file is not a comparison";

  o = compare("base.json same.json --threshold -5");
  EXPECT_EQ(o.code, 2);
  EXPECT_EQ(o.err, "mlpbench: error: --threshold: -5 is negative: give a slowdown in percent, 0 or more (see mlpbench --help)\n");
  EXPECT_EQ(compare("base.json same.json --threshold x").err,
            "mlpbench: error: --threshold: x is not a number: give a slowdown in percent, 0 or more (see mlpbench --help)\n");
}

// Another model: exit 2, one line naming both files and what differs, nothing on stdout; with --allow-different-models
// exit 0 whatever the ratios, said before the table.
TEST_F(CompareCli, DifferentModelsAreRefusedUnlessAllowed) {
  Results big = results({{"CPU", 1, measured(scaled(noisy(0.5, 0.03, 40, 21), 225))}});
  big.model.layers = {784, 512, 512, 10};
  write("big.json", big);
  Outcome o = compare("base.json big.json");
  EXPECT_EQ(o.code, 2);
  EXPECT_EQ(o.err, "mlpbench: error: compare: base.json holds 784-512-10 at fp32 and big.json 784-512-512-10 at fp32: different models; "
                   "--allow-different-models compares them anyway\n");
  EXPECT_EQ(o.out, "");
  o = compare("base.json big.json --allow-different-models");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, ::testing::StartsWith("Different models (--allow-different-models)"));
  EXPECT_THAT(o.out, HasSubstr("slower"));
  o = compare("base.json big.json --allow-different-models --format md");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, ::testing::StartsWith("**Different models (--allow-different-models)"));
}

// The drift probe corrects CPU cells for the machine's own speed: a uniform slowdown the probe also saw is the
// machine, not the code; one cell slower while the probe held still is the code.
TEST(CompareDrift, AUniformMachineSlowdownIsTheSameAfterCorrectionAndOneSlowCellIsNot) {
  const std::vector<double> s1 = noisy(1.0, 0.03, 200, 21), s10 = noisy(5.0, 0.03, 200, 22);
  Results base = results({{"CPU", 1, measured(s1)}, {"CPU", 10, measured(s10)}});
  base.run.drift = drift_of({20.0, 20.1, 19.9});
  // Every cell 10% slower, and so is the probe.
  Results slower_machine = results({{"CPU", 1, measured(scaled(noisy(1.0, 0.03, 200, 23), 1.10))}, {"CPU", 10, measured(scaled(noisy(5.0, 0.03, 200, 24), 1.10))}});
  slower_machine.run.drift = drift_of({22.0, 22.1, 21.9});
  const Comparison machine = compare2(base, slower_machine);
  ASSERT_TRUE(machine.probe.at(0));
  EXPECT_NEAR(*machine.probe[0], 1.10, 1e-9);
  for (const CellChange& ch : machine.vs[0]) {
    EXPECT_NEAR(ch.ratio, 1.10, 0.03) << ch.batch;
    ASSERT_TRUE(ch.corrected);
    EXPECT_EQ(ch.verdict, Verdict::Same) << ch.batch << ": corrected " << *ch.corrected;
    EXPECT_FALSE(ch.regression);
  }
  EXPECT_THAT(machine.notes, ::testing::Contains(HasSubstr("the drift probe ran 1.100x as long")));
  const std::string text = comparison_text(machine);
  EXPECT_THAT(text, HasSubstr("corrected"));
  EXPECT_THAT(text, HasSubstr("1.10x"));  // the raw ratio is still printed
  // One cell 10% slower, the probe unchanged: slower, a regression.
  Results one_slow = results({{"CPU", 1, measured(scaled(noisy(1.0, 0.03, 200, 25), 1.10))}, {"CPU", 10, measured(noisy(5.0, 0.03, 200, 26))}});
  one_slow.run.drift = drift_of({20.0, 20.05, 19.95});
  const Comparison code = compare2(base, one_slow);
  ASSERT_EQ(code.vs[0].size(), 2u);
  EXPECT_EQ(code.vs[0][0].verdict, Verdict::Slower);
  EXPECT_TRUE(code.vs[0][0].regression);
  EXPECT_EQ(code.vs[0][1].verdict, Verdict::Same);
  // Without the probe in both files: no correction, the raw ratio decides.
  Results no_probe = slower_machine;
  no_probe.run.drift.reset();
  const Comparison raw = compare2(base, no_probe);
  EXPECT_FALSE(raw.probe[0]);
  EXPECT_FALSE(raw.vs[0][0].corrected);
  EXPECT_EQ(raw.vs[0][0].verdict, Verdict::Slower);
}

TEST(CompareDrift, GpuCellsAreNotCorrectedByACpuProbe) {
  const std::vector<double> s = noisy(0.01, 0.03, 100, 31);
  Results base = results({{"GPU", 1, measured(s)}});
  base.run.drift = drift_of({20.0});
  Results now = results({{"GPU", 1, measured(s)}});
  now.run.drift = drift_of({30.0});
  const Comparison c = compare2(base, now);
  EXPECT_FALSE(c.vs[0][0].corrected);
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Same);
}
