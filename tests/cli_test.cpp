// The mlpbench command end to end on this machine: run, infer, report, and every kind of bad input
// (exit 2 with one line on stderr, no output file), runtime failures (exit 3).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "mlpbench/backend.hpp"
#include "mlpbench/check.hpp"
#include "mlpbench/results.hpp"
#include "mlpbench/safetensors.hpp"
#include "mlpbench/sysinfo.hpp"
#include "mlpbench/defaults.hpp"
#include "mlpbench/threads.hpp"
#include "test_util.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using mlpbench::testing::slurp;
using mlpbench::testing::write_plain;
namespace fs = std::filesystem;

namespace {

struct Outcome {
  int code;
  std::string out;
  std::string err;
};

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    // One machine measurement for every test process of this build (ctest runs each test alone), kept out of
    // the user's cache; written atomically, so parallel tests share it safely.
    static const std::string cache = (fs::path(MLPBENCH_EXE).parent_path() / "cli_test_cache").string();
    ::setenv("MLPBENCH_CACHE_DIR", cache.c_str(), 1);
    dir_ = fs::temp_directory_path() / ("mlpbench_cli_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Runs `mlpbench <args>` in the temporary folder.
  Outcome mlpbench(const std::string& args) const { return mlpbench_env("", args); }
  // The same with environment assignments first ("NAME='value' ").
  Outcome mlpbench_env(const std::string& env, const std::string& args) const {
    const std::string cmd = "cd '" + dir_.string() + "' && " + env + MLPBENCH_EXE + " " + args + " >stdout.txt 2>stderr.txt";
    const int status = std::system(cmd.c_str());
    Outcome o{WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(dir_ / "stdout.txt"), slurp(dir_ / "stderr.txt")};
    fs::remove(dir_ / "stdout.txt");
    fs::remove(dir_ / "stderr.txt");
    return o;
  }

  // Files in the temporary folder (and below), besides the ones a test made itself.
  std::vector<std::string> files() const {
    std::vector<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(dir_)) {
      if (e.is_regular_file()) names.push_back(fs::relative(e.path(), dir_).string());
    }
    std::sort(names.begin(), names.end());
    return names;
  }

  void write(const std::string& name, const std::vector<std::uint8_t>& bytes) const {
    std::ofstream(dir_ / name, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  }

  static std::vector<std::uint8_t> model_file(const Model& m) {
    TensorMap t;
    for (std::size_t i = 0; i < m.layers.size(); ++i) {
      const Layer& l = m.layers[i];
      // nn.Sequential numbering: Linear, ReLU, Linear, ... -> 0, 2, 4
      t[std::to_string(2 * i) + ".weight"] = Tensor{"F32", {l.out, l.in}, l.weight};
      t[std::to_string(2 * i) + ".bias"] = Tensor{"F32", {l.out}, l.bias};
    }
    return serialize_safetensors(t);
  }

  fs::path dir_;
};

std::string reference_json() { return std::string(MLPBENCH_SOURCE_DIR) + "/results/reference.json"; }

void expect_usage_error(const Outcome& o, const std::string& mentions) {
  EXPECT_EQ(o.code, 2) << o.err;
  EXPECT_THAT(o.err, StartsWith("mlpbench: error: "));
  EXPECT_THAT(o.err, HasSubstr(mentions));
  EXPECT_EQ(std::count(o.err.begin(), o.err.end(), '\n'), 1) << "one line on stderr: " << o.err;
  EXPECT_EQ(o.out, "");
}

}  // namespace

TEST_F(Cli, ReportOfTheReferenceTablePrintsTheThreeLines) {
  const Outcome o = mlpbench("report --from " + reference_json() + " --batch-size 10");
  ASSERT_EQ(o.code, 0) << o.err;
  // The three lines the file records, each labelled: illustrative values decide nothing, and the next line says why.
  EXPECT_THAT(o.out, StartsWith("CPU time: 400 ms (illustrative, not measured)\nGPU time: 100 ms (illustrative, not measured)\n"
                                "Faster hardware: unknown\nWhy unknown: both times are illustrative values from results/reference.json, not "
                                "measurements."));
  EXPECT_THAT(o.out, HasSubstr("reference values from"));
  const Outcome one = mlpbench("report --from " + reference_json() + " --batch-size 1");
  EXPECT_THAT(one.out, StartsWith("CPU time: 50 ms (illustrative, not measured)\nGPU time: 30 ms (illustrative, not measured)\n"
                                  "Faster hardware: unknown\n"));
  expect_usage_error(mlpbench("report --from " + reference_json() + " --batch-size 7"), "has batch sizes 1,10,100");
  expect_usage_error(mlpbench("report --from missing.json"), "missing.json");
}

TEST_F(Cli, QuickRunMeasuresTheCpuAndTakesTheGpuFromTheReference) {
  const Outcome o = mlpbench("run --quick --reference " + reference_json() + " --out r.json");
  ASSERT_EQ(o.code, 0) << o.err;
  const GpuBackends gpu = make_gpu_backends();
  if (gpu.backends.empty()) {
    // No GPU here: the GPU time is the shipped illustrative value, labelled, and there is no verdict.
    EXPECT_THAT(o.out, ::testing::ContainsRegex("^CPU time: [0-9.]+ ms\nGPU time: 100 ms \\(illustrative, not measured\\)\n"
                                                "Faster hardware: unknown\nWhy unknown: the GPU time is an illustrative value from "));
    EXPECT_THAT(o.out, ::testing::Not(HasSubstr("faster than the GPU")));
  } else {
    EXPECT_THAT(o.out, ::testing::ContainsRegex("^CPU time: [0-9.]+ ms\nGPU time: [0-9.]+ ms\nFaster hardware: (CPU|GPU)\n"));
  }
  EXPECT_THAT(o.out, HasSubstr("Results written to r.json"));
  const Results r = read_results((dir_ / "r.json").string());
  // By default every CPU backend runs at 1 thread, at every core and at the powers of two between; the headline
  // is the fastest of them all.
  const std::vector<int> counts = default_thread_counts(available_cores());
  EXPECT_EQ(counts.front(), 1);
  EXPECT_EQ(counts.back(), available_cores());
  for (int b : {1, 10, 100}) {
    const Cell* cpu = r.table.find("CPU", b);
    ASSERT_NE(cpu, nullptr) << b;
    EXPECT_EQ(cpu->source, Source::Measured);
    EXPECT_THAT(cpu->backend, ::testing::AnyOf("eigen", "eigen-omp-packed"));
    ASSERT_EQ(cpu->runs.size(), 2 * counts.size()) << "both CPU backends at every thread count are timed";
    for (std::size_t k = 0; k < counts.size(); ++k) {
      EXPECT_EQ(cpu->runs[2 * k].backend, "eigen");
      EXPECT_EQ(cpu->runs[2 * k + 1].backend, "eigen-omp-packed");
      EXPECT_EQ(cpu->runs[2 * k].config.rfind("threads=" + std::to_string(counts[k]) + ",", 0), 0u) << cpu->runs[2 * k].config;
    }
    EXPECT_EQ(r.run.threads, std::optional<std::vector<int>>(counts));
    for (const BackendRun& run : cpu->runs) EXPECT_LE(cpu->median_ms(), run.stats.median_ms) << "the headline is the fastest";
    EXPECT_GT(cpu->stats.samples, 0);
    EXPECT_EQ(cpu->stats.samples_ms.size(), static_cast<std::size_t>(cpu->stats.samples));
    const Cell* g = r.table.find("GPU", b);
    ASSERT_NE(g, nullptr) << b;
    if (gpu.backends.empty()) {
      EXPECT_EQ(g->source, Source::Reference);
      EXPECT_EQ(g->reference_file, reference_json());
      EXPECT_THAT(o.out, HasSubstr("GPU times are illustrative reference values from " + reference_json() + ", not measurements; not measured here: " +
                                   gpu.unavailable + "."));
    } else {
      // As strict as the CPU column: measured, positive, every backend checked and timed.
      EXPECT_EQ(g->source, Source::Measured);
      EXPECT_GT(g->median_ms(), 0);
      EXPECT_EQ(g->stats.samples_ms.size(), static_cast<std::size_t>(g->stats.samples));
      EXPECT_EQ(g->runs.size(), gpu.backends.size()) << "every GPU backend passes its check and is timed";
      EXPECT_THAT(g->io, ::testing::AnyOf("copy", "zero-copy"));
      ASSERT_TRUE(g->split) << "the device-only time";
      EXPECT_GT(g->split->compute_ms, 0);
      ASSERT_TRUE(g->energy) << "energy per inference, or why not";
      EXPECT_TRUE(g->energy->joules_per_inference > 0 || !g->energy->unavailable.empty());
      EXPECT_THAT(o.out, ::testing::Not(HasSubstr("reference values")));
      EXPECT_THAT(o.out, ::testing::Not(HasSubstr("GPU reference")));
    }
  }
  const Json j = Json::parse(slurp(dir_ / "r.json"));
  EXPECT_EQ(j["schema"], "mlpbench/1");
  EXPECT_EQ(j["model"]["layers"], Json::parse("[784,512,512,10]"));
  EXPECT_EQ(j["model"]["weights"]["kind"], "seed");
  EXPECT_EQ(j["machine"]["cores"], available_cores());
  EXPECT_THAT(j["run"]["command"].get<std::string>(), HasSubstr("run --quick"));
  EXPECT_FALSE(j["build"]["git_commit"].get<std::string>().empty());
  EXPECT_EQ(j["inference_times_ms"]["CPU"]["10"], j["cells"]["CPU"]["10"]["median_ms"]);

  // The file is re-readable by report, and never replaced without --force.
  const std::string before = slurp(dir_ / "r.json");
  expect_usage_error(mlpbench("run --quick --out r.json"), "--force");
  EXPECT_EQ(slurp(dir_ / "r.json"), before);
  EXPECT_EQ(mlpbench("run --quick --batch-sizes 2 --batch-size 2 --out r.json --force").code, 0);
  EXPECT_NE(slurp(dir_ / "r.json"), before);
  const Outcome rep = mlpbench("report --from r.json --batch-size 2");
  EXPECT_EQ(rep.code, 0) << rep.err;
  if (gpu.backends.empty()) {
    EXPECT_THAT(rep.out, HasSubstr("GPU time: n/a"));  // the reference table has no batch 2
    EXPECT_THAT(rep.out, HasSubstr("Faster hardware: unknown"));
  } else {
    EXPECT_THAT(rep.out, ::testing::ContainsRegex("GPU time: [0-9.e-]+ ms\nFaster hardware: (CPU|GPU)\n"));  // measured at batch 2 too
  }
}

// Piped (stderr not a terminal), a run says what it finished, a line at a time: every round and every cell.
TEST_F(Cli, ProgressInALogIsOneLinePerRoundAndPerCell) {
  const Outcome o = mlpbench("run --quick --device cpu --batch-sizes 1,10 --reference " + reference_json() + " --out r.json");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.err, ::testing::ContainsRegex("\\[ *[0-9.]+ s\\] round 1 done \\([0-9.]+ s\\), drift probe [0-9.]+ ms\n"));
  EXPECT_THAT(o.err, ::testing::ContainsRegex("\\[ *[0-9.]+ s\\] CPU batch 1: [0-9.e-]+ ms \\(eigen"));
  EXPECT_THAT(o.err, ::testing::ContainsRegex("\\[ *[0-9.]+ s\\] CPU batch 10: "));
  EXPECT_EQ(o.err.find('\r'), std::string::npos) << "no in-place updates in a log";
  const Json j = Json::parse(slurp(dir_ / "r.json"));
  ASSERT_TRUE(j["run"].contains("drift"));
  EXPECT_GE(j["run"]["drift"]["rounds_ms"].size(), 3u);
}

// --cache both: every cell timed hot and cold; the three lines stay hot, the table has a cold row per batch size,
// the file a "cold" section; cold cells never take a (hot) reference.
TEST_F(Cli, CacheBothMeasuresEveryCellHotAndCold) {
  const Outcome o = mlpbench("run --quick --device cpu --layers 24,16,4 --batch-sizes 1,2 --batch-size 1 --cache both --out r.json");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, ::testing::StartsWith("CPU time: "));
  EXPECT_THAT(o.out, ::testing::ContainsRegex("\n *1 cold [|] +[0-9.]+ .*measured"));
  EXPECT_THAT(o.out, ::testing::ContainsRegex("\n *2 cold [|] +[0-9.]+ .*measured"));
  EXPECT_THAT(o.err, ::testing::ContainsRegex("CPU batch 1 cold: [0-9.]+ ms"));
  const Json j = Json::parse(slurp(dir_ / "r.json"));
  EXPECT_EQ(j["run"]["cache"], "both");
  EXPECT_EQ(j["cells"]["CPU"]["1"]["cache"], "hot");
  EXPECT_EQ(j["cold"]["cells"]["CPU"]["1"]["cache"], "cold");
  EXPECT_EQ(j["cold"]["cells"]["CPU"]["2"]["cache"], "cold");
  // A cold-only run of the default model: no reference stands in for the GPU column (it holds hot numbers).
  const Outcome cold = mlpbench("run --quick --batch-sizes 1 --batch-size 1 --cache cold --device cpu --out c.json");
  ASSERT_EQ(cold.code, 0) << cold.err;
  EXPECT_THAT(cold.out, HasSubstr("(weights cold: "));
  const Json c = Json::parse(slurp(dir_ / "c.json"));
  EXPECT_EQ(c["cells"]["CPU"]["1"]["cache"], "cold");
  EXPECT_TRUE(c["cells"]["GPU"].empty());
  EXPECT_THAT(c["not_measured"]["GPU"].get<std::string>(), HasSubstr("a reference holds hot numbers"));
}

// The default is the layout of --out results/: results/<host>/<UTC time>-<commit>.json.
TEST_F(Cli, DefaultOutputGoesUnderResultsNamedByHostTimeAndCommit) {
  const Outcome o = mlpbench("run --quick --batch-sizes 1 --batch-size 1");
  ASSERT_EQ(o.code, 0) << o.err;
  const std::vector<std::string> f = files();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_THAT(f[0], ::testing::MatchesRegex("results/[A-Za-z0-9._-]+/[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]+\\.json"));
  EXPECT_THAT(o.out, HasSubstr("Results written to " + f[0]));
}

// --out -: the file on standard output, the command's own lines on standard error, no file named "-".
TEST_F(Cli, DashAsTheOutputIsStandardOutput) {
  const Outcome run = mlpbench("run --quick --device cpu --layers 8,4 --batch-sizes 1,2 --batch-size 1 --out -");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_TRUE(files().empty()) << ::testing::PrintToString(files());
  const Json j = Json::parse(run.out);  // stdout holds the results JSON alone
  EXPECT_EQ(j["model"]["layers"], Json::parse("[8,4]"));
  EXPECT_EQ(parse_results_text(run.out, "stdout").table.find("CPU", 2)->source, Source::Measured);
  EXPECT_THAT(run.err, HasSubstr("\nCPU time: "));
  EXPECT_THAT(run.err, HasSubstr("\nResults written to standard output\n"));

  write("r.json", std::vector<std::uint8_t>(run.out.begin(), run.out.end()));
  const Outcome plot = mlpbench("plot r.json --out -");
  ASSERT_EQ(plot.code, 0) << plot.err;
  EXPECT_THAT(plot.out, StartsWith("<?xml"));
  EXPECT_THAT(plot.out, ::testing::EndsWith("</svg>\n"));
  EXPECT_EQ(plot.err, "Wrote standard output\n");

  const Outcome weights = mlpbench("export-weights --layers 8,4 --out -");
  ASSERT_EQ(weights.code, 0) << weights.err;
  const std::vector<std::uint8_t> bytes(weights.out.begin(), weights.out.end());
  EXPECT_EQ(parse_safetensors(bytes.data(), bytes.size(), "stdout").at("0.weight").shape, (std::vector<std::int64_t>{4, 8}));
  EXPECT_THAT(weights.err, HasSubstr("to standard output"));
  EXPECT_EQ(files(), (std::vector<std::string>{"r.json"}));
}

TEST_F(Cli, VersionIsOneLine) {
  const Outcome o = mlpbench("--version");
  EXPECT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, ::testing::MatchesRegex("mlpbench [0-9]+\\.[0-9]+\\.[0-9]+ \\(commit ([0-9a-f]{12}(-dirty)?|unknown), [A-Za-z]*, "
                                             "[a-z]+ [^,]+, CUDA ([0-9]+\\.[0-9]+|none|emulated)\\)\n"));
  EXPECT_EQ(o.err, "");
}

// A safetensors file given as a results file: one printable line that says what it is.
TEST_F(Cli, ASafetensorsFileAsResultsGetsACleanOneLineError) {
  write("w.safetensors", model_file(make_seeded_model({4, 3, 2}, 1)));
  for (const char* args : {"report --from w.safetensors", "compare w.safetensors w.safetensors", "plot w.safetensors --out p.svg",
                                  "run --quick --device cpu --layers 4,3,2 --reference w.safetensors --out r.json"}) {
    SCOPED_TRACE(args);
    const Outcome o = mlpbench(args);
    expect_usage_error(o, "results file 'w.safetensors' is not JSON (it starts with binary bytes; a safetensors file?)");
    for (unsigned char c : o.err) EXPECT_TRUE(c == '\n' || (c >= 0x20 && c < 0x7f)) << "byte " << int(c);
    EXPECT_EQ(files(), (std::vector<std::string>{"w.safetensors"}));
  }
}

TEST_F(Cli, BadCommandLinesExitTwoWithOneLineAndNoFile) {
  struct Bad {
    std::string args;
    std::string mentions;
  };
  const Bad cases[] = {
      {"run --layers 784,,10", "entry #2 is empty"},
      {"run --layers 784,0,10", "--layers entry #2: '0' is out of range [1, 65536]"},
      {"run --layers=-3,4", "--layers entry #1: '-3' is out of range"},
      {"run --layers abc", "'abc' is not an integer"},
      {"run --layers 784", "at least two widths"},
      {"run --layers 784,99999999999", "out of range"},
      {"run --batch-sizes 0", "--batch-sizes entry #1"},
      {"run --batch-sizes=-5", "--batch-sizes entry #1"},
      {"run --batch-sizes 1,x", "'x' is not an integer"},
      {"run --batch-sizes 16000000", "GiB (weights"},
      {"run --layers 65536,65536,65536,65536", "more than half of this machine's"},
      {"run --batch-size 0", "--batch-size"},
      {"run --threads abc", "--threads"},
      {"run --threads=-1", "--threads"},
      {"run --device tpu", "--device"},
      {"run --cache warm", "--cache"},
      {"run --seed x", "--seed"},
      {"run --weights missing.safetensors", "missing.safetensors"},
      {"run --layers 4,4 --weights w.safetensors", "excludes"},
      {"run --bogus", "bogus"},
      {"", "subcommand"},
      {"infer --input x.safetensors", "--output"},
      {"report", "--from"},
  };
  for (const Bad& b : cases) {
    SCOPED_TRACE(b.args);
    expect_usage_error(mlpbench(b.args + (b.args.rfind("run", 0) == 0 ? " --out out.json" : "")), b.mentions);
    EXPECT_TRUE(files().empty());
  }
}

TEST_F(Cli, BadFilesExitTwo) {
  write("short.safetensors", {1, 2, 3});
  std::vector<std::uint8_t> huge_header = {0xff, 0xff, 0, 0, 0, 0, 0, 0, '{', '}'};
  write("huge.safetensors", huge_header);
  Model m = make_seeded_model({4, 3, 2}, 1);
  TensorMap no_weight;
  no_weight["0.bias"] = Tensor{"F32", {3}, m.layers[0].bias};
  write("noweight.safetensors", serialize_safetensors(no_weight));
  std::ofstream(dir_ / "bad.json") << "{\"schema\": \"mlpbench/1\", \"cells\": ";
  std::ofstream(dir_ / "wrong.json") << "{\"schema\": \"other/2\", \"cells\": {}}";
  const std::pair<std::string, std::string> cases[] = {
      {"run --quick --weights short.safetensors", "shorter than the 8-byte header length"},
      {"run --quick --weights huge.safetensors", "runs past the end of the file"},
      {"run --quick --weights noweight.safetensors", "tensor '0.bias' has no matching '0.weight'"},
      {"run --quick --reference bad.json", "not valid JSON"},
      {"run --quick --reference wrong.json", "schema \"other/2\""},
      {"run --quick --reference nothere.json", "nothere.json"},
      {"report --from bad.json", "not valid JSON"},
  };
  const std::vector<std::string> before = files();
  for (const auto& [args, mentions] : cases) {
    SCOPED_TRACE(args);
    expect_usage_error(mlpbench(args + (args.rfind("run", 0) == 0 ? " --out out.json" : "")), mentions);
    EXPECT_EQ(files(), before) << "no output file";
  }
}

TEST_F(Cli, RunWithUserWeightsRecordsTheFileAndItsHash) {
  write("w.safetensors", model_file(make_seeded_model({6, 9, 4}, 5)));
  const Outcome o = mlpbench("run --quick --weights w.safetensors --batch-sizes 1,3 --batch-size 3 --out r.json");
  ASSERT_EQ(o.code, 0) << o.err;
  const Json j = Json::parse(slurp(dir_ / "r.json"));
  EXPECT_EQ(j["model"]["layers"], Json::parse("[6,9,4]"));
  EXPECT_EQ(j["model"]["weights"]["kind"], "file");
  EXPECT_EQ(j["model"]["weights"]["file"], "w.safetensors");
  EXPECT_EQ(j["model"]["weights"]["sha256"], sha256_file((dir_ / "w.safetensors").string()));
  EXPECT_EQ(j["cells"]["CPU"]["3"]["source"], "measured");
}

TEST_F(Cli, InferMatchesTheDoublePrecisionReference) {
  const Model m = make_seeded_model({37, 129, 65, 3}, 11);
  write("w.safetensors", model_file(m));
  const std::vector<float> x = make_seeded_input(5, 37, 2);
  write("x.safetensors", serialize_safetensors({{"input", Tensor{"F32", {5, 37}, x}}}));
  const Outcome o = mlpbench("infer --weights w.safetensors --input x.safetensors --output y.safetensors");
  ASSERT_EQ(o.code, 0) << o.err;
  const TensorMap y = read_safetensors((dir_ / "y.safetensors").string());
  ASSERT_EQ(y.count("output"), 1u);
  EXPECT_EQ(y.at("output").shape, (std::vector<std::int64_t>{5, 3}));
  const std::vector<double> ref = reference_forward(m, x.data(), 5);
  const CheckResult c = check_close(y.at("output").data.data(), ref.data(), ref.size(), kToleranceF32);
  EXPECT_TRUE(c.ok) << c.first_mismatches;

  // Never overwrites without --force; a wrong input width and a missing tensor are input errors.
  expect_usage_error(mlpbench("infer --weights w.safetensors --input x.safetensors --output y.safetensors"), "--force");
  write("narrow.safetensors", serialize_safetensors({{"input", Tensor{"F32", {5, 36}, std::vector<float>(180)}}}));
  expect_usage_error(mlpbench("infer --weights w.safetensors --input narrow.safetensors --output z.safetensors"), "36 wide, the model takes 37");
  write("named.safetensors", serialize_safetensors({{"x", Tensor{"F32", {5, 37}, x}}}));
  expect_usage_error(mlpbench("infer --weights w.safetensors --input named.safetensors --output z.safetensors"), "no tensor named 'input'");
  EXPECT_FALSE(fs::exists(dir_ / "z.safetensors"));
}

namespace {

// The layers of `m` as a state_dict under `names` (bias left out where `with_bias` says so).
TensorMap named_layers(const Model& m, const std::vector<std::string>& names, const std::vector<bool>& with_bias = {}) {
  TensorMap t;
  for (std::size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    t[names[i] + ".weight"] = Tensor{"F32", {l.out, l.in}, l.weight};
    if (with_bias.empty() || with_bias[i]) t[names[i] + ".bias"] = Tensor{"F32", {l.out}, l.bias};
  }
  return t;
}

// Whether infer's output file holds the float64 forward of `m` on x [batch, in].
::testing::AssertionResult output_matches(const fs::path& file, const Model& m, const std::vector<float>& x, int batch) {
  const TensorMap y = read_safetensors(file.string());
  if (!y.count("output")) return ::testing::AssertionFailure() << "no tensor 'output'";
  const std::vector<double> ref = reference_forward(m, x.data(), batch);
  if (y.at("output").data.size() != ref.size()) return ::testing::AssertionFailure() << "output size " << y.at("output").data.size();
  const CheckResult c = check_close(y.at("output").data.data(), ref.data(), ref.size(), kToleranceF32);
  return c.ok ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << c.first_mismatches;
}

}  // namespace

TEST_F(Cli, LayersWhoseNamesCarryNoOrderRunInTheOrderGiven) {
  // A state_dict saved as proj then head, both 32x32: either order chains, and the names don't say which.
  const Model m = make_seeded_model({32, 32, 32}, 3);
  const TensorMap t = named_layers(m, {"proj", "head"});
  write("w.safetensors", serialize_safetensors(t));
  const std::vector<float> x = make_seeded_input(3, 32, 2);
  write("x.safetensors", serialize_safetensors({{"input", Tensor{"F32", {3, 32}, x}}}));
  const std::string infer = "infer --input x.safetensors --output y.safetensors --weights ";

  const Outcome refused = mlpbench(infer + "w.safetensors");
  expect_usage_error(refused, "w.safetensors: the layers head (32->32), proj (32->32) chain in more than one order");
  EXPECT_THAT(refused.err, HasSubstr("give the order with --layer-order FIRST,...,LAST"));
  EXPECT_THAT(refused.err, HasSubstr("\"layer_order\" entry"));
  EXPECT_FALSE(fs::exists(dir_ / "y.safetensors"));

  const Outcome o = mlpbench(infer + "w.safetensors --layer-order proj,head");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.err, "mlpbench: layers of w.safetensors in the order of --layer-order: proj (32->32), head (32->32)\n");
  EXPECT_TRUE(output_matches(dir_ / "y.safetensors", m, x, 3));
  Model swapped = m;
  std::swap(swapped.layers[0], swapped.layers[1]);
  EXPECT_FALSE(output_matches(dir_ / "y.safetensors", swapped, x, 3)) << "the order matters for these weights";

  // The same order from the file's metadata; the option wins over it.
  write("meta.safetensors", serialize_safetensors(t, {{"layer_order", "proj,head"}}));
  fs::remove(dir_ / "y.safetensors");
  const Outcome meta = mlpbench(infer + "meta.safetensors");
  ASSERT_EQ(meta.code, 0) << meta.err;
  EXPECT_EQ(meta.err, "mlpbench: layers of meta.safetensors in the order of its __metadata__ layer_order: proj (32->32), head (32->32)\n");
  EXPECT_TRUE(output_matches(dir_ / "y.safetensors", m, x, 3));
  fs::remove(dir_ / "y.safetensors");
  const Outcome both = mlpbench(infer + "meta.safetensors --layer-order head,proj");
  ASSERT_EQ(both.code, 0) << both.err;
  EXPECT_THAT(both.err, HasSubstr("in the order of --layer-order: head (32->32), proj (32->32)"));
  EXPECT_TRUE(output_matches(dir_ / "y.safetensors", swapped, x, 3));

  // run records the order and how it was decided.
  const Outcome r = mlpbench("run --quick --weights w.safetensors --layer-order proj,head --batch-sizes 1 --batch-size 1 --out r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.err, HasSubstr("mlpbench: layers of w.safetensors in the order of --layer-order: proj (32->32), head (32->32)\n"));
  const Json j = Json::parse(slurp(dir_ / "r.json"));
  EXPECT_EQ(j["model"]["weights"]["layer_names"], Json::parse(R"(["proj", "head"])"));
  EXPECT_EQ(j["model"]["weights"]["layer_order"], "--layer-order");
  EXPECT_FALSE(j["model"]["weights"].contains("no_bias"));
}

TEST_F(Cli, TheOnlyOrderThatChainsIsUsedAndSaid) {
  // Alphabetically body, head, stem: they would not chain. Only stem -> body -> head does.
  const Model m = make_seeded_model({32, 64, 16, 2}, 7);
  write("w.safetensors", serialize_safetensors(named_layers(m, {"stem", "body", "head"})));
  const std::vector<float> x = make_seeded_input(4, 32, 1);
  write("x.safetensors", serialize_safetensors({{"input", Tensor{"F32", {4, 32}, x}}}));
  const Outcome o = mlpbench("infer --weights w.safetensors --input x.safetensors --output y.safetensors");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.err, "mlpbench: layers of w.safetensors in the only order that chains: stem (32->64), body (64->16), head (16->2)\n");
  EXPECT_TRUE(output_matches(dir_ / "y.safetensors", m, x, 4));
}

TEST_F(Cli, LayersWithoutBiasRunWithAZeroBias) {
  // nn.Sequential(Linear(12, 20, bias=False), ReLU, Linear(20, 5)).
  Model m = make_seeded_model({12, 20, 5}, 9);
  write("w.safetensors", serialize_safetensors(named_layers(m, {"0", "2"}, {false, true})));
  std::fill(m.layers[0].bias.begin(), m.layers[0].bias.end(), 0.0f);
  const std::vector<float> x = make_seeded_input(6, 12, 4);
  write("x.safetensors", serialize_safetensors({{"input", Tensor{"F32", {6, 12}, x}}}));
  const Outcome o = mlpbench("infer --weights w.safetensors --input x.safetensors --output y.safetensors");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_EQ(o.err, "mlpbench: layers of w.safetensors in the order of the numbers in their names: 0 (12->20, no bias), 2 (20->5)\n");
  EXPECT_TRUE(output_matches(dir_ / "y.safetensors", m, x, 6));

  const Outcome r = mlpbench("run --quick --weights w.safetensors --batch-sizes 2 --batch-size 2 --out r.json");
  ASSERT_EQ(r.code, 0) << r.err;
  const Json j = Json::parse(slurp(dir_ / "r.json"));
  EXPECT_EQ(j["model"]["weights"]["layer_names"], Json::parse(R"(["0", "2"])"));
  EXPECT_EQ(j["model"]["weights"]["layer_order"], "numbered");
  EXPECT_EQ(j["model"]["weights"]["no_bias"], Json::parse(R"(["0"])"));
}

TEST_F(Cli, BadLayerOrdersExitTwo) {
  write("w.safetensors", serialize_safetensors(named_layers(make_seeded_model({32, 16, 10}, 1), {"proj", "head"})));
  write("x.safetensors", serialize_safetensors({{"input", Tensor{"F32", {1, 32}, std::vector<float>(32)}}}));
  const std::pair<std::string, std::string> cases[] = {
      {"--layer-order proj,tail", "w.safetensors: --layer-order names 'tail', which is not a layer of the file (its layers: head,proj)"},
      {"--layer-order proj", "w.safetensors: --layer-order leaves out 'head' (name every layer once)"},
      {"--layer-order proj,head,proj", "w.safetensors: --layer-order names 'proj' twice"},
      {"--layer-order proj,,head", "w.safetensors: --layer-order entry #2 is empty"},
      {"--layer-order head,proj", "w.safetensors: layers don't chain in the order of --layer-order: 'head' (16->10) gives 10 but 'proj' (32->16) after it takes 32"},
  };
  for (const auto& [order, mentions] : cases) {
    for (const std::string args : {"infer --input x.safetensors --output y.safetensors --weights w.safetensors ",
                                   "run --quick --out r.json --weights w.safetensors "}) {
      SCOPED_TRACE(args + order);
      expect_usage_error(mlpbench(args + order), mentions);
    }
  }
  expect_usage_error(mlpbench("run --quick --layers 4,4 --layer-order a,b --out r.json"), "--layer-order requires --weights");
  EXPECT_FALSE(fs::exists(dir_ / "y.safetensors"));
  EXPECT_FALSE(fs::exists(dir_ / "r.json"));
}

TEST_F(Cli, GpuRequestsExitThreeWithTheReasonOrRunOnTheGpu) {
  const GpuBackends gpu = make_gpu_backends();
  const Model m = make_seeded_model({4, 3}, 1);
  write("w.safetensors", model_file(m));
  const std::vector<float> x(8, 0.5f);
  write("x.safetensors", serialize_safetensors({{"input", Tensor{"F32", {2, 4}, x}}}));
  // On the CUDA emulator (the emulated build) a small model: every backend is gated and run on the CPU.
  const std::string layers = gpu.emulator.empty() ? "" : " --layers 64,32,8";
  const std::string run = "run --quick --device gpu --batch-sizes 1,10,100" + layers + " --reference " + reference_json() + " --out r.json";
  const std::string infer = "infer --device gpu --weights w.safetensors --input x.safetensors --output y.safetensors";
  if (gpu.backends.empty()) {
    for (const std::string& args : {run, infer}) {
      SCOPED_TRACE(args);
      const Outcome o = mlpbench(args);
      EXPECT_EQ(o.code, 3);
      EXPECT_THAT(o.err, HasSubstr("no usable GPU: " + gpu.unavailable));
      EXPECT_FALSE(fs::exists(dir_ / "r.json"));
      EXPECT_FALSE(fs::exists(dir_ / "y.safetensors"));
    }
    return;
  }
  // With a GPU: the GPU column measured (emulated, never timed, in the emulated build: every backend gated and
  // run), the CPU column from the reference; infer's output right.
  const Outcome o = mlpbench(run);
  ASSERT_EQ(o.code, 0) << o.err;
  const Results r = read_results((dir_ / "r.json").string());
  for (int b : {1, 10, 100}) {
    ASSERT_TRUE(r.table.find("GPU", b) && (r.table.find("CPU", b) || !gpu.emulator.empty())) << b;
    const Cell& g = *r.table.find("GPU", b);
    if (gpu.emulator.empty()) {
      EXPECT_EQ(g.source, Source::Measured);
      EXPECT_GT(g.median_ms(), 0);
    } else {
      EXPECT_EQ(g.source, Source::Emulated);
      EXPECT_EQ(g.median_ms(), 0) << "an emulated cell holds no time";
      EXPECT_EQ(g.runs.size(), gpu.backends.size()) << "every emulated backend gated and run";
    }
    if (gpu.emulator.empty()) {
      EXPECT_EQ(r.table.find("CPU", b)->source, Source::Reference);
    }
  }
  if (!gpu.emulator.empty()) {  // no time, no verdict (the reference holds no 64-32-8 model: no CPU cell either)
    EXPECT_THAT(o.out, ::testing::ContainsRegex("GPU time: emulated, not timed \\(mlpbench CUDA emulator[^\n]*\\)\nFaster hardware: unknown\n"));
  }
  const Outcome i = mlpbench(infer);
  ASSERT_EQ(i.code, 0) << i.err;
  const TensorMap y = read_safetensors((dir_ / "y.safetensors").string());
  const std::vector<double> ref = reference_forward(m, x.data(), 2);
  const CheckResult c = check_close(y.at("output").data.data(), ref.data(), ref.size(), kToleranceF32);
  EXPECT_TRUE(c.ok) << c.first_mismatches;
}

TEST_F(Cli, HelpExplainsAndExitsZero) {
  const Outcome o = mlpbench("--help");
  EXPECT_EQ(o.code, 0);
  EXPECT_THAT(o.out, HasSubstr("Exit codes"));
  EXPECT_THAT(o.out, HasSubstr("run"));
  const Outcome r = mlpbench("run --help");
  EXPECT_EQ(r.code, 0);
  EXPECT_THAT(r.out, HasSubstr("--batch-sizes"));
  EXPECT_THAT(r.out, HasSubstr("--reference"));
  EXPECT_THAT(r.out, HasSubstr("and of the inputs"));
  // --seed and --threads as each command means them: infer reads its input, export-weights has none.
  const Outcome infer = mlpbench("infer --help");
  EXPECT_EQ(infer.code, 0);
  EXPECT_THAT(infer.out, Not(HasSubstr("of the inputs")));
  EXPECT_THAT(infer.out, HasSubstr("the input comes from --input"));
  EXPECT_THAT(infer.out, Not(HasSubstr("the best is the headline")));
  EXPECT_THAT(infer.out, HasSubstr("CPU threads of the forward pass"));
  const Outcome exporter = mlpbench("export-weights --help");
  EXPECT_EQ(exporter.code, 0);
  EXPECT_THAT(exporter.out, Not(HasSubstr("of the inputs")));
  EXPECT_THAT(exporter.out, Not(HasSubstr("--threads")));
}

TEST_F(Cli, ExportedWeightsAreTheSeededModel) {
  ASSERT_EQ(mlpbench("export-weights --layers 37,129,65,3 --seed 4 --out w.safetensors").code, 0);
  const Model exported = load_model((dir_ / "w.safetensors").string());
  const Model seeded = make_seeded_model({37, 129, 65, 3}, 4);
  ASSERT_EQ(exported.layers.size(), seeded.layers.size());
  for (std::size_t i = 0; i < seeded.layers.size(); ++i) {
    EXPECT_EQ(exported.layers[i].weight, seeded.layers[i].weight) << i;
    EXPECT_EQ(exported.layers[i].bias, seeded.layers[i].bias) << i;
  }
  expect_usage_error(mlpbench("export-weights --out w.safetensors"), "--force");
}

TEST_F(Cli, InterruptedRunLeavesNoFile) {
  // SIGINT, then SIGTERM, half a second into a run that would take seconds: no results file, no temporary file, and
  // into a folder no reserved name either.
  for (const std::string& out : {(dir_ / "r.json").string(), (dir_ / "out").string() + "/"}) {
    for (int sig : {SIGINT, SIGTERM}) {
      const char* argv[] = {MLPBENCH_EXE, "run", "--batch-sizes", "1,2,3,4,5", "--out", out.c_str(), nullptr};
      pid_t pid = 0;
      posix_spawn_file_actions_t actions;
      posix_spawn_file_actions_init(&actions);
      posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
      ASSERT_EQ(posix_spawn(&pid, MLPBENCH_EXE, &actions, nullptr, const_cast<char* const*>(argv), environ), 0);
      posix_spawn_file_actions_destroy(&actions);
      ::usleep(500000);
      ASSERT_EQ(::kill(pid, sig), 0);
      int status = 0;
      ASSERT_EQ(::waitpid(pid, &status, 0), pid);
      EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "status " << status;
      EXPECT_TRUE(files().empty()) << ::testing::PrintToString(files());
    }
  }
}

// A run into a folder takes its file's name before measuring; one that fails after that leaves no file.
TEST_F(Cli, AFailedRunIntoAFolderLeavesNoFile) {
  const Outcome o = mlpbench("run --quick --device cpu --layers 16,8,4 --batch-sizes 1 --batch-size 1 --reference none.json --out out/");
  expect_usage_error(o, "none.json");
  EXPECT_TRUE(files().empty()) << ::testing::PrintToString(files());
}

// Eight runs started at once into one folder (a job array on one node): eight files, none lost to a name taken.
TEST_F(Cli, EightRunsStartedAtOnceIntoOneFolderWriteEightFiles) {
  const std::string out = (dir_ / "out").string() + "/";
  const char* argv[] = {MLPBENCH_EXE, "run", "--quick", "--device", "cpu", "--layers", "16,8,4", "--batch-sizes", "1", "--batch-size", "1",
                        "--threads", "1", "--out", out.c_str(), nullptr};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  std::vector<pid_t> pids(8);
  for (pid_t& pid : pids) ASSERT_EQ(posix_spawn(&pid, MLPBENCH_EXE, &actions, nullptr, const_cast<char* const*>(argv), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  for (pid_t pid : pids) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  const std::vector<std::string> f = files();
  ASSERT_EQ(f.size(), 8u) << ::testing::PrintToString(f);
  for (const std::string& name : f) {
    EXPECT_THAT(name, ::testing::MatchesRegex("out/[A-Za-z0-9._-]+/[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]+\\.json"));
    EXPECT_EQ(read_results((dir_ / name).string()).table.find("CPU", 1)->source, Source::Measured) << name;
  }
}

// ---- honest answers (issue 12) ----

TEST_F(Cli, AModelTheReferenceDoesNotHoldGetsNoGpuNumberAndSaysWhy) {
  const Outcome o = mlpbench("run --quick --device cpu --layers 20,64,33,5 --batch-sizes 1,10 --reference " + reference_json() + " --out r.json");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, StartsWith("CPU time: "));
  EXPECT_THAT(o.out, HasSubstr("\nGPU time: n/a (no GPU cell at batch size 10)\nFaster hardware: unknown\n"));
  EXPECT_THAT(o.out, HasSubstr("\nWhy unknown: no GPU cell at batch size 10. "));
  EXPECT_THAT(o.out, HasSubstr("Note: GPU times are not measured (--device cpu; no reference for 20,64,33,5 at fp32 in " + reference_json() +
                               " (it holds 784,512,512,10 at fp32))."));
  const Json j = Json::parse(slurp(dir_ / "r.json"));
  EXPECT_EQ(j["sources"], Json::parse(R"({"CPU": "measured", "GPU": "none"})"));
  EXPECT_TRUE(j["cells"]["GPU"].empty());
}

TEST_F(Cli, AMeasuredRunAsTheReferenceCarriesItsProvenanceAndTheRatioLineSaysByHowMuch) {
  // A results file as a GPU machine writes it: measured GPU cells, its GPU, commit and date.
  Results h200;
  h200.model.layers = {784, 512, 512, 10};
  for (int b : {1, 10, 100}) {
    Cell c;
    c.source = Source::Measured;
    c.backend = "cuda-gemv+graph+zerocopy";
    c.stats = summarize({0.011 * b, 0.012 * b, 0.0115 * b}, 1);
    h200.table.set("GPU", b, c);
  }
  h200.machine.gpu_recorded = true;
  h200.machine.gpu = GpuInfo{"NVIDIA H200", "13.0", "13.0", Json::object()};
  h200.build.git_commit = "0123456789abcdef0123";
  h200.run.started_utc = "2026-11-29T12:00:00Z";
  std::ofstream(dir_ / "h200.json") << dump_json(to_json(h200));
  const Outcome o = mlpbench("run --quick --device cpu --batch-sizes 1,10,100 --reference h200.json --out r.json");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, ::testing::ContainsRegex("\nAt batch 10 the (CPU is [0-9.]+x faster than the GPU reference|GPU reference is [0-9.]+x faster than the CPU)\\.\n"));
  EXPECT_THAT(o.out, HasSubstr("Note: GPU times were measured elsewhere on NVIDIA H200 (commit 0123456789ab, 2026-11-29T12:00:00Z), read from h200.json "
                               "as a reference; not measured here: --device cpu."));
  const Json j = Json::parse(slurp(dir_ / "r.json"));
  EXPECT_EQ(j["sources"]["GPU"], "reference");
  const Json& g = j["cells"]["GPU"]["10"];
  EXPECT_EQ(g["source"], "reference");
  EXPECT_EQ(g["kind"], "measured");
  EXPECT_EQ(g["machine"], "NVIDIA H200");
  EXPECT_EQ(g["commit"], "0123456789abcdef0123");
  EXPECT_EQ(g["date"], "2026-11-29T12:00:00Z");
  EXPECT_EQ(g["why"], "--device cpu");
  EXPECT_EQ(g["backend"], "cuda-gemv+graph+zerocopy");
  // Three shared batch sizes: the crossover is a finding, not "too few points".
  EXPECT_THAT(o.out, ::testing::Not(HasSubstr("too few points")));
}

TEST_F(Cli, TwoSharedBatchSizesAreTooFewPointsForACrossover) {
  // The shipped table with its GPU cells promoted, as if measured on a GPU machine: they count as points.
  Json promoted = Json::parse(slurp(reference_json()));
  for (auto& [batch, cell] : promoted["cells"]["GPU"].items()) cell["kind"] = "measured", cell["machine"] = "NVIDIA H200";
  write_plain(dir_ / "promoted.json", promoted.dump());
  const Outcome o = mlpbench("run --quick --device cpu --batch-sizes 1,10 --reference promoted.json --out r.json");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("Crossover: none (too few points to tell: only batch 1,10 have both a CPU and a GPU cell measured, and it takes three)"));
  // The shipped (illustrative) values are no points at all.
  const Outcome i = mlpbench("run --quick --device cpu --batch-sizes 1,10 --reference " + reference_json() + " --out i.json");
  ASSERT_EQ(i.code, 0) << i.err;
  EXPECT_THAT(i.out, HasSubstr("Crossover: none (too few points to tell: no batch size has both a CPU and a GPU cell measured, and it takes three; "
                               "illustrative, not measured: GPU at 1,10)"));
}

// The reason for a missing GPU names the cause: no driver at all here, or the toolkit's stub library when the
// loader is pointed at it (LD_LIBRARY_PATH), never "driver version is insufficient" for a driver that isn't there.
TEST_F(Cli, TheReasonForNoGpuMatchesItsCause) {
  const GpuBackends gpu = make_gpu_backends();
  if (gpu.probe.problem == GpuProblem::NoCuda) GTEST_SKIP() << "built without CUDA: the driver is never looked for";
  const std::string stub = "/usr/local/cuda/lib64/stubs/libcuda.so";
  if (gpu.backends.empty()) {
    EXPECT_EQ(gpu.probe.problem, GpuProblem::NoDriver) << gpu.unavailable;
    const Outcome o = mlpbench("run --quick --device gpu --out r.json");
    EXPECT_EQ(o.code, 3);
    EXPECT_THAT(o.err, HasSubstr("no usable GPU: no NVIDIA driver on this machine (libcuda.so.1 not found)"));
    EXPECT_THAT(o.err, ::testing::Not(HasSubstr("insufficient")));
  }
  if (!fs::exists(stub)) GTEST_SKIP() << "no CUDA toolkit stub library at " << stub << " to point the loader at";
  fs::create_directories(dir_ / "stub");
  fs::create_symlink(stub, dir_ / "stub" / "libcuda.so.1");
  const std::string cmd = "LD_LIBRARY_PATH='" + (dir_ / "stub").string() + "' ";
  const Outcome o = mlpbench_env(cmd, "run --quick --device gpu --layers 16,8,4 --batch-sizes 1 --batch-size 1 --out r2.json");
  if (!gpu.emulator.empty()) {  // the emulator is its own driver: it never loads one
    EXPECT_EQ(o.code, 0) << o.err;
    EXPECT_THAT(o.out, HasSubstr("GPU time: emulated, not timed"));
    return;
  }
  EXPECT_EQ(o.code, 3);
  EXPECT_THAT(o.err, HasSubstr("is the CUDA toolkit's stub, not a driver"));
  EXPECT_FALSE(fs::exists(dir_ / "r2.json"));
}

TEST_F(Cli, ATypoGetsTheClosestValidNameAndExitTwo) {
  expect_usage_error(mlpbench("rnu --quick"), "unknown subcommand 'rnu'; did you mean run?");
  expect_usage_error(mlpbench("run --batch-sizez 1"), "unknown option '--batch-sizez' for run; did you mean --batch-sizes?");
  expect_usage_error(mlpbench("report --form x.json"), "unknown option '--form' for report; did you mean --from?");
  expect_usage_error(mlpbench("compre a.json b.json"), "did you mean compare?");
  expect_usage_error(mlpbench("infer --input x.safetensors --out y.safetensors"), "unknown option '--out' for infer; did you mean --output?");
  const Outcome far = mlpbench("xyzzy");
  EXPECT_EQ(far.code, 2);
  EXPECT_THAT(far.err, HasSubstr("unknown subcommand 'xyzzy'"));
  EXPECT_THAT(far.err, ::testing::Not(HasSubstr("did you mean")));
}

TEST_F(Cli, AResultsFileFromBeforeSourcesAndProvenanceStillReads) {
  const std::string old = std::string(MLPBENCH_SOURCE_DIR) + "/tests/data/results-before-sources.json";
  const Outcome o = mlpbench("report --from " + old + " --batch-size 10");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, StartsWith("CPU time: "));
  EXPECT_THAT(o.out, HasSubstr("GPU time: 100 ms"));
  EXPECT_THAT(o.out, HasSubstr("illustrative reference values"));
  const Outcome j = mlpbench("report --from " + old + " --batch-size 10 --format json");
  ASSERT_EQ(j.code, 0) << j.err;
  EXPECT_EQ(Json::parse(j.out)["sources"], Json::parse(R"({"CPU": "measured", "GPU": "reference"})"));
}

// ---- results in the ecosystem (issue 13) ----

TEST_F(Cli, ARealRunPromotedToTheReferenceFillsTheColumnWithItsProvenance) {
  // A measured CPU run stands in for "a GPU run elsewhere": promoted, then used for the CPU column of --device gpu
  // would need a GPU; here it fills the CPU column of a report instead, through `reference` and `report`.
  ASSERT_EQ(mlpbench("run --quick --device cpu --batch-sizes 1,10,100 --reference " + reference_json() + " --out cpu.json").code, 0);
  const Outcome made = mlpbench("reference --from cpu.json --from " + reference_json() + " --out ref.json");
  ASSERT_EQ(made.code, 0) << made.err;
  EXPECT_THAT(made.out, HasSubstr("Wrote ref.json: 3 reference cells of 784,512,512,10 from 2 run(s)"));
  const Results ref = read_results((dir_ / "ref.json").string());
  const Cell* c = ref.table.find("CPU", 10);
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->source, Source::Reference);
  EXPECT_EQ(c->provenance.kind, "measured");
  EXPECT_EQ(c->reference_file, "cpu.json");
  EXPECT_FALSE(ref.table.find("GPU", 10)) << "the illustrative table's cells are not measurements";
  expect_usage_error(mlpbench("reference --from cpu.json --out ref.json"), "--force");
  ASSERT_EQ(mlpbench("run --quick --device cpu --layers 20,64,33,5 --batch-sizes 1 --batch-size 1 --out other.json").code, 0);
  expect_usage_error(mlpbench("reference --from cpu.json --from other.json --out ref2.json"), "a reference table holds one model");
  EXPECT_FALSE(fs::exists(dir_ / "ref2.json"));
}

TEST_F(Cli, CompareInMarkdownAndReportInGoogleBenchmarkJson) {
  const std::string old = std::string(MLPBENCH_SOURCE_DIR) + "/tests/data/results-before-sources.json";
  const Outcome md = mlpbench("compare " + old + " " + old + " --format md");
  ASSERT_EQ(md.code, 0) << md.err;
  EXPECT_THAT(md.out, StartsWith("**No regression.**\n"));
  EXPECT_THAT(md.out, HasSubstr("| device | batch | base ms | new ms | ratio | p | verdict |\n|---|---|---:|"));
  EXPECT_THAT(md.out, HasSubstr("| CPU | 1 |"));
  const Outcome gb = mlpbench("report --from " + old + " --batch-size 1 --format gbench");
  ASSERT_EQ(gb.code, 0) << gb.err;
  const Json j = Json::parse(gb.out);
  ASSERT_EQ(j["benchmarks"].size(), 2u) << "an old file has no round medians: its median once per cell";
  EXPECT_EQ(j["benchmarks"][0]["name"], "BM_forward/CPU/1");
  EXPECT_EQ(j["benchmarks"][0]["time_unit"], "ns");
}

TEST_F(Cli, RunIntoAFolderUsesTheGitLayout) {
  const Outcome o = mlpbench("run --quick --device cpu --batch-sizes 1 --batch-size 1 --out runs/");
  ASSERT_EQ(o.code, 0) << o.err;
  const std::vector<std::string> f = files();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_THAT(f[0], ::testing::MatchesRegex("runs/[A-Za-z0-9._-]+/[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]+\\.json"));
  EXPECT_THAT(o.out, HasSubstr("Results written to " + f[0]));
}

// Options in the style of trtexec and Google Benchmark: which backends, warm-up, least time and least samples per cell.
TEST_F(Cli, BackendAndSamplingOptions) {
  const Outcome o = mlpbench("run --quick --device cpu --layers 16,8,4 --batch-sizes 1,2 --batch-size 1 --backend eigen-omp-packed --threads 1 "
                             "--min-samples 40 --warmup-ms 1 --min-time-ms 5 --out b.json");
  ASSERT_EQ(o.code, 0) << o.err;
  const Json j = Json::parse(slurp(dir_ / "b.json"));
  for (const char* b : {"1", "2"}) {
    const Json& c = j["cells"]["CPU"][b];
    EXPECT_EQ(c["backend"], "eigen-omp-packed");
    EXPECT_FALSE(c.contains("backends")) << "one backend timed";
    EXPECT_GE(c["samples"].get<int>(), 40);
    EXPECT_EQ(c["min_samples"], 40);
    EXPECT_GE(c["round_medians_ms"].size(), 5u) << "--quick: 5 rounds";
  }
  // A choice that leaves nothing to run on the devices and precision asked for is refused before anything runs.
  expect_usage_error(mlpbench("run --quick --device cpu --backend cublaslt --out n.json"),
                     "--backend cublaslt names no CPU backend that runs at fp32, and --device cpu measures only the CPU");
  expect_usage_error(mlpbench("run --quick --backend eigen-omp-packed-bf16 --out n.json"),
                     "--backend eigen-omp-packed-bf16 names no backend that runs at fp32 (eigen-omp-packed-bf16 runs with --precision bf16 only");
  expect_usage_error(mlpbench("run --quick --device gpu --precision tf32 --backend cuda-tiled --out n.json"), "names no GPU backend that runs at tf32");
  if (make_gpu_backends().backends.empty()) {
    // Only GPU backends chosen, on a machine that runs none: nothing to measure (exit 3), no file.
    const Outcome none = mlpbench("run --quick --layers 16,8,4 --batch-sizes 1 --batch-size 1 --backend cublaslt --out n.json");
    EXPECT_EQ(none.code, 3) << none.err;
    EXPECT_THAT(none.err, HasSubstr("nothing to measure: --backend cublaslt chose no CPU backend, and no GPU backend runs here: "));
    EXPECT_FALSE(fs::exists(dir_ / "n.json"));
  }
  expect_usage_error(mlpbench("run --quick --min-samples 5000 --out x.json"), "--min-samples: '5000' is out of range [1, 2000]");
  expect_usage_error(mlpbench("run --quick --backend nope --out x.json"), "--backend: no backend named 'nope' (CPU: eigen, eigen-omp-packed");
  expect_usage_error(mlpbench("run --quick --backend eigen+graph --out x.json"), "no backend named 'eigen+graph'");
  expect_usage_error(mlpbench("run --quick --backend eigen, --out x.json"), "--backend entry #2 is empty");
  expect_usage_error(mlpbench("run --quick --min-samples 0 --out x.json"), "--min-samples: '0' is out of range");
  expect_usage_error(mlpbench("run --quick --min-time-ms=-1 --out x.json"), "--min-time-ms: '-1' is out of range");
  expect_usage_error(mlpbench("run --quick --warmup-ms 2x --out x.json"), "--warmup-ms: '2x' is not a number");
  EXPECT_FALSE(fs::exists(dir_ / "x.json"));
}

// In a log, a step that runs longer than the heartbeat (5 s; MLPBENCH_HEARTBEAT_S here) is named again, so a slow
// run is never silent.
TEST_F(Cli, ASlowStepIsNamedAgainInALog) {
  const Outcome o = mlpbench_env("MLPBENCH_HEARTBEAT_S=0.05 ", "run --quick --device cpu --layers 64,64,4 --batch-sizes 1 --batch-size 1 --out h.json");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.err, ::testing::ContainsRegex("\\[ *[0-9.]+ s\\] [^\n]+ \\(still running\\)\n")) << o.err;
  expect_usage_error(mlpbench_env("MLPBENCH_HEARTBEAT_S=x ", "run --quick --out y.json"), "MLPBENCH_HEARTBEAT_S: 'x' is not a number");
}

// serve's bad options: one line naming the option, exit 2, nothing written.
TEST_F(Cli, ServeBadOptionsExitTwoWithOneLine) {
  const std::string tail = " --device cpu --layers 16,8,4 --out r.json";
  expect_usage_error(mlpbench("serve --qps 0" + tail), "--qps");
  expect_usage_error(mlpbench("serve --qps 1000,-5" + tail), "--qps");
  expect_usage_error(mlpbench("serve --slo-ms -1" + tail), "--slo-ms");
  expect_usage_error(mlpbench("serve --max-batch 0" + tail), "--max-batch");
  const int over = available_cores() + 1;
  expect_usage_error(mlpbench("serve --workers " + std::to_string(over) + " --threads 1" + tail),
                     "--workers x --threads is " + std::to_string(over) + " x 1");
  expect_usage_error(mlpbench("serve --workers 1,2 --threads 1" + tail), "--workers");
  expect_usage_error(mlpbench("serve --streams 0" + tail), "--streams");
  // A batch the model's memory check refuses.
  expect_usage_error(mlpbench("serve --device cpu --layers 784,4096,10 --max-batch 10000000 --out r.json"), "more than half of this machine");
  EXPECT_TRUE(files().empty()) << ::testing::PrintToString(files());
  const Outcome help = mlpbench("serve --help");
  EXPECT_EQ(help.code, 0);
  EXPECT_THAT(help.out, HasSubstr("--slo-ms"));
  EXPECT_THAT(help.out, HasSubstr("simulated"));
}

// A short serve on the CPU: the answer lines, the simulator beside the live run, the file written.
TEST_F(Cli, ServeOnTheCpuPrintsTheAnswerAndWritesTheFile) {
  const Outcome o = mlpbench("serve --device cpu --quick --layers 16,8,4 --workers 1 --threads 1 --qps 500,1000 --max-batch 4 --out r.json");
  ASSERT_EQ(o.code, 0) << o.err;
  EXPECT_THAT(o.out, HasSubstr("Served at p99 <= 1 ms: CPU "));
  EXPECT_THAT(o.out, ::testing::ContainsRegex("Simulator check: CPU .* simulated \\(from the CPU's per-batch latencies measured in this run .*, "
                                              "workers=1,threads=1\\) against .* measured \\(workers=1,threads=1\\)"));
  EXPECT_THAT(o.out, HasSubstr("device source    backend"));  // the table of runs
  EXPECT_THAT(o.out, HasSubstr("Results written to r.json"));
  EXPECT_EQ(read_results((dir_ / "r.json").string()).table.find("CPU", 4)->source, Source::Measured);
}

// SIGINT while serving: the step drains (every issued request completes), nothing is written, and the process ends
// by the signal, as an interrupted `run` does.
TEST_F(Cli, InterruptedServeDrainsAndLeavesNoFile) {
  const std::string out = (dir_ / "r.json").string();
  const std::string err = (dir_.parent_path() / (dir_.filename().string() + ".err")).string();
  const char* argv[] = {MLPBENCH_EXE, "serve", "--device", "cpu", "--quick", "--layers", "16,8,4", "--workers", "1", "--threads", "1",
                        "--qps", "300,300,300", "--min-step-s", "3", "--out", out.c_str(), nullptr};
  pid_t pid = 0;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ASSERT_EQ(posix_spawn(&pid, MLPBENCH_EXE, &actions, nullptr, const_cast<char* const*>(argv), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  for (int i = 0; i < 600 && slurp(err).find("serving live") == std::string::npos; ++i) ::usleep(50000);
  ::usleep(300000);  // into the first step
  ASSERT_EQ(::kill(pid, SIGINT), 0);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  const std::string said = slurp(err);
  fs::remove(err);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << "status " << status << ": " << said;
  long issued = -1, completed = -2;
  const std::size_t at = said.find("mlpbench: interrupted: issued ");
  ASSERT_NE(at, std::string::npos) << said;
  ASSERT_EQ(std::sscanf(said.c_str() + at, "mlpbench: interrupted: issued %ld = completed %ld", &issued, &completed), 2) << said;
  EXPECT_EQ(issued, completed);
  EXPECT_GT(issued, 0);
  EXPECT_LT(issued, 1000) << "the step stopped issuing at the signal";
  EXPECT_TRUE(files().empty()) << ::testing::PrintToString(files());
}
