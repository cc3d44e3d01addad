// mlpbench compare: the Mann-Whitney U test against scipy on round medians (pooled samples for old files), verdicts
// and regressions on synthetic runs, the drift correction and when it applies, a history of baselines,
// notes on files that differ, the fleet view, and the command's exit codes end to end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
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

// A measured cell as files from before round medians were stored hold it: samples only.
Cell pooled_only(std::vector<double> samples_ms) {
  Cell c;
  c.source = Source::Measured;
  c.backend = "eigen";
  c.stats = summarize(std::move(samples_ms), 1);
  return c;
}

// A measured cell as a run writes it: its samples, and round_medians_ms the medians of `rounds` equal slices of them
// in order (none with fewer samples than rounds).
Cell measured(const std::vector<double>& samples_ms, int rounds = 6) {
  Cell c = pooled_only(samples_ms);
  const std::size_t per = samples_ms.size() / static_cast<std::size_t>(rounds);
  for (int r = 0; per > 0 && r < rounds; ++r) {
    const auto first = samples_ms.begin() + static_cast<std::ptrdiff_t>(static_cast<std::size_t>(r) * per);
    c.stats.round_medians_ms.push_back(median_of({first, first + static_cast<std::ptrdiff_t>(per)}));
  }
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

// A cell whose rounds sat at the given medians, each round 50 samples tightly around its median (cv 0.2%).
Cell rounds_at(const std::vector<double>& medians_ms, unsigned seed) {
  std::vector<double> samples;
  for (std::size_t r = 0; r < medians_ms.size(); ++r) {
    for (double v : noisy(medians_ms[r], 0.002, 50, seed + static_cast<unsigned>(r))) samples.push_back(v);
  }
  Cell c = pooled_only(samples);
  c.stats.round_medians_ms = medians_ms;
  return c;
}

Comparison compare2(const Results& base, const Results& now, double threshold = 5, bool drift_correction = true) {
  CompareOptions o;
  o.threshold_pct = threshold;
  o.drift_correction = drift_correction;
  return compare_results({{"base.json", base}, {"new.json", now}}, o);
}

CompareOptions allowing_different_models() {
  CompareOptions o;
  o.allow_different_models = true;
  return o;
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
  EXPECT_NEAR(*ch.p, 2.0 / 924, 1e-12) << "6 rounds a side, every one slower: the exact test's smallest p";
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
  slow.stats.round_medians_ms.clear();
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
  EXPECT_THAT(input_error([&] { compare_results({{"base.json", base}, {"a.json", base}, {"b.json", seed}}); }),
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
  const Comparison c = compare_results({{"small.json", small}, {"big.json", big}}, allowing_different_models());
  ASSERT_EQ(c.vs.at(0).size(), 1u);
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Slower);
  EXPECT_FALSE(c.vs[0][0].regression);
  EXPECT_FALSE(c.regression);
  EXPECT_THAT(c.model_differences, ::testing::ElementsAre("small.json holds 784-512-10 at fp32 and big.json 784-512-512-10 at fp32: different models"));
  const std::string text = comparison_text(c);
  EXPECT_THAT(text, ::testing::StartsWith("Different models (--allow-different-models): the ratios compare different work, and no cell of "
                                          "big.json counts as a regression.\n\n  small.json holds 784-512-10 at fp32 and big.json "
                                          "784-512-512-10 at fp32: different models\n\nBASE: small.json\n"));
  EXPECT_THAT(text, HasSubstr("225x  0.0022  slower\n"));
  EXPECT_THAT(text, Not(HasSubstr("regression\n")));
  EXPECT_THAT(text, HasSubstr("\nNo regression judged: the files hold different models.\n"));
  const std::string md = comparison_markdown(c);
  EXPECT_THAT(md, ::testing::StartsWith("**Different models (--allow-different-models): the ratios compare different work, and no cell of "
                                        "`big.json` counts as a regression.**\n\n- small.json holds 784-512-10 at fp32 and big.json"));
  EXPECT_THAT(md, Not(HasSubstr("**No regression")));
  // The same model with the flag: judged as ever.
  const Comparison same = compare_results({{"small.json", small}, {"slow.json", results({{"CPU", 1, measured(scaled(s, 1.6))}})}}, allowing_different_models());
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
  want << "device  batch  base ms  new ms  ratio       p  verdict\n"
       << "CPU         1   " << median << "  " << slow << "  1.60x  0.0022  slower, regression\n"
       << "CPU        10    " << ten << "   " << ten << "  1.00x  1.0000  same\n"
       << "GPU         1       30      30  1.00x       -  untested (reference cell)\n";
  EXPECT_THAT(text, ::testing::StartsWith(want.str()));
  EXPECT_THAT(text, HasSubstr("\nRegression: 1 cell(s) significantly slower by more than 5%\n"));
}

TEST(Compare, AFleetOfThreeFilesHasAColumnPerNewFile) {
  const std::vector<double> s = noisy(1.0, 0.05, 30, 10);
  const Results base = results({{"CPU", 1, measured(s)}, {"CPU", 10, measured(scaled(s, 5))}});
  const Results same = results({{"CPU", 1, measured(s)}, {"CPU", 10, measured(scaled(s, 5))}});
  const Results slow = results({{"CPU", 1, measured(scaled(s, 1.6))}});  // no batch 10
  const Comparison c = compare_results({{"base.json", base}, {"a.json", same}, {"b.json", slow}});
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

// --baseline: one file compares as BASE; two or more (a quoted glob, the NEW file among them left out) as a history.
TEST_F(CompareCli, BaselinesAsAHistory) {
  Outcome o = compare("--baseline base.json slow.json");
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_THAT(o.out, HasSubstr("Regression: 1 cell(s) significantly slower"));
  fs::create_directories(dir_ / "hist");
  const std::vector<double> s = noisy(0.5, 0.03, 40, 21);
  for (int i = 0; i < 4; ++i) {
    const double k = 1 + 0.01 * (i - 1.5);
    write("hist/h" + std::to_string(i) + ".json", results({{"CPU", 1, measured(scaled(s, k))}, {"CPU", 10, measured(scaled(s, 4 * k))}}));
  }
  o = compare("--baseline 'hist/*.json' same.json");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, ::testing::StartsWith("BASELINES: 4 runs, hist/h0.json ... hist/h3.json\n"));
  EXPECT_THAT(o.out, HasSubstr("No regression (against 4 baseline runs)."));
  o = compare("--baseline 'hist/*.json' slow.json --format md");
  EXPECT_EQ(o.code, 1) << o.err;
  EXPECT_THAT(o.out, ::testing::StartsWith("**Regression (against 4 baseline runs): 1 cell(s)"));
  // The new run inside the glob is no baseline of itself: 3 remain.
  o = compare("--baseline 'hist/*.json' hist/h3.json");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, ::testing::StartsWith("BASELINES: 3 runs"));
  o = compare("--baseline 'none/*.json' same.json");
  EXPECT_EQ(o.code, 2);
  EXPECT_EQ(o.err, "mlpbench: error: compare: --baseline 'none/*.json' matches no file\n");
  o = compare("--baseline 'hist/*.json' same.json slow.json");
  EXPECT_EQ(o.code, 2);
  EXPECT_EQ(o.err, "mlpbench: error: compare: with --baseline, give one NEW results file (2 given)\n");
  EXPECT_EQ(o.out, "");
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
  base.run.drift = drift_of({20.0, 20.1, 19.9, 20.05, 19.95, 20.02});
  // Every cell 10% slower, and so is the probe, in every round (a significant change of its own).
  Results slower_machine = results({{"CPU", 1, measured(scaled(noisy(1.0, 0.03, 200, 23), 1.10))}, {"CPU", 10, measured(scaled(noisy(5.0, 0.03, 200, 24), 1.10))}});
  slower_machine.run.drift = drift_of({22.0, 22.11, 21.89, 22.055, 21.945, 22.022});
  const Comparison machine = compare2(base, slower_machine);
  ASSERT_TRUE(machine.probe.at(0));
  EXPECT_NEAR(*machine.probe[0], 1.10, 1e-9);
  for (const CellChange& ch : machine.vs[0]) {
    EXPECT_NEAR(ch.ratio, 1.10, 0.03) << ch.batch;
    ASSERT_TRUE(ch.corrected);
    EXPECT_EQ(ch.verdict, Verdict::Same) << ch.batch << ": corrected " << *ch.corrected;
    EXPECT_FALSE(ch.regression);
  }
  EXPECT_THAT(machine.notes, ::testing::Contains(HasSubstr("the drift probe ran 1.100x as long as in base.json (the machine's own speed), a significant change (p = 0.0022)")));
  const std::string text = comparison_text(machine);
  EXPECT_THAT(text, HasSubstr("corrected"));
  EXPECT_THAT(text, HasSubstr("1.10x"));  // the raw ratio is still printed
  // One cell 10% slower, the probe unchanged: slower, a regression.
  Results one_slow = results({{"CPU", 1, measured(scaled(noisy(1.0, 0.03, 200, 25), 1.10))}, {"CPU", 10, measured(noisy(5.0, 0.03, 200, 26))}});
  one_slow.run.drift = drift_of({20.0, 20.05, 19.95, 20.1, 19.9, 20.03});
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

// Rounds are the unit of evidence: with round medians on both sides the U test takes them (scipy's exact test for
// 6 against 6, no ties), not the pooled samples, whose thousands of values share a few states of the machine.
TEST(CompareRounds, RoundMediansAreTestedAsScipyDoes) {
  // scipy.stats.mannwhitneyu(a, b, alternative='two-sided') = (8.0, 0.13203463203463203)
  const Cell a = rounds_at({1.00, 1.02, 0.99, 1.01, 1.03, 0.98}, 1), b = rounds_at({1.035, 1.06, 0.985, 1.05, 1.005, 1.07}, 11);
  const auto exact = mann_whitney(a.stats.round_medians_ms, b.stats.round_medians_ms);
  ASSERT_TRUE(exact);
  EXPECT_TRUE(exact->exact);
  EXPECT_DOUBLE_EQ(exact->u, 8.0);
  EXPECT_NEAR(exact->p, 0.13203463203463203, 1e-12);
  const Comparison c = compare2(cpu1(a), cpu1(b), 2);
  const CellChange& ch = c.vs.at(0).at(0);
  EXPECT_FALSE(ch.pooled);
  ASSERT_TRUE(ch.p);
  EXPECT_NEAR(*ch.p, 0.13203463203463203, 1e-12);
  EXPECT_EQ(ch.verdict, Verdict::Same) << "3% apart, beyond the 2% threshold, but not significant over the rounds";
  // The pooled samples of the same cells (600 values) call the same 3% significant: the false alarm issue 19 saw.
  const auto pooled = mann_whitney(a.stats.samples_ms, b.stats.samples_ms);
  EXPECT_LT(pooled->p, 1e-6);
  EXPECT_THAT(c.notes, Not(::testing::Contains(HasSubstr("pooled"))));
  // Every round 10% slower: the smallest p 6 rounds a side can give, 2/924, and a regression.
  const Comparison slow = compare2(cpu1(a), cpu1(rounds_at({1.10, 1.122, 1.089, 1.111, 1.133, 1.078}, 21)));
  EXPECT_NEAR(*slow.vs[0][0].p, 2.0 / 924, 1e-12);
  EXPECT_EQ(slow.vs[0][0].verdict, Verdict::Slower);
  EXPECT_TRUE(slow.regression);
}

// A file from before round medians were stored is still compared, on pooled samples, and a note says so.
TEST(CompareRounds, AnOldFileIsTestedOnPooledSamplesWithANote) {
  const std::vector<double> s = noisy(1.0, 0.03, 60, 5);
  const Comparison c = compare2(cpu1(pooled_only(s)), cpu1(measured(scaled(s, 1.5))));
  EXPECT_TRUE(c.vs[0][0].pooled);
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Slower);
  EXPECT_THAT(comparison_text(c), HasSubstr("Note: tested on pooled samples: CPU 1 (base.json or new.json has no round medians: a file from before "
                                            "they were stored); the samples of one run share one state of the machine, so their p-values overstate "
                                            "significance\n"));
  EXPECT_FALSE(compare2(cpu1(measured(s)), cpu1(measured(scaled(s, 1.5)))).vs[0][0].pooled);
}

// The probe corrects only where its own change is significant. Here one of its six rounds ran while another
// process loaded the machine (1.9x, as the 33.9 against 17.8 ms of issue 19), the others as before: no
// significant change, no correction, and the cells, equal to 1%, are the same.
TEST(CompareDrift, AProbeLoadedInOneRoundCorrectsNothing) {
  Results base = cpu1(rounds_at({0.01582, 0.01585, 0.01580, 0.01583, 0.01579, 0.01584}, 1));
  base.run.drift = drift_of({0.0500, 0.0502, 0.0499, 0.0501, 0.0503, 0.0498});
  Results now = cpu1(rounds_at({0.01578, 0.01581, 0.01577, 0.01582, 0.01576, 0.01580}, 11));
  now.run.drift = drift_of({0.0501, 0.0950, 0.0500, 0.0502, 0.0499, 0.0504});
  const Comparison c = compare2(base, now);
  EXPECT_FALSE(c.probe.at(0));
  EXPECT_FALSE(c.vs[0][0].corrected);
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Same);
  EXPECT_FALSE(c.regression);
  EXPECT_THAT(c.notes, ::testing::Contains(HasSubstr("not a significant change (p = ")));
  EXPECT_THAT(c.notes, ::testing::Contains(HasSubstr("U test on its round medians): not corrected for")));
}

// A probe of the old kind (version 1: one long pass per round) never corrects; --no-drift-correction turns a
// significant one off; where the correction changes a verdict, the uncorrected one is printed beside it.
TEST(CompareDrift, OldProbesAndTheSwitchTurnTheCorrectionOffAndDisagreementIsShown) {
  const Cell fast = rounds_at({1.00, 1.02, 0.99, 1.01, 1.03, 0.98}, 1), slow = rounds_at({1.20, 1.224, 1.188, 1.212, 1.236, 1.176}, 11);
  Results base = cpu1(fast), now = cpu1(slow);
  base.run.drift = drift_of({20.0, 20.1, 19.9, 20.05, 19.95, 20.02});
  now.run.drift = drift_of({24.0, 24.12, 23.88, 24.06, 23.94, 24.024});  // the machine 1.2x slower, every round
  Comparison c = compare2(base, now);
  ASSERT_TRUE(c.probe.at(0));
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Same);
  EXPECT_EQ(c.vs[0][0].uncorrected, Verdict::Slower);
  EXPECT_FALSE(c.regression);
  EXPECT_THAT(comparison_text(c), HasSubstr("same (uncorrected: slower)"));

  c = compare2(base, now, 5, /*drift_correction=*/false);
  EXPECT_FALSE(c.probe.at(0));
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Slower);
  EXPECT_TRUE(c.regression);
  EXPECT_THAT(c.notes, ::testing::Contains(HasSubstr("not corrected for (--no-drift-correction)")));

  now.run.drift->version = 1;  // a file written before the probe of short samples
  c = compare2(base, now);
  EXPECT_FALSE(c.probe.at(0));
  EXPECT_EQ(c.vs[0][0].verdict, Verdict::Slower);
  EXPECT_THAT(c.notes, ::testing::Contains(HasSubstr("not corrected for: new.json has the old probe")));
  // And the version survives the file: absent reads as 1, drift_of writes 2.
  Results round_trip = parse_results_text(dump_json(to_json(base)), "base.json");
  ASSERT_TRUE(round_trip.run.drift);
  EXPECT_EQ(round_trip.run.drift->version, 2);
  Json old = to_json(base);
  old["run"]["drift"].erase("version");
  EXPECT_EQ(parse_results_text(dump_json(old), "old.json").run.drift->version, 1);
}

namespace {

// n runs of one CPU cell at batch 1 and 10 whose medians spread by about `spread` from run to run.
std::vector<std::pair<std::string, Results>> history(int n, double spread, unsigned seed) {
  std::vector<std::pair<std::string, Results>> runs;
  const std::vector<double> m1 = noisy(1.0, spread, n, seed), m10 = noisy(4.0, spread, n, seed + 1);
  for (int i = 0; i < n; ++i) {
    const double k1 = m1[static_cast<std::size_t>(i)], k10 = m10[static_cast<std::size_t>(i)];
    runs.emplace_back("run" + std::to_string(i) + ".json",
                      results({{"CPU", 1, rounds_at({k1, k1 * 1.002, k1 * 0.998, k1 * 1.001, k1 * 0.999}, seed + 10u * i)},
                               {"CPU", 10, rounds_at({k10, k10 * 1.002, k10 * 0.998, k10 * 1.001, k10 * 0.999}, seed + 10u * i + 5)}}));
  }
  return runs;
}

}  // namespace

// Against a history the spread between runs decides: a new run inside it is the same whatever its own rounds say;
// one outside it by several spreads and beyond the threshold is slower, a regression.
TEST(CompareHistory, InsideTheSpreadIsTheSameOutsideAndBeyondTheThresholdIsSlower) {
  const auto runs = history(10, 0.03, 100);  // medians 3% apart from run to run
  std::vector<double> m1;
  for (const auto& r : runs) m1.push_back(r.second.table.cells.at("CPU").at(1).median_ms());
  const HistoryBand band = history_band(m1, 1.0);
  // A run 4% above the history's centre: beyond the 2% threshold, but inside a spread of 3% between runs.
  const double c1 = band.center_ms;
  const Results inside = results({{"CPU", 1, rounds_at({c1 * 1.04, c1 * 1.041, c1 * 1.039, c1 * 1.04, c1 * 1.042}, 7)}});
  CompareOptions o;
  o.threshold_pct = 2;
  HistoryComparison h = compare_history(runs, {"new.json", inside}, o);
  ASSERT_EQ(h.cells.size(), 1u);
  EXPECT_EQ(h.cells[0].band.runs, 10);
  EXPECT_FALSE(h.cells[0].band.outside);
  EXPECT_EQ(h.cells[0].verdict, Verdict::Same);
  EXPECT_FALSE(h.regression);
  // Three spreads above (~1.09x with s = 3%): outside the band, beyond the threshold.
  const double k = std::exp(3 * 0.03) * c1;
  const Results outside = results({{"CPU", 1, rounds_at({k, k, k, k, k}, 8)}, {"CPU", 10, runs[0].second.table.cells.at("CPU").at(10)}});
  h = compare_history(runs, {"new.json", outside}, o);
  ASSERT_EQ(h.cells.size(), 2u);
  EXPECT_TRUE(h.cells[0].band.outside);
  EXPECT_EQ(h.cells[0].verdict, Verdict::Slower);
  EXPECT_TRUE(h.cells[0].regression);
  EXPECT_EQ(h.cells[1].verdict, Verdict::Same);
  EXPECT_TRUE(h.regression);
  const std::string text = history_text(h);
  EXPECT_THAT(text, HasSubstr("BASELINES: 10 runs, run0.json ... run9.json\nNEW:       new.json\n"));
  EXPECT_THAT(text, HasSubstr("slower, regression"));
  EXPECT_THAT(text, HasSubstr("Regression (against 10 baseline runs): 1 cell(s) outside the history's band and slower by more than 2%\n"));
  EXPECT_THAT(history_markdown(h), ::testing::StartsWith("**Regression (against 10 baseline runs): 1 cell(s)"));
  // Outside, but within a threshold of 20%: the same.
  o.threshold_pct = 20;
  EXPECT_FALSE(compare_history(runs, {"new.json", outside}, o).regression);
}

// A cell fewer than two baselines measured is not judged, a note says so; baselines of another model are refused.
TEST(CompareHistory, ThinCellsAreUntestedAndAnotherModelIsRefused) {
  auto runs = history(3, 0.02, 200);
  runs[0].second.table.cells.at("CPU").erase(10);
  runs[1].second.table.cells.at("CPU").erase(10);
  const HistoryComparison h = compare_history(runs, {"new.json", runs[2].second});
  EXPECT_EQ(h.cells.at(1).verdict, Verdict::Untested);
  EXPECT_THAT(h.notes, ::testing::Contains("not judged (fewer than two baselines measured them): CPU 10"));
  EXPECT_THAT(history_text(h), HasSubstr("untested (1 baseline run)"));
  Results big = runs[2].second;
  big.model.layers = {784, 563, 512, 10};
  EXPECT_THAT(input_error([&] { compare_history(runs, {"big.json", big}); }),
              HasSubstr("compare: run0.json holds 784-512-10 at fp32 and big.json 784-563-512-10 at fp32: different models; "
                        "--allow-different-models compares them anyway"));
  // Allowed, a slower model is called slower where it is, said first, and never a regression.
  Results slow_big = big;
  for (auto& [batch, cell] : slow_big.table.cells.at("CPU")) cell = rounds_at(std::vector<double>(5, cell.median_ms() * 1.5), 9);
  CompareOptions allow;
  allow.allow_different_models = true;
  const HistoryComparison d = compare_history(runs, {"big.json", slow_big}, allow);
  EXPECT_EQ(d.cells.at(0).verdict, Verdict::Slower);
  EXPECT_FALSE(d.regression);
  EXPECT_THAT(history_text(d), ::testing::StartsWith("Different models (--allow-different-models)"));
  EXPECT_THAT(history_text(d), HasSubstr("No regression judged (against 3 baseline runs): the files hold different models."));
  EXPECT_THAT(input_error([&] { compare_history({runs[0]}, {"new.json", runs[1].second}); }), HasSubstr("at least two --baseline files"));
}

// A baseline that ran while the machine was 1.2x slower (its drift probe too, in every round) is scaled back to the
// new run's speed before the band is drawn; a note names it. With the correction off, it widens the band instead.
TEST(CompareHistory, ABaselineOnASlowerMachineIsScaledByItsProbe) {
  auto runs = history(4, 0.01, 300);
  const std::vector<double> probe = {0.0500, 0.0502, 0.0499, 0.0501, 0.0503, 0.0498};
  for (auto& [name, r] : runs) r.run.drift = drift_of(probe);
  auto& [slow_name, slow] = runs[3];
  for (auto& [batch, cell] : slow.table.cells.at("CPU")) cell = rounds_at(std::vector<double>(5, cell.median_ms() * 1.2), 3);
  std::vector<double> loaded = probe;
  for (double& v : loaded) v *= 1.2;
  slow.run.drift = drift_of(loaded);
  Results now = runs[0].second;
  now.run.drift = drift_of(probe);
  const HistoryComparison h = compare_history(runs, {"new.json", now});
  EXPECT_THAT(h.notes, ::testing::Contains("CPU medians scaled by the drift probe's ratio new.json/baseline, where that change is significant: run3.json 0.833x"));
  CompareOptions off;
  off.drift_correction = false;
  const HistoryComparison raw = compare_history(runs, {"new.json", now}, off);
  EXPECT_LT(h.cells.at(0).band.half_rel, raw.cells.at(0).band.half_rel / 3) << "scaled, the slow baseline no longer widens the band";
}

// Emulated cells (a CUDA emulator) hold no time: never compared, never a regression, and a note names them per file.
TEST(Compare, EmulatedCellsAreLeftOutWithANote) {
  using mlpbench::testing::emulated_test_cell;
  const std::vector<double> s = noisy(1.0, 0.05, 30, 7);
  const Results base = results({{"CPU", 1, measured(s)}, {"GPU", 1, emulated_test_cell()}, {"GPU", 10, emulated_test_cell()}});
  const Results now = results({{"CPU", 1, measured(s)}, {"GPU", 1, emulated_test_cell()}});
  const Comparison c = compare2(base, now);
  ASSERT_EQ(c.vs.at(0).size(), 1u) << "the CPU cell only";
  EXPECT_EQ(c.vs[0][0].device, "CPU");
  EXPECT_FALSE(c.regression);
  EXPECT_THAT(c.notes, ::testing::Contains("not compared (emulated: run on a CUDA emulator, they hold no time): GPU 1, GPU 10 in base.json; GPU 1 in new.json"));
  EXPECT_THAT(c.notes, ::testing::Not(::testing::Contains(HasSubstr("in one file only"))));
  EXPECT_THAT(comparison_text(c), HasSubstr("Note: not compared (emulated"));

  // Against a history: the emulated cell of the new run is no row, and the note names it.
  const HistoryComparison h = compare_history({{"a.json", base}, {"b.json", base}}, {"new.json", now}, CompareOptions{});
  for (const HistoryChange& ch : h.cells) EXPECT_EQ(ch.device, "CPU");
  EXPECT_FALSE(h.regression);
  EXPECT_THAT(h.notes, ::testing::Contains(HasSubstr("GPU 1 in new.json")));
}

// ---- under load (serving) ----

namespace {

using mlpbench::testing::serving_run;

// One cell, and a CPU searched (tolerance 5%) up to best_cpu (its step there met the bound), the GPU simulated up to best_gpu.
Results served(double best_cpu, double best_gpu = 1.9e6, const std::string& gpu_source = "simulated") {
  const std::vector<double> s = noisy(0.5, 0.03, 40, 21);
  Results r = results({{"CPU", 1, measured(s)}});
  Serving sv;
  sv.runs.push_back(serving_run("CPU", "measured", {{1000, 0.2}, {2000, 0.3}, {best_cpu, 0.9}, {best_cpu * 1.04, 1.2}}, sv.config));
  sv.runs.push_back(serving_run("GPU", gpu_source, {{1000, 0.05}, {best_gpu, 0.7}}, sv.config, "streams=1"));
  r.serving = sv;
  return r;
}

const ServingChange& serving_row(const Comparison& c, const std::string& device) {
  const auto& rows = c.serving.at(0);
  const auto it = std::find_if(rows.begin(), rows.end(), [&](const ServingChange& x) { return x.device == device; });
  if (it == rows.end()) throw std::runtime_error("no serving row for " + device);
  return *it;
}

}  // namespace

TEST(CompareServing, ALowerBestRateBeyondNoiseIsARegression) {
  const Comparison c = compare_results({{"base.json", served(51000)}, {"new.json", served(40000)}});  // 0.78x, beyond 5% + 5%
  const ServingChange& cpu = serving_row(c, "CPU");
  EXPECT_EQ(cpu.run, "eigen-omp [workers=1,threads=1]");
  EXPECT_DOUBLE_EQ(cpu.ratio, 40000.0 / 51000);
  EXPECT_DOUBLE_EQ(cpu.noise, 0.10);
  EXPECT_EQ(cpu.verdict, Verdict::Slower);
  EXPECT_TRUE(cpu.regression);
  EXPECT_TRUE(c.regression);
  EXPECT_DOUBLE_EQ(cpu.at_qps, 2000) << "the highest rate both met the bound at";
  EXPECT_DOUBLE_EQ(cpu.base_p99_ms, 0.3);
  const std::string text = comparison_text(c);
  EXPECT_THAT(text, HasSubstr("Under load: the best rate with p99 <= 1 ms:"));
  EXPECT_THAT(text, HasSubstr("CPU     eigen-omp [workers=1,threads=1]           51k/s   40k/s  0.78x  +-10%    2k/s          0.3         0.3  slower, regression\n"));
  EXPECT_THAT(text, HasSubstr("Regression: 1 best rate(s) under load lower beyond noise"));
  EXPECT_THAT(comparison_markdown(c), HasSubstr("| CPU | eigen-omp [workers=1,threads=1] | 51k/s | 40k/s | 0.78x |"));
}

TEST(CompareServing, WithinNoiseOrHigherIsNoRegression) {
  Comparison c = compare_results({{"base.json", served(51000)}, {"new.json", served(47000)}});  // 0.92x: within 10%
  EXPECT_EQ(serving_row(c, "CPU").verdict, Verdict::Same);
  EXPECT_FALSE(c.regression);
  EXPECT_THAT(comparison_text(c), HasSubstr("No regression."));
  c = compare_results({{"base.json", served(51000)}, {"new.json", served(80000)}});
  EXPECT_EQ(serving_row(c, "CPU").verdict, Verdict::Faster);
  EXPECT_FALSE(c.regression);
}

TEST(CompareServing, SimulatedRunsAndOtherBoundsAreShownNotJudged) {
  Comparison c = compare_results({{"base.json", served(51000, 1.9e6)}, {"new.json", served(51000, 0.2e6)}});
  EXPECT_EQ(serving_row(c, "GPU").verdict, Verdict::Untested);
  EXPECT_EQ(serving_row(c, "GPU").why_untested, "simulated");
  EXPECT_FALSE(c.regression) << "a simulated rate is no measurement";
  Results other = served(20000);
  other.serving->config.slo_ms = 2;
  for (ServingRun& r : other.serving->runs) r.search.config.slo_ms = 2;
  c = compare_results({{"base.json", served(51000)}, {"new.json", other}});
  EXPECT_EQ(serving_row(c, "CPU").why_untested, "bound 1 ms against 2 ms");
  EXPECT_FALSE(c.regression);
  Results interrupted = served(20000);
  interrupted.serving->runs[0].search.interrupted = true;
  EXPECT_FALSE(compare_results({{"base.json", served(51000)}, {"new.json", interrupted}}).regression);
}

TEST(CompareServing, MeasuredGpuRatesAreJudgedAndRunsInOneFileOnlyNoted) {
  const Comparison c = compare_results({{"base.json", served(51000, 1.9e6, "measured")}, {"new.json", served(51000, 1.0e6, "measured")}});
  EXPECT_TRUE(serving_row(c, "GPU").regression);
  Results fewer = served(51000);
  fewer.serving->runs.pop_back();
  const Comparison d = compare_results({{"base.json", served(51000)}, {"new.json", fewer}});
  EXPECT_THAT(d.notes, ::testing::Contains(HasSubstr("not compared under load (in one file only): GPU cuda-gemv+graph [streams=1] (simulated, BASE only)")));
  Results none = served(51000);
  none.serving.reset();
  const Comparison e = compare_results({{"base.json", served(51000)}, {"new.json", none}});
  EXPECT_THAT(e.notes, ::testing::Contains("not compared under load: new.json has no serving section"));
  EXPECT_TRUE(e.serving.at(0).empty());
}

TEST_F(CompareCli, ALowerBestRateUnderLoadExitsOne) {
  write("served.json", served(51000));
  write("served-slow.json", served(40000));
  write("served-same.json", served(49000));
  Outcome o = compare("served.json served-slow.json");
  EXPECT_EQ(o.code, 1) << o.err << o.out;
  EXPECT_THAT(o.out, HasSubstr("Regression: 1 best rate(s) under load lower beyond noise"));
  o = compare("served.json served-same.json");
  EXPECT_EQ(o.code, 0) << o.err << o.out;
}
