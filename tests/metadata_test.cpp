// Typed machine / build / run metadata: every field round-trips in the file's key order, absent stays absent
// (peers and older files record less), a GPU of "none" differs from "not recorded", unknown keys are kept, and a
// known key of the wrong type is an input error naming it.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mlpbench/errors.hpp"
#include "mlpbench/metadata.hpp"
#include "test_util.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;

namespace {

std::vector<std::string> keys(const Json& j) {
  std::vector<std::string> k;
  for (const auto& [key, v] : j.items()) k.push_back(key);
  return k;
}

}  // namespace

TEST(Metadata, MachineRoundTripsInOrderWithItsGpuClocksAndRoof) {
  const Json j = Json::parse(R"({"host": "h", "cpu": "AMD EPYC", "cores": 2, "threads": 2, "os": "Linux 6 x86_64",
    "gpu": {"name": "NVIDIA H200", "driver": "13.0", "cuda_runtime": "13.0", "driver_release": "580.1"},
    "gpu_clocks_mhz": {"start": 1980, "end": 1755, "max": 1980}, "roof": {"schema": "mlpbench-machine/1"}, "rack": "B7"})");
  const MachineInfo m = machine_from_json(j, "machine");
  EXPECT_EQ(m.cpu, "AMD EPYC");
  EXPECT_EQ(m.cores, 2);
  ASSERT_TRUE(m.gpu);
  EXPECT_EQ(gpu_text(m), "NVIDIA H200");
  EXPECT_EQ(m.gpu->extra["driver_release"], "580.1") << "a peer's extra GPU key is kept";
  ASSERT_TRUE(m.gpu_clocks_mhz);
  EXPECT_EQ(m.gpu_clocks_mhz->end, 1755u);
  EXPECT_EQ(m.extra["rack"], "B7");
  EXPECT_EQ(to_json(m), j) << "the same keys, values and order";
  EXPECT_FALSE(m.gpu_clocks_mhz->timed) << "a file from before the readings while timing";
}

TEST(Metadata, GpuClocksReadWhileTimingRoundTrip) {
  const Json j = Json::parse(R"({"gpu_clocks_mhz": {"start": 345, "end": 1980, "max": 1980,
    "timed": {"readings": 36, "min": 1755, "median": 1980, "max": 1980, "reasons": "sw power cap"}}})");
  const MachineInfo m = machine_from_json(j, "machine");
  ASSERT_TRUE(m.gpu_clocks_mhz && m.gpu_clocks_mhz->timed);
  EXPECT_EQ(m.gpu_clocks_mhz->timed->readings, 36);
  EXPECT_EQ(m.gpu_clocks_mhz->timed->median, 1980u);
  EXPECT_EQ(m.gpu_clocks_mhz->timed->reasons, "sw power cap");
  EXPECT_EQ(to_json(m), j);
  EXPECT_THROW(machine_from_json(Json::parse(R"({"gpu_clocks_mhz": {"start": 1, "end": 1, "max": 1, "timed": {"median": "fast"}}})"), "machine"),
               InputError);
}

TEST(Metadata, NoGpuAndAnUnrecordedGpuDiffer) {
  const MachineInfo none = machine_from_json(Json::parse(R"({"gpu": null})"), "machine");
  EXPECT_EQ(gpu_text(none), "none");
  EXPECT_EQ(to_json(none), Json::parse(R"({"gpu": null})"));
  const MachineInfo silent = machine_from_json(Json::object(), "machine");
  EXPECT_EQ(gpu_text(silent), "");
  EXPECT_EQ(to_json(silent), Json::object()) << "nothing recorded, nothing written";
}

TEST(Metadata, BuildKeepsCudaNoneApartFromNotSaying) {
  const Json j = Json::parse(R"({"compiler": "gcc 12", "build_type": "Release", "flags": "-O3", "eigen": "3.4.0", "cuda": null, "git_commit": "abc"})");
  const BuildInfo b = build_from_json(j, "build");
  EXPECT_TRUE(b.cuda_recorded);
  EXPECT_FALSE(b.cuda);
  EXPECT_EQ(to_json(b), j);
  const Json peer = Json::parse(R"({"peer": "torch 2.11", "python": "3.12"})");
  EXPECT_EQ(to_json(build_from_json(peer, "build")), peer);
}

TEST(Metadata, RunSettingsRoundTripAndThreadsReadAsText) {
  const Json j = Json::parse(R"({"started_utc": "2026-11-29T12:00:00Z", "command": "mlpbench run", "batch_sizes": [1, 10, 100],
    "device": "all", "precision": "fp32", "gpu_io": "both", "quick": false, "input_seed": 1, "threads": [1, 2], "modes": "eager"})");
  const RunInfo r = run_from_json(j, "run");
  EXPECT_EQ(r.batch_sizes, (std::vector<int>{1, 10, 100}));
  EXPECT_EQ(threads_text(r), "[1,2]");
  EXPECT_EQ(keys(to_json(r)).back(), "modes") << "unknown keys after the known ones";
  EXPECT_EQ(to_json(r), j);
}

TEST(Metadata, AKnownKeyOfTheWrongTypeIsNamed) {
  const std::string e1 = mlpbench::testing::input_error([] { machine_from_json(Json::parse(R"({"cores": "two"})"), "f.json: machine"); });
  EXPECT_THAT(e1, HasSubstr("f.json: machine.cores must be an integer"));
  const std::string e2 = mlpbench::testing::input_error([] { run_from_json(Json::parse(R"({"threads": [1, "x"]})"), "run"); });
  EXPECT_THAT(e2, HasSubstr("run.threads must be an array of integers"));
  const std::string e3 = mlpbench::testing::input_error([] { machine_from_json(Json::parse(R"({"gpu": {"name": 3}})"), "machine"); });
  EXPECT_THAT(e3, HasSubstr("machine.gpu.name must be a string"));
  EXPECT_THROW(build_from_json(Json::array(), "build"), InputError);
}
