// Results JSON and the table: a full round trip keeps every stored field and the key order, the committed
// reference file reads as reference cells, every malformed file is rejected naming the problem, atomic writes
// never clobber without force, and the verdict per batch size.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <set>
#include <tuple>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "mlpbench/errors.hpp"
#include "mlpbench/measure.hpp"
#include "mlpbench/files.hpp"
#include "mlpbench/results.hpp"
#include "mlpbench/backend.hpp"
#include "mlpbench/model.hpp"
#include "mlpbench/serve_sim.hpp"
#include "mlpbench/serve_workers.hpp"
#include "mlpbench/sysinfo.hpp"
#include "mlpbench/table.hpp"

using namespace mlpbench;
using mlpbench::testing::input_error;
using mlpbench::testing::promoted_cell;
using mlpbench::testing::reference_cell;
using mlpbench::testing::serving_run;
using mlpbench::testing::slurp;
using mlpbench::testing::write_plain;
using mlpbench::testing::TempDir;
using ::testing::AllOf;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

// An independent statement of the file's rounding: 6 significant digits.
double six_digits(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return std::strtod(buf, nullptr);
}

// Synthetic samples around `center` ms: 21 values with awkward digits, so rounding to 6 digits matters.
std::vector<double> samples_around(double center) {
  std::vector<double> s;
  for (int i = 0; i < 21; ++i) s.push_back(center * (1.0 + 0.0123456789 * ((i * 7) % 11 - 5) / 5.0));
  return s;
}

Cell measured_cell(double center, int passes) {
  Cell c;
  c.source = Source::Measured;
  c.backend = "cpu-eigen";
  c.config = "threads=2";
  c.stats = summarize(samples_around(center), passes);
  c.stats.converged = true;
  c.stats.total_s = 0.75;
  return c;
}

// CPU measured at 1, 10, 100; GPU from the reference table. CPU is faster at 1, GPU at 10 and 100.
Results sample_results() {
  Results r;
  r.model.layers = {784, 512, 512, 10};
  r.model.origin.kind = "seed";
  r.model.origin.seed = 7;
  r.machine.host = "testhost";
  r.machine.cores = 2;
  r.build.compiler = "gcc";
  r.build.build_type = "Release";
  r.run.started_utc = "2026-01-01T00:00:00Z";
  r.run.command = "mlpbench run";
  r.run.extra["peer_setting"] = "kept though unknown";
  r.table.set("CPU", 100, measured_cell(1.23456789, 1));
  r.table.set("CPU", 1, measured_cell(0.0123456789, 8));
  r.table.set("CPU", 10, measured_cell(0.2345678912, 2));
  r.table.set("GPU", 1, reference_cell(30));
  r.table.set("GPU", 10, reference_cell(0.1));
  r.table.set("GPU", 100, reference_cell(0.8));
  r.not_measured["GPU"] = "no usable CUDA device";
  r.notes = {"cuda-fused left out: width too large"};
  return r;
}

std::vector<std::string> keys_of(const Json& j) {
  std::vector<std::string> k;
  for (const auto& [key, value] : j.items()) k.push_back(key);
  return k;
}

// A small valid results JSON to break, one field at a time.
Json valid_json() {
  Results r;
  r.table.set("CPU", 10, measured_cell(0.5, 1));
  r.table.set("GPU", 10, reference_cell(0.1));
  return Json::parse(dump_json(to_json(r)));
}

std::string from_json_error(const Json& j) {
  return input_error([&] { results_from_json(j, "test.json"); });
}

}  // namespace

// ---- round trip ----

TEST(Results, RoundTripKeepsEveryStoredField) {
  const Results in = sample_results();
  const std::string text = dump_json(to_json(in));
  const Results out = results_from_json(Json::parse(text), "roundtrip");

  EXPECT_EQ(out.table.batch_sizes, (std::vector<int>{1, 10, 100}));
  for (int b : {1, 10, 100}) {
    SCOPED_TRACE("batch " + std::to_string(b));
    const Cell* ci = in.table.find("CPU", b);
    const Cell* co = out.table.find("CPU", b);
    ASSERT_NE(co, nullptr);
    EXPECT_EQ(co->source, Source::Measured);
    EXPECT_EQ(co->backend, "cpu-eigen");
    EXPECT_EQ(co->config, "threads=2");
    const Stats &si = ci->stats, &so = co->stats;
    // Stored with 6 significant digits: equal to the rounded value, and within 5e-6 relative.
    EXPECT_EQ(so.median_ms, six_digits(si.median_ms));
    EXPECT_EQ(so.p90_ms, six_digits(si.p90_ms));
    EXPECT_EQ(so.p99_ms, six_digits(si.p99_ms));
    EXPECT_EQ(so.min_ms, six_digits(si.min_ms));
    EXPECT_EQ(so.max_ms, six_digits(si.max_ms));
    EXPECT_EQ(so.mean_ms, six_digits(si.mean_ms));
    EXPECT_EQ(so.cv, six_digits(si.cv));
    EXPECT_EQ(so.ci_rel, six_digits(si.ci_rel));
    EXPECT_NEAR(so.median_ms, si.median_ms, 5e-6 * si.median_ms);
    EXPECT_NEAR(so.cv, si.cv, 5e-6 * si.cv);
    EXPECT_NE(so.median_ms, si.median_ms);  // the samples were chosen so rounding is visible
    EXPECT_EQ(so.samples, 21);
    EXPECT_EQ(so.passes_per_sample, si.passes_per_sample);
    EXPECT_TRUE(so.converged);
    ASSERT_EQ(so.samples_ms.size(), si.samples_ms.size());
    for (std::size_t i = 0; i < si.samples_ms.size(); ++i) EXPECT_EQ(so.samples_ms[i], six_digits(si.samples_ms[i])) << i;

    const Cell* gi = in.table.find("GPU", b);
    const Cell* go = out.table.find("GPU", b);
    ASSERT_NE(go, nullptr);
    EXPECT_EQ(go->source, Source::Reference);
    EXPECT_EQ(go->backend, "illustrative");
    EXPECT_EQ(go->median_ms(), gi->median_ms());
    EXPECT_EQ(go->reference_file, "results/reference.json");
  }
  EXPECT_EQ(out.table.find("CPU", 1)->stats.passes_per_sample, 8);

  EXPECT_EQ(out.model.layers, (std::vector<int>{784, 512, 512, 10}));
  EXPECT_EQ(out.model.activation, "relu");
  EXPECT_EQ(out.model.dtype, "f32");
  EXPECT_EQ(out.model.origin.kind, "seed");
  EXPECT_EQ(out.model.origin.seed, 7u);
  EXPECT_EQ(to_json(out.machine), to_json(in.machine));
  EXPECT_EQ(to_json(out.build), to_json(in.build));
  EXPECT_EQ(to_json(out.run), to_json(in.run));
  EXPECT_EQ(out.run.extra["peer_setting"], "kept though unknown");
  EXPECT_EQ(out.not_measured, in.not_measured);
  EXPECT_EQ(out.notes, in.notes);

  // Writing what was read gives the same text: nothing is lost or reordered on a second pass.
  EXPECT_EQ(dump_json(to_json(out)), text);
}

TEST(Results, GpuCellKeepsItsIoSplitEnergyAndBackends) {
  Results in;
  Cell g = measured_cell(0.01, 4);
  g.backend = "cuda-gemv+graph+zerocopy";
  g.config = "precision=fp32,io=zero-copy,pdl=on";
  g.io = "zero-copy";
  g.split = DeviceSplit{0.002, 0.005, 0};
  g.energy = Energy{0.00125, 310.5, 0.5, ""};
  BackendRun copy{"cuda-gemv+graph", "precision=fp32,io=copy,pdl=on", "copy", 0, 4, g.stats, DeviceSplit{0.003, 0.005, 0.002}};
  BackendRun zero{g.backend, g.config, "zero-copy", 0, 4, g.stats, g.split};
  g.runs = {copy, zero};
  in.table.set("GPU", 1, g);
  Cell none = measured_cell(0.02, 4);
  none.energy = Energy{0, 0, 0, "NVML (libnvidia-ml.so.1) not found: no NVIDIA driver here"};
  in.table.set("GPU", 2, none);
  const Json j = Json::parse(dump_json(to_json(in)));
  EXPECT_EQ(j["cells"]["GPU"]["1"]["io"], "zero-copy");
  EXPECT_EQ(j["cells"]["GPU"]["1"]["energy"], Json::parse(R"({"joules_per_inference": 0.00125, "watts": 310.5, "window_s": 0.5})"));
  EXPECT_EQ(j["cells"]["GPU"]["2"]["energy"], Json::parse(R"({"unavailable": "NVML (libnvidia-ml.so.1) not found: no NVIDIA driver here"})"));
  const Results out = results_from_json(j, "gpu");
  const Cell* o = out.table.find("GPU", 1);
  ASSERT_NE(o, nullptr);
  EXPECT_EQ(o->io, "zero-copy");
  ASSERT_TRUE(o->split && o->energy);
  EXPECT_EQ(o->split->h2d_ms, 0.002);
  EXPECT_EQ(o->split->d2h_ms, 0);
  EXPECT_EQ(o->energy->joules_per_inference, 0.00125);
  EXPECT_EQ(o->energy->watts, 310.5);
  ASSERT_EQ(o->runs.size(), 2u);
  EXPECT_EQ(o->runs[0].io, "copy");
  EXPECT_EQ(o->runs[1].io, "zero-copy");
  EXPECT_EQ(out.table.find("GPU", 2)->energy->unavailable, "NVML (libnvidia-ml.so.1) not found: no NVIDIA driver here");
  // Files written before these keys read without them.
  Json old = j;
  old["cells"]["GPU"]["1"].erase("io");
  old["cells"]["GPU"]["1"].erase("energy");
  const Results read_old = results_from_json(old, "old");
  const Cell* plain = read_old.table.find("GPU", 1);
  ASSERT_NE(plain, nullptr);
  EXPECT_EQ(plain->io, "");
  EXPECT_FALSE(plain->energy);
  Json bad = j;
  bad["cells"]["GPU"]["1"]["energy"]["watts"] = -1;
  EXPECT_THAT(from_json_error(bad), HasSubstr("energy"));
}

TEST(Results, ColdCellsRoundTripInATableOfTheirOwnAndOldFilesReadAsHot) {
  Results in = sample_results();
  Table cold;
  for (int b : {1, 10}) {
    Cell c = measured_cell(0.5 * b, 1);
    c.cache = CacheMode::Cold;
    cold.set("CPU", b, c);
    Cell g = measured_cell(0.1, 1);
    g.cache = CacheMode::Cold;
    cold.set("GPU", b, g);
  }
  cold.batch_sizes = {1, 10};
  in.cold = cold;
  in.run.cache = "both";
  const Json j = Json::parse(dump_json(to_json(in)));
  EXPECT_EQ(j["cells"]["CPU"]["1"]["cache"], "hot");
  ASSERT_TRUE(j.contains("cold"));
  EXPECT_EQ(keys_of(j["cold"]), (std::vector<std::string>{"inference_times_ms", "faster", "crossover", "cells"}));
  EXPECT_EQ(j["cold"]["cells"]["GPU"]["10"]["cache"], "cold");
  EXPECT_EQ(j["cold"]["faster"], Json::parse(R"({"1": "GPU", "10": "GPU"})"));
  EXPECT_EQ(j["run"]["cache"], "both");

  const Results out = results_from_json(j, "cold");
  ASSERT_TRUE(out.cold);
  EXPECT_EQ(out.cold->batch_sizes, (std::vector<int>{1, 10}));
  ASSERT_NE(out.cold->find("CPU", 10), nullptr);
  EXPECT_EQ(out.cold->find("CPU", 10)->cache, CacheMode::Cold);
  EXPECT_EQ(out.cold->find("CPU", 10)->median_ms(), six_digits(cold.find("CPU", 10)->median_ms()));
  EXPECT_EQ(out.table.find("CPU", 1)->cache, CacheMode::Hot);
  EXPECT_EQ(out.run.cache, "both");
  EXPECT_EQ(dump_json(to_json(out)), dump_json(j)) << "written again, the same text";

  // A file from before the cache mode: every cell hot, no cold table.
  Json old = j;
  old.erase("cold");
  for (auto& [dev, cells] : old["cells"].items()) {
    for (auto& [b, c] : cells.items()) c.erase("cache");
  }
  const Results read_old = results_from_json(old, "old");
  EXPECT_FALSE(read_old.cold);
  EXPECT_EQ(read_old.table.find("CPU", 10)->cache, CacheMode::Hot);

  Json bad = j;
  bad["cold"]["cells"]["CPU"]["1"]["cache"] = "lukewarm";
  EXPECT_THAT(from_json_error(bad), HasSubstr("\"cache\" must be \"hot\" or \"cold\""));
  Json bad_times = j;
  bad_times["cold"]["inference_times_ms"]["CPU"]["1"] = 123.0;
  EXPECT_THAT(from_json_error(bad_times), HasSubstr("cold"));
  // One cache mode per table: a hot cell in the cold section, a cold one beside it, cold cells in both places.
  Json hot_in_cold = j;
  hot_in_cold["cold"]["cells"]["CPU"]["1"]["cache"] = "hot";
  EXPECT_THAT(from_json_error(hot_in_cold), HasSubstr("CPU 1: a cell of the cold table must have \"cache\": \"cold\""));
  Json mixed = old;
  mixed["cells"]["CPU"]["1"]["cache"] = "cold";
  EXPECT_THAT(from_json_error(mixed), HasSubstr("the cells mix \"cache\": \"hot\" and \"cold\""));
  Json twice = j;
  for (auto& [dev, cells] : twice["cells"].items()) {
    for (auto& [b, c] : cells.items()) c["cache"] = "cold";
  }
  EXPECT_THAT(from_json_error(twice), HasSubstr("cold cells both in \"cells\" and in \"cold\""));
  Json not_object = j;
  not_object["cold"] = 3;
  EXPECT_THAT(from_json_error(not_object), HasSubstr("cold: not a JSON object"));
}

TEST(Results, ARunWritesWhereItsOutPointsAFolderGetsTheGitLayout) {
  TempDir dir;
  const std::time_t t = 1795000000;  // 2026-11-18T...Z
  EXPECT_EQ(results_path("r.json", t), "r.json");
  EXPECT_EQ(results_path("-", t), "-") << "standard output";
  const std::string folder = dir.path.string();
  const std::string named = results_path(folder, t);
  EXPECT_THAT(named, ::testing::MatchesRegex(folder + "/[A-Za-z0-9._-]+/" + utc_compact(t) + "-[A-Za-z0-9._-]+\\.json"));
  // The default is the same layout under results/.
  EXPECT_EQ(results_path("", t), results_path("results/", t));
  EXPECT_THAT(results_path("", t), ::testing::MatchesRegex("results/[A-Za-z0-9._-]+/" + utc_compact(t) + "-[A-Za-z0-9._-]+\\.json"));
  EXPECT_EQ(results_path("not-yet/", t).rfind("not-yet/", 0), 0u) << "a trailing / names a folder that does not exist yet";
  // What names a folder (the run reserves a unique name there) and what a file.
  for (const std::string& out : {std::string(), folder, std::string("not-yet/")}) EXPECT_TRUE(names_a_folder(out)) << out;
  for (const char* out : {"r.json", "-", "not-yet"}) EXPECT_FALSE(names_a_folder(out)) << out;
}

TEST(Results, FileOriginAndNoteSurvive) {
  Results in = sample_results();
  in.note = "illustrative";
  in.model.origin = {};
  in.model.origin.kind = "file";
  in.model.origin.file = "models/mlp.safetensors";
  in.model.origin.sha256 = std::string(64, 'a');
  const Json j = to_json(in);
  EXPECT_EQ(keys_of(j)[0], "schema");
  EXPECT_EQ(keys_of(j)[1], "note");
  EXPECT_EQ(keys_of(j["model"]["weights"]), (std::vector<std::string>{"kind", "file", "sha256"}));
  const Results out = results_from_json(Json::parse(dump_json(j)), "file-origin");
  EXPECT_EQ(out.note, "illustrative");
  EXPECT_EQ(out.model.origin.kind, "file");
  EXPECT_EQ(out.model.origin.file, "models/mlp.safetensors");
  EXPECT_EQ(out.model.origin.sha256, std::string(64, 'a'));
}

TEST(Results, FileOriginRecordsTheLayerOrder) {
  Results in = sample_results();
  in.model.origin = {};
  in.model.origin.kind = "file";
  in.model.origin.file = "mlp.safetensors";
  in.model.origin.sha256 = std::string(64, 'b');
  in.model.origin.layer_names = {"proj", "head"};
  in.model.origin.layer_order = "--layer-order";
  in.model.origin.no_bias = {"head"};
  const Json j = to_json(in);
  EXPECT_EQ(keys_of(j["model"]["weights"]), (std::vector<std::string>{"kind", "file", "sha256", "layer_names", "layer_order", "no_bias"}));
  const Results out = results_from_json(Json::parse(dump_json(j)), "layer-order");
  EXPECT_EQ(out.model.origin.layer_names, (std::vector<std::string>{"proj", "head"}));
  EXPECT_EQ(out.model.origin.layer_order, "--layer-order");
  EXPECT_EQ(out.model.origin.no_bias, (std::vector<std::string>{"head"}));

  // Every layer with its bias: no "no_bias". Files written before these keys read with them empty.
  in.model.origin.no_bias.clear();
  EXPECT_FALSE(to_json(in)["model"]["weights"].contains("no_bias"));
  Json old = to_json(in);
  old["model"]["weights"].erase("layer_names");
  old["model"]["weights"].erase("layer_order");
  const Results before = results_from_json(Json::parse(dump_json(old)), "older");
  EXPECT_TRUE(before.model.origin.layer_names.empty());
  EXPECT_EQ(before.model.origin.layer_order, "");
  EXPECT_EQ(before.model.origin.sha256, std::string(64, 'b'));
}

TEST(Results, KeyOrderIsStable) {
  const Results in = sample_results();
  const Json j = to_json(in);
  EXPECT_EQ(keys_of(j), (std::vector<std::string>{"schema", "sources", "inference_times_ms", "faster", "crossover", "cells", "model", "machine",
                                                  "build", "run", "not_measured", "notes"}));
  EXPECT_EQ(j["schema"], "mlpbench/1");
  EXPECT_EQ(j["sources"], Json::parse(R"({"CPU": "measured", "GPU": "reference"})")) << "the first thing a reader sees";
  EXPECT_EQ(keys_of(j["inference_times_ms"]), (std::vector<std::string>{"CPU", "GPU"}));
  EXPECT_EQ(keys_of(j["inference_times_ms"]["CPU"]), (std::vector<std::string>{"1", "10", "100"}));  // numeric, not text order
  EXPECT_EQ(keys_of(j["cells"]["GPU"]), (std::vector<std::string>{"1", "10", "100"}));
  EXPECT_EQ(keys_of(j["cells"]["CPU"]["10"]),
            (std::vector<std::string>{"source", "backend", "config", "cache", "median_ms", "p90_ms", "p99_ms", "min_ms", "max_ms", "mean_ms", "cv",
                                      "ci_rel", "samples", "passes_per_sample", "converged", "samples_ms"}));
  EXPECT_EQ(keys_of(j["cells"]["GPU"]["10"]), (std::vector<std::string>{"source", "backend", "median_ms", "file", "kind"}));
  EXPECT_EQ(keys_of(j["model"]), (std::vector<std::string>{"layers", "activation", "dtype", "weights"}));

  // The text keeps the order, and the same input always gives the same text.
  const std::string text = dump_json(j);
  const auto pos = [&](const char* key) { return text.find(std::string("\"") + key + "\":"); };
  EXPECT_LT(pos("schema"), pos("inference_times_ms"));
  EXPECT_LT(pos("inference_times_ms"), pos("faster"));
  EXPECT_LT(pos("faster"), pos("cells"));
  EXPECT_LT(pos("cells"), pos("model"));
  EXPECT_EQ(text, dump_json(to_json(sample_results())));
}

TEST(Results, DumpJsonKeepsNumberArraysOnOneLine) {
  const std::string text = dump_json(to_json(sample_results()));
  ASSERT_FALSE(text.empty());
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(text.rfind("{\n  \"schema\": \"mlpbench/1\",\n", 0), 0u) << text.substr(0, 80);
  EXPECT_THAT(text, HasSubstr("\"layers\": [784,512,512,10]"));
  // Every samples_ms array sits on one line.
  std::istringstream lines(text);
  std::string line;
  int arrays = 0;
  while (std::getline(lines, line)) {
    if (line.find("\"samples_ms\": [") != std::string::npos) {
      ++arrays;
      EXPECT_EQ(line.back(), ']') << line;
    }
  }
  EXPECT_EQ(arrays, 3);
  // Arrays of strings get one element per line.
  EXPECT_THAT(text, HasSubstr("\"notes\": [\n    \"cuda-fused left out: width too large\"\n  ]"));
}

TEST(Results, InferenceTimesAndFasterSummarizeTheCells) {
  const Results in = sample_results();
  const Json j = to_json(in);
  const Json& t = j["inference_times_ms"];
  for (int b : {1, 10, 100}) {
    const std::string k = std::to_string(b);
    EXPECT_EQ(t["CPU"][k].get<double>(), six_digits(in.table.find("CPU", b)->median_ms())) << k;
    EXPECT_EQ(t["CPU"][k], j["cells"]["CPU"][k]["median_ms"]) << k;
    EXPECT_EQ(t["GPU"][k].get<double>(), in.table.find("GPU", b)->median_ms()) << k;
  }
  // The GPU column holds illustrative values: no verdict at any batch size.
  EXPECT_EQ(j["faster"], Json::object());
  // Promoted (measured elsewhere): CPU ~0.0123 vs GPU 30 at 1; CPU ~0.235 vs GPU 0.1 at 10; CPU ~1.23 vs GPU 0.8 at 100.
  Results promoted = in;
  for (auto& [b, c] : promoted.table.cells["GPU"]) c.provenance.kind = "measured";
  EXPECT_EQ(to_json(promoted)["faster"], Json::parse(R"({"1": "CPU", "10": "GPU", "100": "GPU"})"));
}

TEST(Results, FasterLeavesOutBatchSizesWithOneCell) {
  Results r;
  r.table.set("CPU", 1, measured_cell(0.5, 1));
  r.table.set("CPU", 10, measured_cell(0.5, 1));
  r.table.set("GPU", 10, promoted_cell(1.0));
  const Json j = to_json(r);
  EXPECT_EQ(j["faster"], Json::parse(R"({"10": "CPU"})"));
  EXPECT_EQ(keys_of(j["inference_times_ms"]["GPU"]), (std::vector<std::string>{"10"}));
  EXPECT_EQ(j.count("not_measured"), 0u);
  EXPECT_EQ(j.count("notes"), 0u);
  const Results back = results_from_json(Json::parse(dump_json(j)), "partial");
  EXPECT_EQ(back.table.find("GPU", 1), nullptr);
  EXPECT_NE(back.table.find("GPU", 10), nullptr);
}

TEST(Results, ReadResultsFromAFile) {
  TempDir dir;
  const std::string path = dir.file("run.json");
  write_text_atomic(path, dump_json(to_json(sample_results())), false);
  const Results r = read_results(path);
  EXPECT_EQ(r.table.batch_sizes, (std::vector<int>{1, 10, 100}));
  EXPECT_EQ(r.table.find("GPU", 10)->median_ms(), 0.1);
}

// ---- the committed reference table ----

TEST(Results, ReferenceFileHoldsReferenceCells) {
  const Results r = read_results(MLPBENCH_SOURCE_DIR "/results/reference.json");
  EXPECT_EQ(r.table.batch_sizes, (std::vector<int>{1, 10, 100}));
  const std::map<int, double> cpu = {{1, 50}, {10, 400}, {100, 3500}}, gpu = {{1, 30}, {10, 100}, {100, 800}};
  for (const auto& [dev, expected] : {std::make_pair("CPU", cpu), std::make_pair("GPU", gpu)}) {
    for (const auto& [b, ms] : expected) {
      SCOPED_TRACE(std::string(dev) + " " + std::to_string(b));
      const Cell* c = r.table.find(dev, b);
      ASSERT_NE(c, nullptr);
      EXPECT_EQ(c->source, Source::Reference);
      EXPECT_EQ(c->median_ms(), ms);
      EXPECT_EQ(c->reference_file, "results/reference.json");
      EXPECT_EQ(c->backend, "illustrative");
    }
  }
  for (int b : {1, 10, 100}) EXPECT_EQ(faster_at(r.table, b), std::nullopt) << "illustrative values decide nothing";
  EXPECT_THAT(r.note, HasSubstr("not measurements"));
  EXPECT_EQ(r.model.layers, (std::vector<int>{784, 512, 512, 10}));
  EXPECT_EQ(r.model.origin.kind, "seed");
  EXPECT_EQ(r.model.origin.seed, 1u);
}

// ---- malformed results ----

TEST(ResultsMalformed, ValidBaseIsAccepted) {
  // The base the other cases break must itself be valid, or they would prove nothing.
  const Results r = results_from_json(valid_json(), "test.json");
  ASSERT_NE(r.table.find("CPU", 10), nullptr);
  EXPECT_EQ(r.table.find("CPU", 10)->source, Source::Measured);
}

TEST(ResultsMalformed, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("nope.json");
  const std::string msg = input_error([&] { read_results(path); });
  EXPECT_THAT(msg, HasSubstr("cannot open results file '" + path + "'"));
}

TEST(ResultsMalformed, DirectoryInsteadOfAFile) {
  TempDir dir;
  const std::string msg = input_error([&] { read_results(dir.path.string()); });
  EXPECT_THAT(msg, HasSubstr("results file '" + dir.path.string() + "' is a directory"));
}

TEST(ResultsMalformed, NotJson) {
  TempDir dir;
  const std::string path = dir.file("broken.json");
  write_plain(path, "{\"schema\": \"mlpbench/1\",\n  oops\n}\n");
  const std::string msg = input_error([&] { read_results(path); });
  EXPECT_THAT(msg, HasSubstr("results file '" + path + "' is not valid JSON"));
  EXPECT_THAT(msg, HasSubstr("line 2"));
}

// Every byte of an error is printable: a binary file is said to be one, none of its bytes quoted.
TEST(ResultsMalformed, ABinaryFileIsNamedAsSuchInAPrintableLine) {
  const auto printable_line = [](const std::string& msg) {
    for (unsigned char c : msg) EXPECT_TRUE(c >= 0x20 && c < 0x7f) << "byte " << int(c) << " in: " << msg;
  };
  // A safetensors file: an 8-byte little-endian header length, the JSON header, then raw tensor bytes.
  const std::string header = R"({"0.weight":{"dtype":"F32","shape":[1,1],"data_offsets":[0,4]}})";
  std::string safetensors(8, '\0');
  safetensors[0] = static_cast<char>(header.size());
  safetensors += header + std::string("\x00\x00\x80\xbf", 4);
  std::string msg = input_error([&] { parse_results_text(safetensors, "results file 'w.safetensors'"); });
  EXPECT_EQ(msg, "results file 'w.safetensors' is not JSON (it starts with binary bytes; a safetensors file?)");
  // Other binary bytes, first or later; a byte JSON can't hold inside the text is quoted as \xNN.
  msg = input_error([&] { parse_results_text(std::string("\x89PNG\r\n\x1a\n", 8), "results file 'x.png'"); });
  EXPECT_EQ(msg, "results file 'x.png' is not JSON (it starts with binary bytes)");
  msg = input_error([&] { parse_results_text(std::string("\x01\x02\xff", 3), "results file 'x.bin'"); });
  EXPECT_EQ(msg, "results file 'x.bin' is not JSON (it starts with binary bytes)");
  msg = input_error([&] { parse_results_text(std::string("{\"a\": 1\0}", 10), "results file 'nul.json'"); });
  EXPECT_EQ(msg, "results file 'nul.json' is not JSON (it holds binary bytes)");
  msg = input_error([&] { parse_results_text("{\"schema\": \xff\xfe}", "results file 'high.json'"); });
  printable_line(msg);
  EXPECT_THAT(msg, HasSubstr("results file 'high.json' is not valid JSON"));
  // printable(), which every error line goes through: UTF-8 kept, control and stray bytes as \xNN.
  EXPECT_EQ(printable("caf\xc3\xa9 \x01\n\xff\xc3"), "caf\xc3\xa9 \\x01\\x0a\\xff\\xc3");
}

TEST(ResultsMalformed, NotAnObject) {
  EXPECT_THAT(from_json_error(Json::array({1, 2})), HasSubstr("test.json: not a JSON object"));
}

TEST(ResultsMalformed, WrongOrMissingSchema) {
  Json j = valid_json();
  j["schema"] = "mlpbench/2";
  EXPECT_THAT(from_json_error(j), HasSubstr("schema \"mlpbench/2\" is not \"mlpbench/1\""));
  j["schema"] = 1;
  EXPECT_THAT(from_json_error(j), HasSubstr("\"schema\" must be a string"));
  j.erase("schema");
  EXPECT_THAT(from_json_error(j), HasSubstr("missing \"schema\""));
}

TEST(ResultsMalformed, MissingOrEmptyCells) {
  Json j = valid_json();
  j.erase("inference_times_ms");
  j["cells"] = Json::object();
  EXPECT_THAT(from_json_error(j), HasSubstr("\"cells\" holds no cell"));
  j["cells"] = Json::array();
  EXPECT_THAT(from_json_error(j), HasSubstr("\"cells\" must be an object"));
  j.erase("cells");
  EXPECT_THAT(from_json_error(j), HasSubstr("missing \"cells\""));
}

TEST(ResultsMalformed, CellWithUnknownSource) {
  Json j = valid_json();
  j["cells"]["CPU"]["10"]["source"] = "guessed";
  const std::string msg = from_json_error(j);
  EXPECT_THAT(msg, HasSubstr("cells.CPU.10"));
  EXPECT_THAT(msg, HasSubstr("\"source\" must be \"measured\", \"reference\" or \"emulated\", not \"guessed\""));
}

TEST(ResultsMalformed, MeasuredCellMissingP90) {
  Json j = valid_json();
  j["cells"]["CPU"]["10"].erase("p90_ms");
  const std::string msg = from_json_error(j);
  EXPECT_THAT(msg, HasSubstr("cells.CPU.10"));
  EXPECT_THAT(msg, HasSubstr("missing \"p90_ms\""));
}

TEST(ResultsMalformed, NegativeOrNonNumericMedian) {
  Json j = valid_json();
  j.erase("inference_times_ms");
  j["cells"]["CPU"]["10"]["median_ms"] = -0.5;
  EXPECT_THAT(from_json_error(j), HasSubstr("\"median_ms\" must be a finite positive number"));
  j["cells"]["CPU"]["10"]["median_ms"] = 0;
  EXPECT_THAT(from_json_error(j), HasSubstr("\"median_ms\" must be a finite positive number"));
  j["cells"]["CPU"]["10"]["median_ms"] = "fast";
  EXPECT_THAT(from_json_error(j), HasSubstr("\"median_ms\" must be a number"));
  // A reference cell too.
  Json g = valid_json();
  g.erase("inference_times_ms");
  g["cells"]["GPU"]["10"]["median_ms"] = -1;
  EXPECT_THAT(from_json_error(g), HasSubstr("cells.GPU.10: \"median_ms\" must be a finite positive number"));
}

TEST(ResultsMalformed, StatisticsOutOfOrder) {
  Json j = valid_json();
  j["cells"]["CPU"]["10"]["min_ms"] = 100.0;  // above the median
  EXPECT_THAT(from_json_error(j), HasSubstr("statistics out of order (need min <= median <= p90 <= p99)"));
  Json k = valid_json();
  k["cells"]["CPU"]["10"]["p99_ms"] = k["cells"]["CPU"]["10"]["p90_ms"].get<double>() / 2;
  EXPECT_THAT(from_json_error(k), HasSubstr("statistics out of order"));
}

TEST(ResultsMalformed, MaxBelowP99) {
  Json j = valid_json();
  j["cells"]["CPU"]["10"]["max_ms"] = j["cells"]["CPU"]["10"]["p99_ms"].get<double>() / 2;
  EXPECT_THAT(from_json_error(j), HasSubstr("cells.CPU.10: statistics out of order (need p99 <= max)"));
}

TEST(ResultsMalformed, PassesPerSampleNotAPositiveInteger) {
  for (double v : {2.5, 1e12, 0.0, -1.0}) {
    SCOPED_TRACE(v);
    Json j = valid_json();
    j["cells"]["CPU"]["10"]["passes_per_sample"] = v;
    EXPECT_THAT(from_json_error(j), HasSubstr("\"passes_per_sample\" must be a"));
  }
}

TEST(ResultsMalformed, BadBatchKeys) {
  for (const char* key : {"0", "abc", "-1", "01", "1.5", "", "1234567890"}) {
    SCOPED_TRACE(key);
    Json j = valid_json();
    j.erase("inference_times_ms");
    j["cells"]["CPU"][key] = j["cells"]["CPU"]["10"];
    EXPECT_THAT(from_json_error(j), HasSubstr(std::string("batch size key \"") + key + "\" is not a positive integer"));
  }
}

TEST(ResultsMalformed, UnknownDevice) {
  Json j = valid_json();
  j["cells"]["TPU"] = j["cells"]["CPU"];
  EXPECT_THAT(from_json_error(j), HasSubstr("device \"TPU\" in \"cells\" is not CPU or GPU"));
}

TEST(ResultsMalformed, InferenceTimesDisagreeWithTheCells) {
  Json j = valid_json();
  j["inference_times_ms"]["CPU"]["10"] = 0.75;
  EXPECT_THAT(from_json_error(j), HasSubstr("inference_times_ms.CPU.10 differs from cells.CPU.10.median_ms"));
  Json k = valid_json();
  k["inference_times_ms"]["GPU"]["100"] = 1.0;
  EXPECT_THAT(from_json_error(k), HasSubstr("inference_times_ms.GPU.100 has no matching cell"));
  Json l = valid_json();
  l["inference_times_ms"]["CPU"]["10"] = "0.5";
  EXPECT_THAT(from_json_error(l), HasSubstr("inference_times_ms.CPU.10 differs"));
}

TEST(ResultsMalformed, SamplesDisagreeWithTheirCount) {
  Json j = valid_json();
  j["cells"]["CPU"]["10"]["samples_ms"].erase(0);
  EXPECT_THAT(from_json_error(j), HasSubstr("\"samples_ms\" has 20 values but \"samples\" is 21"));
  Json k = valid_json();
  k["cells"]["CPU"]["10"]["samples_ms"][3] = -1.0;
  EXPECT_THAT(from_json_error(k), HasSubstr("\"samples_ms\" holds a value that is not a positive number"));
  Json l = valid_json();
  l["cells"]["CPU"]["10"]["samples"] = 2.5;
  EXPECT_THAT(from_json_error(l), HasSubstr("\"samples\" must be a positive integer"));
}

// ---- verdicts ----

TEST(ResultsTable, FasterAt) {
  Table t;
  t.set("CPU", 1, promoted_cell(2.0));
  t.set("GPU", 1, promoted_cell(1.0));
  t.set("CPU", 10, promoted_cell(1.0));
  t.set("GPU", 10, promoted_cell(2.0));
  t.set("CPU", 100, promoted_cell(3.0));
  t.set("GPU", 100, promoted_cell(3.0));
  t.set("CPU", 1000, promoted_cell(3.0));
  EXPECT_EQ(faster_at(t, 1), std::optional<std::string>("GPU"));
  EXPECT_EQ(faster_at(t, 10), std::optional<std::string>("CPU"));
  EXPECT_EQ(faster_at(t, 100), std::optional<std::string>("CPU"));  // a tie goes to the CPU
  EXPECT_EQ(faster_at(t, 1000), std::nullopt);                      // no GPU cell
  EXPECT_EQ(faster_at(t, 5), std::nullopt);                         // no cell at all
  Table gpu_only;
  gpu_only.set("GPU", 1, promoted_cell(1.0));
  EXPECT_EQ(faster_at(gpu_only, 1), std::nullopt);
  // An illustrative cell on either side: no verdict.
  t.set("GPU", 1, reference_cell(1.0));
  EXPECT_EQ(faster_at(t, 1), std::nullopt);
  t.set("GPU", 1, promoted_cell(1.0));
  t.set("CPU", 1, reference_cell(2.0));
  EXPECT_EQ(faster_at(t, 1), std::nullopt);
}

TEST(ResultsTable, SetKeepsBatchSizesSortedAndUnique) {
  Table t;
  t.set("CPU", 100, reference_cell(1));
  t.set("GPU", 1, reference_cell(2));
  t.set("CPU", 10, reference_cell(3));
  t.set("CPU", 100, reference_cell(4));  // replaces
  EXPECT_EQ(t.batch_sizes, (std::vector<int>{1, 10, 100}));
  EXPECT_EQ(t.find("CPU", 100)->median_ms(), 4);
  EXPECT_EQ(t.find("GPU", 10), nullptr);
  EXPECT_EQ(t.find("TPU", 1), nullptr);
}

// A cell's round medians and its minimum sample count are written and read back, for the cell and for each backend;
// a file's round medians must be positive and no more than its samples.
TEST(Results, RoundMediansAndTheMinimumSamplesRoundTrip) {
  Results r;
  Cell c = measured_cell(0.5, 1);
  c.stats.round_medians_ms = {0.49, 0.5, 0.51};
  c.stats.min_samples = 10;
  BackendRun run;
  run.backend = "cpu-eigen";
  run.config = "threads=1";
  run.stats = c.stats;
  c.runs = {run, run};
  r.table.set("CPU", 1, c);
  const Json j = to_json(r);
  EXPECT_EQ(j["cells"]["CPU"]["1"]["round_medians_ms"], Json::parse("[0.49,0.5,0.51]"));
  EXPECT_EQ(j["cells"]["CPU"]["1"]["min_samples"], 10);
  EXPECT_EQ(j["cells"]["CPU"]["1"]["backends"][1]["round_medians_ms"], Json::parse("[0.49,0.5,0.51]"));
  const Results back = results_from_json(Json::parse(dump_json(j)), "rounds");
  const Cell* b = back.table.find("CPU", 1);
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->stats.round_medians_ms, c.stats.round_medians_ms);
  EXPECT_EQ(b->stats.min_samples, 10);
  EXPECT_EQ(b->runs[1].stats.round_medians_ms, c.stats.round_medians_ms);

  Json empty = j;
  empty["cells"]["CPU"]["1"]["round_medians_ms"] = Json::array();
  EXPECT_THAT(from_json_error(empty), HasSubstr("\"round_medians_ms\" has 0 values"));
  Json negative = j;
  negative["cells"]["CPU"]["1"]["round_medians_ms"][0] = -1;
  EXPECT_THAT(from_json_error(negative), HasSubstr("\"round_medians_ms\" holds a value that is not a positive number"));
  Json too_many = j;
  too_many["cells"]["CPU"]["1"]["round_medians_ms"] = std::vector<double>(static_cast<std::size_t>(c.stats.samples) + 1, 0.5);
  EXPECT_THAT(from_json_error(too_many), HasSubstr("\"round_medians_ms\" has"));
}

// ---- emulated cells (a CUDA emulator, a test build) ----

// An emulated cell is written without a time (none in inference_times_ms, no median, no cost) and read back as it was,
// hot and cold; its column's source is "emulated".
TEST(Results, EmulatedCellsRoundTripWithoutATime) {
  using mlpbench::testing::emulated_test_cell;
  Results in = sample_results();
  in.prices = Prices{1, 2};
  for (int b : {1, 10, 100}) in.table.set("GPU", b, emulated_test_cell());
  Table cold;
  cold.set("CPU", 1, [] {
    Cell c = measured_cell(0.5, 1);
    c.cache = CacheMode::Cold;
    return c;
  }());
  cold.set("GPU", 1, emulated_test_cell(CacheMode::Cold));
  in.cold = cold;
  const Json j = Json::parse(dump_json(to_json(in)));
  EXPECT_EQ(j["sources"]["GPU"], "emulated");
  EXPECT_EQ(j["inference_times_ms"]["GPU"], Json::object());
  EXPECT_EQ(j["cold"]["inference_times_ms"]["GPU"], Json::object());
  EXPECT_EQ(j["faster"], Json::object());
  EXPECT_EQ(j["cheaper"], Json::object());
  const Json& g = j["cells"]["GPU"]["10"];
  EXPECT_EQ(keys_of(g), (std::vector<std::string>{"source", "backend", "io", "cache", "emulator", "why", "backends"}));
  EXPECT_EQ(g["source"], "emulated");
  EXPECT_EQ(g["emulator"], mlpbench::testing::kEmulator);
  EXPECT_EQ(g["backends"], Json::parse(R"([{"backend": "cuda-tiled+graph", "io": "copy"}, {"backend": "cublaslt+graph+zerocopy", "io": "zero-copy"}])"));

  const Results out = results_from_json(j, "emulated");
  for (const auto& [table, batch, cache] : {std::tuple{&out.table, 10, CacheMode::Hot}, {&*out.cold, 1, CacheMode::Cold}}) {
    const Cell* c = table->find("GPU", batch);
    ASSERT_NE(c, nullptr);
    const Cell want = emulated_test_cell(cache);
    EXPECT_EQ(c->source, Source::Emulated);
    EXPECT_EQ(c->backend, want.backend);
    EXPECT_EQ(c->io, want.io);
    EXPECT_EQ(c->cache, cache);
    EXPECT_EQ(c->emulator, want.emulator);
    EXPECT_EQ(c->why, want.why);
    ASSERT_EQ(c->runs.size(), 2u);
    EXPECT_EQ(c->runs[1].backend, "cublaslt+graph+zerocopy");
    EXPECT_EQ(c->runs[1].io, "zero-copy");
    EXPECT_EQ(c->runs[1].cache, cache);
    EXPECT_EQ(c->median_ms(), 0);
  }
  const Json again = Json::parse(dump_json(to_json(out)));
  EXPECT_EQ(again["cells"]["GPU"], j["cells"]["GPU"]) << "written again, the same cells";
  EXPECT_EQ(again["cold"]["cells"]["GPU"], j["cold"]["cells"]["GPU"]);
}

TEST(ResultsMalformed, AnEmulatedCellWithATimeOrWithoutItsEmulatorOrBackends) {
  Json j = valid_json();
  j["inference_times_ms"]["GPU"].erase("10");
  j["cells"]["GPU"]["10"] = to_json([] {
    Results r;
    r.table.set("GPU", 10, mlpbench::testing::emulated_test_cell());
    return r;
  }())["cells"]["GPU"]["10"];
  EXPECT_NO_THROW(results_from_json(j, "test.json"));
  Json timed = j;
  timed["cells"]["GPU"]["10"]["median_ms"] = 0.1;
  EXPECT_THAT(from_json_error(timed), HasSubstr("cells.GPU.10: an emulated cell holds no time (\"median_ms\")"));
  Json listed = j;
  listed["inference_times_ms"]["GPU"]["10"] = 0.1;
  EXPECT_THAT(from_json_error(listed), HasSubstr("inference_times_ms.GPU.10 is a time for an emulated cell, which has none"));
  Json nameless = j;
  nameless["cells"]["GPU"]["10"].erase("emulator");
  EXPECT_THAT(from_json_error(nameless), HasSubstr("cells.GPU.10: missing \"emulator\""));
  Json none_ran = j;
  none_ran["cells"]["GPU"]["10"]["backends"] = Json::array();
  EXPECT_THAT(from_json_error(none_ran), HasSubstr("\"backends\" must be an array of the backends that ran"));
}

// ---- serving (`mlpbench serve`) ----

namespace {

// A CPU measured twice (two configurations, the second with settings of its own) and a GPU simulated.
Serving sample_serving() {
  Serving sv;
  sv.config.slo_ms = 1;
  sv.config.seed = 0xfedcba9876543210ULL;  // beyond 2^53: a seed must survive as an integer
  sv.config.qps = {};
  ServeConfig two = sv.config;
  two.workers = 2;
  two.max_queue_delay_us = 250.123456789;
  sv.runs.push_back(serving_run("CPU", "measured", {{1000, 0.2}, {2000, 0.31}, {4000, 0.9}, {8000, 3.5}, {6000, 1.7}}, sv.config));
  sv.runs.push_back(serving_run("CPU", "measured", {{1000, 0.25}, {2000, 1.4}}, two, "workers=2,threads=1"));
  sv.runs.push_back(serving_run("GPU", "simulated", {{1000, 0.05}, {1.9e6, 0.8}, {3.8e6, 12.3456789}}, sv.config, "streams=1"));
  StepResult& last = sv.runs[0].search.steps.back();  // overloaded, its p99 with digits to round
  last.overloaded = true;
  last.p99_ms = 123.456789, last.p999_ms = 200, last.max_ms = 250;
  return sv;
}

Json serving_json() {
  Results r = sample_results();
  r.serving = sample_serving();
  return Json::parse(dump_json(to_json(r)));
}

}  // namespace

TEST(ResultsServing, RoundTripKeepsEveryStepAndSetting) {
  Results in = sample_results();
  in.serving = sample_serving();
  const std::string text = dump_json(to_json(in));
  const Results out = parse_results_text(text, "serving.json");
  ASSERT_TRUE(out.serving);
  EXPECT_EQ(dump_json(to_json(out)), text) << "written, read and written again: the same text";
  const Serving& sv = *out.serving;
  EXPECT_EQ(sv.config.seed, 0xfedcba9876543210ULL);
  EXPECT_EQ(sv.config.slo_ms, 1);
  ASSERT_EQ(sv.runs.size(), 3u);
  EXPECT_EQ(sv.runs[1].search.config.workers, 2) << "a run's own settings";
  EXPECT_DOUBLE_EQ(sv.runs[1].search.config.max_queue_delay_us, six_digits(250.123456789));
  EXPECT_EQ(sv.runs[0].search.config.workers, 1);
  EXPECT_EQ(sv.runs[2].source, "simulated");
  EXPECT_EQ(sv.runs[2].simulated_from, "results/reference.json (reference)");
  EXPECT_TRUE(sv.runs[2].search.simulated);
  EXPECT_FALSE(sv.runs[0].search.simulated);
  const StepResult& over = sv.runs[0].search.steps.back();
  EXPECT_TRUE(over.overloaded);
  EXPECT_DOUBLE_EQ(over.p99_ms, six_digits(123.456789));
  const StepResult& a = in.serving->runs[0].search.steps[1];
  const StepResult& b = sv.runs[0].search.steps[1];
  const auto six = [](std::vector<double> v) {  // as stored: 6 significant digits
    for (double& x : v) x = six_digits(x);
    return v;
  };
  EXPECT_EQ((std::vector<double>{b.offered_qps, b.achieved_qps, b.p50_ms, b.p90_ms, b.p99_ms, b.p999_ms, b.max_ms, b.mean_ms, b.mean_wait_ms,
                                 b.mean_batch, b.mean_queue, b.issue_lag_p99_us, b.issue_lag_max_us, b.drain_s, b.duration_s}),
            six({a.offered_qps, a.achieved_qps, a.p50_ms, a.p90_ms, a.p99_ms, a.p999_ms, a.max_ms, a.mean_ms, a.mean_wait_ms, a.mean_batch,
                 a.mean_queue, a.issue_lag_p99_us, a.issue_lag_max_us, a.drain_s, a.duration_s}));
  EXPECT_EQ(std::make_tuple(b.issued, b.completed, b.batches, b.max_queue), std::make_tuple(a.issued, a.completed, a.batches, a.max_queue));
  EXPECT_DOUBLE_EQ(sv.runs[0].search.best_qps, 4000);
  EXPECT_DOUBLE_EQ(sv.runs[2].search.best_qps, 1.9e6);
}

TEST(ResultsServing, TheSectionSaysTheBestRatePerDeviceAndOnlyRunsWithOwnSettingsCarryThem) {
  const Json j = serving_json();
  ASSERT_TRUE(j.contains("serving"));
  const std::vector<std::string> top = keys_of(j);
  EXPECT_LT(std::find(top.begin(), top.end(), "cells") - top.begin(), std::find(top.begin(), top.end(), "serving") - top.begin());
  const Json& sv = j["serving"];
  EXPECT_EQ(keys_of(sv), (std::vector<std::string>{"config", "best", "runs"}));
  EXPECT_EQ(sv["best"]["CPU"], Json::parse(R"({"qps": 4000, "source": "measured", "backend": "eigen-omp", "config": "workers=1,threads=1"})"));
  EXPECT_EQ(sv["best"]["GPU"]["source"], "simulated");
  EXPECT_FALSE(sv["runs"][0].contains("settings"));
  EXPECT_EQ(sv["runs"][1]["settings"], Json::parse(R"({"max_queue_delay_us": 250.123, "workers": 2})"));
  EXPECT_FALSE(sv["runs"][0].contains("simulated_from")) << "a measured run comes from nowhere else";
  EXPECT_EQ(keys_of(sv["runs"][0]["steps"][0]),
            (std::vector<std::string>{"offered_qps", "achieved_qps", "p50_ms", "p90_ms", "p99_ms", "p999_ms", "max_ms", "mean_ms", "mean_wait_ms",
                                      "mean_batch", "mean_service_ms", "issued", "completed", "batches", "max_queue", "mean_queue", "issue_lag_p99_us",
                                      "issue_lag_max_us", "drain_s", "duration_s", "overloaded", "interrupted", "simulated"}));
}

TEST(ResultsServing, BestRunPrefersMeasuredRunsOverSimulatedOnes) {
  Serving sv;
  sv.runs.push_back(serving_run("GPU", "simulated", {{5000, 0.5}}));
  sv.runs.push_back(serving_run("GPU", "measured", {{1000, 0.5}}));
  sv.runs.push_back(serving_run("GPU", "measured", {{2000, 0.5}}));
  sv.runs.push_back(serving_run("CPU", "simulated", {{3000, 0.5}}));
  ASSERT_NE(best_serving_run(sv, "GPU"), nullptr);
  EXPECT_EQ(best_serving_run(sv, "GPU"), &sv.runs[2]) << "the faster measured run, not the simulated one";
  EXPECT_EQ(best_serving_run(sv, "CPU"), &sv.runs[3]) << "only a simulated run: that one, labelled by its source";
  sv.runs.pop_back();
  EXPECT_EQ(best_serving_run(sv, "CPU"), nullptr);
}

TEST(ResultsServing, AnOldFileWithoutServingStillReads) {
  const Results old = read_results(MLPBENCH_SOURCE_DIR "/tests/data/results-before-sources.json");
  EXPECT_FALSE(old.serving);
  EXPECT_FALSE(to_json(old).contains("serving"));
  EXPECT_FALSE(to_json(sample_results()).contains("serving"));
}

TEST(ResultsServing, TheCommittedFixtureReadsAndWritesBackTheSame) {
  const std::string path = MLPBENCH_SOURCE_DIR "/tests/data/results-serving.json";
  const std::string text = slurp(path);
  ASSERT_FALSE(text.empty()) << path;
  const Results r = read_results(path);
  ASSERT_TRUE(r.serving);
  EXPECT_EQ(dump_json(to_json(r)), text);
  std::set<std::pair<std::string, std::string>> kinds;
  for (const ServingRun& run : r.serving->runs) kinds.emplace(run.device, run.source);
  EXPECT_EQ(kinds, (std::set<std::pair<std::string, std::string>>{{"CPU", "measured"}, {"CPU", "simulated"}, {"GPU", "simulated"}}));
  // A file from before the workers read the arrival schedule has the generator thread's poll in its config: read, ignored.
  Json old = Json::parse(text);
  old["serving"]["config"]["generator_spin_us"] = 200.0;
  EXPECT_EQ(dump_json(to_json(results_from_json(old, "old.json"))), text);
  // Its steps have no mean_service_ms: read as 0 (not shown).
  Json older = old;
  for (Json& run : older["serving"]["runs"]) {
    for (Json& step : run["steps"]) step.erase("mean_service_ms");
  }
  const Results read_older = results_from_json(older, "older.json");
  for (const ServingRun& run : read_older.serving->runs) {
    for (const StepResult& step : run.search.steps) EXPECT_EQ(step.mean_service_ms, 0);
  }
  old["serving"]["config"]["generator_spin_us"] = "fast";
  EXPECT_THROW(results_from_json(old, "old.json"), InputError);
}

TEST(ResultsMalformed, ServingSectionsThatLie) {
  const auto broken = [](const std::function<void(Json&)>& change) {
    Json j = serving_json();
    change(j);
    return from_json_error(j);
  };
  EXPECT_THAT(broken([](Json& j) { j["serving"]["runs"][2].erase("simulated_from"); }), HasSubstr("simulated_from"));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["runs"][0]["simulated_from"] = "somewhere"; }), HasSubstr("simulated_from"));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["runs"][0]["steps"][1]["simulated"] = true; }),
              AllOf(HasSubstr("serving.runs[0].steps[1]"), HasSubstr("a measured run holds only measured steps")));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["runs"][0]["source"] = "estimated"; }), HasSubstr("\"source\" must be \"measured\" or \"simulated\""));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["runs"][0]["device"] = "TPU"; }), HasSubstr("\"device\" must be"));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["runs"][0]["steps"][0]["p99_ms"] = 99; }), HasSubstr("latencies out of order"));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["runs"][0]["steps"][0]["completed"] = 2001; }), HasSubstr("more requests completed than issued"));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["runs"][0]["steps"][0]["issued"] = 1.5; }), HasSubstr("\"issued\" must be a non-negative integer"));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["best"]["CPU"]["qps"] = 8000; }), HasSubstr("\"best\" differs"));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["config"].erase("slo_ms"); }), AllOf(HasSubstr("serving.config"), HasSubstr("slo_ms")));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["config"]["seed"] = -1; }), HasSubstr("\"seed\" must be a non-negative integer"));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["runs"][1]["settings"]["workers"] = 0; }), HasSubstr("workers"));
  EXPECT_THAT(broken([](Json& j) { j["serving"]["runs"][0].erase("steps"); }), HasSubstr("missing \"steps\""));
}

// Writes tests/data/results-serving.json, the fixture schema_test validates and the test above reads: the old file's
// cells (results-before-sources.json), and under load the CPU served live here (eigen, one worker, three rates),
// the CPU simulated from its own measured cells and the GPU simulated from the file's reference cells. Run with
// MLPBENCH_WRITE_FIXTURES=1 after changing the file's shape; else skipped.
TEST(ResultsServing, WriteFixture) {
  if (!std::getenv("MLPBENCH_WRITE_FIXTURES")) GTEST_SKIP() << "MLPBENCH_WRITE_FIXTURES is not set: the committed fixture is kept";
  Results r = read_results(MLPBENCH_SOURCE_DIR "/tests/data/results-before-sources.json");
  r.note = "A test fixture, written by tests/results_test.cpp (ResultsServing.WriteFixture, MLPBENCH_WRITE_FIXTURES=1): the cells of "
           "tests/data/results-before-sources.json, three rates served live on the CPU of the machine that wrote it, and two simulated searches.";
  Serving sv;
  sv.config.min_requests = 300;
  sv.config.min_step_s = 0.05;
  sv.config.search_start_qps = 2000;
  sv.config.search_tolerance = 0.25;
  sv.config.slo_ms = 10;  // a bound a shared 2-core VM meets
  const Model model = make_seeded_model(r.model.layers, 1);
  std::unique_ptr<Backend> cpu = make_cpu_backend(1);
  cpu->prepare(model, sv.config.max_batch);
  {
    ServeConfig rates = sv.config;  // three given rates, not a search: a few seconds (a run's own "settings")
    rates.qps = {500, 2000, 8000};
    LiveServer server({cpu.get()}, model.widths().front(), model.widths().back(), rates);
    sv.runs.push_back({"CPU", cpu->name(), "workers=1,threads=1", "measured", "", run_serve([&](double q) { return server.step(q); }, rates)});
  }
  for (const char* dev : kDevices) {
    std::vector<std::pair<int, double>> ms;
    for (const auto& [batch, cell] : r.table.cells.at(dev)) ms.emplace_back(batch, cell.median_ms());
    Simulator sim(ServiceTable(ms), sv.config);
    const std::string from = std::string("the ") + dev + " column of this run (" + column_source(r.table, dev) + ")";
    sv.runs.push_back({dev, r.table.find(dev, 1)->backend, "workers=1", "simulated", from, run_serve([&](double q) { return sim.step(q); }, sv.config)});
  }
  r.serving = std::move(sv);
  write_plain(MLPBENCH_SOURCE_DIR "/tests/data/results-serving.json", dump_json(to_json(r)));
}
