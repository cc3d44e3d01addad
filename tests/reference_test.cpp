// Reference tables from measured runs: the newest measured cell per device and batch size, each keeping where
// and when it was measured; refused for runs of different models or precisions, or without a measured cell.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mlpbench/errors.hpp"
#include "mlpbench/reference.hpp"
#include "test_util.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;

namespace {

Cell measured(double ms, const std::string& backend) {
  Cell c;
  c.source = Source::Measured;
  c.backend = backend;
  c.stats = summarize({ms, ms * 1.01, ms * 0.99}, 1);
  return c;
}

Results run(const std::string& date, const std::string& gpu, std::vector<std::tuple<std::string, int, double>> cells) {
  Results r;
  r.model.layers = {784, 512, 512, 10};
  r.machine.cpu = "AMD EPYC";
  r.machine.gpu_recorded = true;
  if (!gpu.empty()) r.machine.gpu = GpuInfo{gpu, "13.0", "13.0", Json::object()};
  r.build.git_commit = "commit-of-" + date;
  r.run.started_utc = date;
  r.run.precision = "fp32";
  for (const auto& [device, batch, ms] : cells) r.table.set(device, batch, measured(ms, device == "GPU" ? "cuda-gemv" : "eigen"));
  r.table.set("GPU", 1000, mlpbench::testing::reference_cell(30));  // a reference cell is never promoted
  return r;
}

}  // namespace

TEST(Reference, OneRunBecomesItsOwnReferenceWithProvenance) {
  const Results ref = make_reference({{"h200.json", run("2026-11-29T12:00:00Z", "NVIDIA H200", {{"GPU", 1, 0.01}, {"GPU", 10, 0.012}, {"CPU", 1, 0.02}})}});
  EXPECT_EQ(ref.model.layers, (std::vector<int>{784, 512, 512, 10}));
  EXPECT_EQ(ref.run.precision, "fp32");
  EXPECT_FALSE(ref.table.find("GPU", 1000)) << "reference cells are not measurements";
  const Cell* g = ref.table.find("GPU", 10);
  ASSERT_NE(g, nullptr);
  EXPECT_EQ(g->source, Source::Reference);
  EXPECT_EQ(g->backend, "cuda-gemv");
  EXPECT_EQ(g->median_ms(), 0.012);
  EXPECT_EQ(g->reference_file, "h200.json");
  EXPECT_EQ(g->provenance.kind, "measured");
  EXPECT_EQ(g->provenance.machine, "NVIDIA H200");
  EXPECT_EQ(g->provenance.commit, "commit-of-2026-11-29T12:00:00Z");
  EXPECT_EQ(g->provenance.date, "2026-11-29T12:00:00Z");
  EXPECT_EQ(ref.table.find("CPU", 1)->provenance.machine, "AMD EPYC");
  EXPECT_THAT(ref.note, HasSubstr("measured runs (h200.json)"));
}

TEST(Reference, TwoRunsGiveTheNewestCellOfEachDeviceAndBatch) {
  const Results older = run("2026-11-01T00:00:00Z", "NVIDIA H100", {{"GPU", 1, 0.02}, {"GPU", 10, 0.03}, {"CPU", 1, 0.05}});
  const Results newer = run("2026-11-29T00:00:00Z", "NVIDIA H200", {{"GPU", 1, 0.01}, {"CPU", 100, 0.5}});
  for (const auto& runs : {std::vector<std::pair<std::string, Results>>{{"old.json", older}, {"new.json", newer}},
                           std::vector<std::pair<std::string, Results>>{{"new.json", newer}, {"old.json", older}}}) {
    const Results ref = make_reference(runs);
    EXPECT_EQ(ref.table.find("GPU", 1)->median_ms(), 0.01) << "the newer run wins, whatever the order";
    EXPECT_EQ(ref.table.find("GPU", 1)->provenance.machine, "NVIDIA H200");
    EXPECT_EQ(ref.table.find("GPU", 10)->reference_file, "old.json") << "only the older run has it";
    EXPECT_EQ(ref.table.find("CPU", 100)->reference_file, "new.json");
    EXPECT_EQ(ref.table.batch_sizes, (std::vector<int>{1, 10, 100}));
  }
}

TEST(Reference, RefusesOtherModelsOtherPrecisionsAndRunsWithNothingMeasured) {
  Results a = run("2026-11-29T00:00:00Z", "NVIDIA H200", {{"GPU", 1, 0.01}});
  Results b = a;
  b.model.layers = {20, 64, 33, 5};
  EXPECT_THAT(mlpbench::testing::input_error([&] { make_reference({{"a.json", a}, {"b.json", b}}); }),
              HasSubstr("b.json ran 20,64,33,5 but a.json ran 784,512,512,10: a reference table holds one model"));
  Results c = a;
  c.run.precision = "bf16";
  EXPECT_THAT(mlpbench::testing::input_error([&] { make_reference({{"a.json", a}, {"c.json", c}}); }), HasSubstr("one precision"));
  Results empty;
  empty.table.set("GPU", 1, mlpbench::testing::reference_cell(30));
  EXPECT_THAT(mlpbench::testing::input_error([&] { make_reference({{"e.json", empty}}); }), HasSubstr("no measured cell"));
  EXPECT_THROW(make_reference({}), InputError);
}

// A reference stands in for hot cells: a run whose headline cells are cold (--cache cold) is refused, and a
// --cache both run gives its hot cells only.
TEST(Reference, HoldsHotNumbersOnly) {
  Results cold = run("2026-11-29T00:00:00Z", "NVIDIA H200", {{"GPU", 1, 0.03}});
  cold.table.cells["GPU"][1].cache = CacheMode::Cold;
  EXPECT_THAT(mlpbench::testing::input_error([&] { make_reference({{"cold.json", cold}}); }),
              HasSubstr("a reference holds hot numbers, and cold.json ran with --cache cold"));
  Results both = run("2026-11-29T00:00:00Z", "NVIDIA H200", {{"GPU", 1, 0.01}});
  both.cold = Table{};
  Cell c = measured(0.03, "cuda-gemv");
  c.cache = CacheMode::Cold;
  both.cold->set("GPU", 1, c);
  EXPECT_EQ(make_reference({{"both.json", both}}).table.find("GPU", 1)->median_ms(), 0.01);
  // With a hot run beside it, the cold run is left out and the hot one gives the cells.
  EXPECT_EQ(make_reference({{"cold.json", cold}, {"both.json", both}}).table.find("GPU", 1)->median_ms(), 0.01);
}

// Emulated cells (a CUDA emulator) hold no time: never promoted; a run holding nothing else is refused, saying why.
TEST(Reference, NeverPromotesEmulatedCells) {
  Results r = run("2026-11-29T00:00:00Z", "Fake GPU, emulated on the CPU", {{"CPU", 1, 0.05}});
  r.table.set("GPU", 1, mlpbench::testing::emulated_test_cell());
  r.table.set("GPU", 10, mlpbench::testing::emulated_test_cell());
  const Results table = make_reference({{"emu.json", r}});
  EXPECT_TRUE(table.table.find("CPU", 1));
  EXPECT_FALSE(table.table.find("GPU", 1));
  EXPECT_EQ(table.table.batch_sizes, std::vector<int>{1});
  Results only;
  only.table.set("GPU", 1, mlpbench::testing::emulated_test_cell());
  EXPECT_THAT(mlpbench::testing::input_error([&] { make_reference({{"emu.json", only}}); }),
              HasSubstr("no measured cell in the runs given (emulated cells, run on a CUDA emulator, hold no time and are never promoted)"));
}
