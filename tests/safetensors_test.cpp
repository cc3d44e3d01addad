// safetensors: f32 round trips, exact f16/bf16 conversion, metadata, layer order (given, by the numbers in the
// names when they carry one, or the only order that chains; never the file's), at most 4096 layers and ten named in
// an error, layers without bias, every malformed file rejected with an InputError that names the problem, sha256
// and load_model.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mlpbench/errors.hpp"
#include "mlpbench/safetensors.hpp"

using namespace mlpbench;
using mlpbench::testing::input_error;
using mlpbench::testing::TempDir;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

namespace {

using OJson = nlohmann::ordered_json;
using Bytes = std::vector<std::uint8_t>;


void write_file(const std::string& path, const Bytes& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

void put_u64_le(Bytes& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

// The raw file: 8-byte LE header length, the header text, the data.
Bytes raw_file(const std::string& header, const Bytes& data) {
  Bytes out;
  put_u64_le(out, header.size());
  out.insert(out.end(), header.begin(), header.end());
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

void put_f32(Bytes& out, float v) {
  std::uint32_t bits;
  std::memcpy(&bits, &v, 4);
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(bits >> (8 * i)));
}

void put_u16(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v & 0xff));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}

struct Entry {
  std::string name;
  std::vector<std::int64_t> shape;
  std::vector<float> values;
};

// An F32 file whose header lists `entries` in the given order and whose data holds them in `data_order`
// (indices into entries), so the header order, the data order and the layer order can all differ.
Bytes f32_file(const std::vector<Entry>& entries, const std::vector<std::size_t>& data_order) {
  std::vector<std::uint64_t> begin(entries.size()), end(entries.size());
  Bytes data;
  for (std::size_t k : data_order) {
    begin[k] = data.size();
    for (float v : entries[k].values) put_f32(data, v);
    end[k] = data.size();
  }
  OJson header = OJson::object();
  for (std::size_t k = 0; k < entries.size(); ++k) {
    header[entries[k].name] = {{"dtype", "F32"}, {"shape", entries[k].shape}, {"data_offsets", {begin[k], end[k]}}};
  }
  header["__metadata__"] = {{"format", "pt"}};
  return raw_file(header.dump(), data);
}

Bytes f32_file(const std::vector<Entry>& entries) {
  std::vector<std::size_t> order(entries.size());
  for (std::size_t k = 0; k < order.size(); ++k) order[k] = k;
  return f32_file(entries, order);
}

// Values base, base + 1, ...: every tensor distinguishable by its values.
std::vector<float> iota(std::size_t n, float base) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = base + static_cast<float>(i);
  return v;
}

TensorMap parse(const Bytes& bytes) { return parse_safetensors(bytes.data(), bytes.size(), "test.safetensors"); }


std::string parse_error(const Bytes& bytes) {
  return input_error([&] { parse(bytes); });
}

std::string model_error(const Bytes& bytes) {
  const TensorMap t = parse(bytes);
  return input_error([&] { model_from_tensors(t, "test.safetensors"); });
}

// A header with one tensor "x", everything given as raw JSON text.
std::string one_tensor_header(const std::string& dtype, const std::string& shape, const std::string& offsets) {
  return "{\"x\": {\"dtype\": \"" + dtype + "\", \"shape\": " + shape + ", \"data_offsets\": " + offsets + "}}";
}

}  // namespace

// ---- round trips ----

TEST(Safetensors, SerializeParseRoundTripIsExact) {
  TensorMap in;
  in["a.weight"] = {"F32", {2, 3}, {1.0f, -2.5f, 0.0f, -0.0f, 1e-40f /* subnormal */, 3.4028235e38f}};
  in["a.bias"] = {"F32", {2}, {0.125f, -7.0f}};
  in["scalar"] = {"F32", {}, {42.0f}};
  in["empty"] = {"F32", {0, 4}, {}};
  const Bytes bytes = serialize_safetensors(in);

  // Header length LE in the first 8 bytes; data starts 8-byte aligned.
  std::uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | bytes[i];
  EXPECT_EQ((8 + header_len) % 8, 0u);
  EXPECT_EQ(bytes.size(), 8 + header_len + 4 * (6 + 2 + 1));

  const TensorMap out = parse(bytes);
  ASSERT_EQ(out.size(), in.size());
  for (const auto& [name, t] : in) {
    SCOPED_TRACE(name);
    ASSERT_EQ(out.count(name), 1u);
    const Tensor& r = out.at(name);
    EXPECT_EQ(r.dtype, "F32");
    EXPECT_EQ(r.shape, t.shape);
    ASSERT_EQ(r.data.size(), t.data.size());
    // Bit-exact, so -0.0 and the subnormal count.
    if (!t.data.empty()) {  // memcmp of a null pointer is undefined, even for 0 bytes
      EXPECT_EQ(0, std::memcmp(r.data.data(), t.data.data(), 4 * t.data.size()));
    }
  }
  EXPECT_TRUE(std::signbit(out.at("a.weight").data[3]));
}

TEST(Safetensors, RoundTripThroughAFile) {
  TempDir dir;
  TensorMap in;
  in["0.weight"] = {"F32", {3, 2}, iota(6, 1.5f)};
  in["0.bias"] = {"F32", {3}, iota(3, -10.0f)};
  const std::string path = dir.file("model.safetensors");
  write_file(path, serialize_safetensors(in));
  const TensorMap out = read_safetensors(path);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out.at("0.weight").shape, (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(out.at("0.weight").data, iota(6, 1.5f));
  EXPECT_EQ(out.at("0.bias").data, iota(3, -10.0f));
}

TEST(Safetensors, SerializeRejectsShapeThatDoesNotMatchValues) {
  TensorMap in;
  in["w"] = {"F32", {2, 2}, {1.0f, 2.0f, 3.0f}};
  const std::string msg = input_error([&] { serialize_safetensors(in); });
  EXPECT_THAT(msg, HasSubstr("'w'"));
  EXPECT_THAT(msg, HasSubstr("3 values"));
}

TEST(Safetensors, MetadataIsNotATensorAndIsKeptApart) {
  const Bytes bytes = f32_file({{"t", {2}, {1.0f, 2.0f}}});
  const TensorMap out = parse(bytes);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out.count("__metadata__"), 0u);
  EXPECT_EQ(out.at("t").data, (std::vector<float>{1.0f, 2.0f}));
  const SafetensorsFile file = parse_safetensors_file(bytes.data(), bytes.size(), "test.safetensors");
  EXPECT_EQ(file.metadata, (std::map<std::string, std::string>{{"format", "pt"}}));
  EXPECT_EQ(file.tensors.size(), 1u);

  // Written and read back; the format's metadata maps names to strings.
  const Bytes written = serialize_safetensors({{"t", {"F32", {1}, {3.0f}}}}, {{"layer_order", "b,a"}});
  EXPECT_EQ(parse_safetensors_file(written.data(), written.size(), "w").metadata.at("layer_order"), "b,a");
  EXPECT_THAT(parse_error(raw_file("{\"__metadata__\": [1]}", {})), HasSubstr("\"__metadata__\" is not an object"));
  EXPECT_THAT(parse_error(raw_file("{\"__metadata__\": {\"layer_order\": 3}}", {})), HasSubstr("\"__metadata__\" entry \"layer_order\" is not a string"));
}

// ---- f16 / bf16 ----

TEST(Safetensors, HalfToFloatIsExact) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC100), -2.5f);
  EXPECT_EQ(half_to_float(0x3800), 0.5f);
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);              // largest finite
  EXPECT_EQ(half_to_float(0x0400), std::ldexp(1.0f, -14));  // smallest normal
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(half_to_float(0x03FF), std::ldexp(1023.0f, -24));  // largest subnormal
  EXPECT_EQ(half_to_float(0x8001), -std::ldexp(1.0f, -24));
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);        // 1365 * 2^-12
  EXPECT_EQ(half_to_float(0x0000), 0.0f);
  EXPECT_FALSE(std::signbit(half_to_float(0x0000)));
  EXPECT_EQ(half_to_float(0x8000), 0.0f);
  EXPECT_TRUE(std::signbit(half_to_float(0x8000)));
  EXPECT_EQ(half_to_float(0x7C00), std::numeric_limits<float>::infinity());
  EXPECT_EQ(half_to_float(0xFC00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7C01)));  // signalling pattern is still NaN
  EXPECT_TRUE(std::isnan(half_to_float(0xFE00)));
}

TEST(Safetensors, HalfToFloatMatchesTheFormulaForEveryFiniteValue) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const int sign = (h >> 15) & 1, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
    if (exp == 31) continue;
    const double expected = (sign ? -1.0 : 1.0) * (exp == 0 ? mant * std::ldexp(1.0, -24) : (1.0 + mant / 1024.0) * std::ldexp(1.0, exp - 15));
    ASSERT_EQ(static_cast<double>(half_to_float(static_cast<std::uint16_t>(h))), expected) << "h = 0x" << std::hex << h;
  }
}

TEST(Safetensors, Bfloat16ToFloatIsExact) {
  EXPECT_EQ(bfloat16_to_float(0x4049), 3.140625f);
  EXPECT_EQ(bfloat16_to_float(0x3F80), 1.0f);
  EXPECT_EQ(bfloat16_to_float(0xC020), -2.5f);
  EXPECT_EQ(bfloat16_to_float(0x3F00), 0.5f);
  EXPECT_EQ(bfloat16_to_float(0x7F7F), 3.38953139e38f);  // largest finite
  EXPECT_EQ(bfloat16_to_float(0x0001), std::ldexp(1.0f, -133));  // smallest subnormal
  EXPECT_TRUE(std::signbit(bfloat16_to_float(0x8000)));
  EXPECT_EQ(bfloat16_to_float(0x8000), 0.0f);
  EXPECT_EQ(bfloat16_to_float(0x7F80), std::numeric_limits<float>::infinity());
  EXPECT_EQ(bfloat16_to_float(0xFF80), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bfloat16_to_float(0x7FC0)));
  EXPECT_TRUE(std::isnan(bfloat16_to_float(0xFFC1)));
}

TEST(Safetensors, ReadsF16TensorsExactly) {
  const std::vector<std::uint16_t> h = {0x3C00, 0xC100, 0x3800, 0x7BFF, 0x0001, 0x8000};
  Bytes data;
  for (auto v : h) put_u16(data, v);
  const Bytes bytes = raw_file(one_tensor_header("F16", "[2, 3]", "[0, 12]"), data);
  const TensorMap t = parse(bytes);
  const Tensor& x = t.at("x");
  EXPECT_EQ(x.dtype, "F16");
  EXPECT_EQ(x.shape, (std::vector<std::int64_t>{2, 3}));
  ASSERT_EQ(x.data.size(), 6u);
  EXPECT_EQ(x.data[0], 1.0f);
  EXPECT_EQ(x.data[1], -2.5f);
  EXPECT_EQ(x.data[2], 0.5f);
  EXPECT_EQ(x.data[3], 65504.0f);
  EXPECT_EQ(x.data[4], 5.9604644775390625e-8f);  // 2^-24
  EXPECT_EQ(x.data[5], 0.0f);
  EXPECT_TRUE(std::signbit(x.data[5]));
}

TEST(Safetensors, ReadsBf16TensorsExactly) {
  const std::vector<std::uint16_t> b = {0x4049, 0x3F80, 0xC020, 0x3F00};
  Bytes data;
  for (auto v : b) put_u16(data, v);
  const Bytes bytes = raw_file(one_tensor_header("BF16", "[4]", "[0, 8]"), data);
  const TensorMap t = parse(bytes);
  const Tensor& x = t.at("x");
  EXPECT_EQ(x.dtype, "BF16");
  EXPECT_EQ(x.data, (std::vector<float>{3.140625f, 1.0f, -2.5f, 0.5f}));
}

TEST(Safetensors, MixedDtypesAtNonZeroOffsetsBuildAModel) {
  // 0.weight F16 [2, 1] at bytes 0-4, 0.bias BF16 [2] at 4-8, data in that order; header order reversed.
  Bytes data;
  put_u16(data, 0x3C00);  // 1.0
  put_u16(data, 0xC100);  // -2.5
  put_u16(data, 0x4049);  // 3.140625
  put_u16(data, 0x3F00);  // 0.5
  const std::string header =
      "{\"0.bias\": {\"dtype\": \"BF16\", \"shape\": [2], \"data_offsets\": [4, 8]},"
      " \"0.weight\": {\"dtype\": \"F16\", \"shape\": [2, 1], \"data_offsets\": [0, 4]}}";
  const Model m = model_from_tensors(parse(raw_file(header, data)), "mixed");
  ASSERT_EQ(m.layers.size(), 1u);
  EXPECT_EQ(m.layers[0].in, 1);
  EXPECT_EQ(m.layers[0].out, 2);
  EXPECT_EQ(m.layers[0].weight, (std::vector<float>{1.0f, -2.5f}));
  EXPECT_EQ(m.layers[0].bias, (std::vector<float>{3.140625f, 0.5f}));
}

// ---- layer order ----

TEST(Safetensors, LayersAreChainedByIndexNotByFileOrder) {
  // nn.Sequential(Linear(2,3), ReLU, Linear(3,4), ReLU, Linear(4,1)): indices 0, 2, 4.
  const std::vector<Entry> entries = {
      {"4.weight", {1, 4}, iota(4, 500)}, {"4.bias", {1}, iota(1, 510)},
      {"0.weight", {3, 2}, iota(6, 100)}, {"0.bias", {3}, iota(3, 110)},
      {"2.weight", {4, 3}, iota(12, 300)}, {"2.bias", {4}, iota(4, 320)},
  };
  // Data in yet another order: 2.bias, 0.weight, 4.bias, 2.weight, 0.bias, 4.weight.
  const Bytes bytes = f32_file(entries, {5, 2, 1, 4, 3, 0});
  const Model m = model_from_tensors(parse(bytes), "seq");
  ASSERT_EQ(m.layers.size(), 3u);
  EXPECT_EQ(m.widths(), (std::vector<int>{2, 3, 4, 1}));
  EXPECT_EQ(m.layers[0].weight, iota(6, 100));
  EXPECT_EQ(m.layers[0].bias, iota(3, 110));
  EXPECT_EQ(m.layers[1].weight, iota(12, 300));
  EXPECT_EQ(m.layers[1].bias, iota(4, 320));
  EXPECT_EQ(m.layers[2].weight, iota(4, 500));
  EXPECT_EQ(m.layers[2].bias, iota(1, 510));
}

TEST(Safetensors, LayerIndicesCompareAsNumbers) {
  // "10" sorts before "2" as text; as numbers 2 comes first, and only that order chains (2 -> 3 -> 1).
  const std::vector<Entry> entries = {
      {"10.weight", {1, 3}, iota(3, 1000)}, {"10.bias", {1}, iota(1, 1100)},
      {"2.weight", {3, 2}, iota(6, 200)}, {"2.bias", {3}, iota(3, 210)},
  };
  const Model m = model_from_tensors(parse(f32_file(entries, {0, 1, 2, 3})), "natural");
  ASSERT_EQ(m.layers.size(), 2u);
  EXPECT_EQ(m.widths(), (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(m.layers[0].weight, iota(6, 200));
  EXPECT_EQ(m.layers[0].bias, iota(3, 210));
  EXPECT_EQ(m.layers[1].weight, iota(3, 1000));
  EXPECT_EQ(m.layers[1].bias, iota(1, 1100));
}

TEST(Safetensors, NamedPrefixesCompareAsNumbersToo) {
  // fc2 < fc10 < fc11, and "layers.9" < "layers.10" inside a dotted prefix.
  {
    const std::vector<Entry> entries = {
        {"fc10.weight", {4, 3}, iota(12, 10)}, {"fc10.bias", {4}, iota(4, 20)},
        {"fc11.weight", {1, 4}, iota(4, 30)},  {"fc11.bias", {1}, iota(1, 40)},
        {"fc2.weight", {3, 2}, iota(6, 50)},   {"fc2.bias", {3}, iota(3, 60)},
    };
    const Model m = model_from_tensors(parse(f32_file(entries)), "fc");
    EXPECT_EQ(m.widths(), (std::vector<int>{2, 3, 4, 1}));
    EXPECT_EQ(m.layers[0].weight, iota(6, 50));
    EXPECT_EQ(m.layers[2].bias, iota(1, 40));
  }
  {
    const std::vector<Entry> entries = {
        {"net.layers.10.weight", {1, 5}, iota(5, 10)}, {"net.layers.10.bias", {1}, iota(1, 20)},
        {"net.layers.9.weight", {5, 2}, iota(10, 30)}, {"net.layers.9.bias", {5}, iota(5, 40)},
    };
    const Model m = model_from_tensors(parse(f32_file(entries)), "dotted");
    EXPECT_EQ(m.widths(), (std::vector<int>{2, 5, 1}));
    EXPECT_EQ(m.layers[0].weight, iota(10, 30));
    EXPECT_EQ(m.layers[1].weight, iota(5, 10));
  }
}

TEST(Safetensors, NumberedNamesKeepTheirOrderEvenWhereOthersChain) {
  // Three square layers chain in any order: the numbers decide (fc1 < fc2 < fc10), and nothing is said.
  const Model m = model_from_tensors(parse(f32_file({
                                         {"fc10.weight", {8, 8}, iota(64, 300)}, {"fc10.bias", {8}, iota(8, 30)},
                                         {"fc2.weight", {8, 8}, iota(64, 200)},  {"fc2.bias", {8}, iota(8, 20)},
                                         {"fc1.weight", {8, 8}, iota(64, 100)},  {"fc1.bias", {8}, iota(8, 10)},
                                     })),
                                     "fc");
  EXPECT_EQ(m.origin.layer_names, (std::vector<std::string>{"fc1", "fc2", "fc10"}));
  EXPECT_EQ(m.origin.layer_order, "numbered");
  EXPECT_TRUE(m.origin.no_bias.empty());
  EXPECT_EQ(m.layers[0].weight, iota(64, 100));
  EXPECT_EQ(m.layers[1].weight, iota(64, 200));
  EXPECT_EQ(m.layers[2].weight, iota(64, 300));
  EXPECT_EQ(layer_order_summary(m), "");
}

TEST(Safetensors, NumberedOrderThatDoesNotChainSaysWhichOrderDoes) {
  const std::string msg = model_error(f32_file({
      {"fc1.weight", {4, 3}, iota(12, 0)}, {"fc1.bias", {4}, iota(4, 0)},
      {"fc2.weight", {3, 2}, iota(6, 0)},  {"fc2.bias", {3}, iota(3, 0)},
  }));
  EXPECT_THAT(msg, HasSubstr("layers don't chain in the order of the numbers in their names: 'fc1' (3->4) gives 4 but 'fc2' (2->3) after it takes 2"));
  EXPECT_THAT(msg, HasSubstr("the only order that chains is fc2,fc1: give it with --layer-order fc2,fc1"));
}

// The user's case: proj then head, both 32x32, names without numbers. Alphabetical order ran head -> proj.
std::vector<Entry> proj_head() {
  return {{"proj.weight", {32, 32}, iota(1024, 0)}, {"proj.bias", {32}, iota(32, 2000)},
          {"head.weight", {32, 32}, iota(1024, 5000)}, {"head.bias", {32}, iota(32, 7000)}};
}

TEST(Safetensors, NamesWithoutNumbersThatChainInSeveralOrdersAreRefused) {
  const std::string msg = model_error(f32_file(proj_head()));
  EXPECT_THAT(msg, HasSubstr("test.safetensors: the layers head (32->32), proj (32->32) chain in more than one order"));
  EXPECT_THAT(msg, HasSubstr("(e.g. head,proj and proj,head)"));
  EXPECT_THAT(msg, HasSubstr("no number in 'head'"));
  // Neither order is the one to paste: the command has a placeholder, the layers and their shapes are named apart.
  EXPECT_THAT(msg, HasSubstr("give the order with --layer-order FIRST,...,LAST (every layer's name once, first to last)"));
  EXPECT_THAT(msg, HasSubstr("or a \"layer_order\" entry \"FIRST,...,LAST\" in the file's __metadata__"));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("--layer-order head")));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("--layer-order proj")));
}

// Names with a number that doesn't tell two layers apart carry no order: block.0.down and block.0.up, both 8x8,
// ran down -> up by their letters, silently, as "numbered".
TEST(Safetensors, NamesThatDifferInMoreThanANumberCarryNoOrder) {
  const std::string msg = model_error(f32_file({
      {"block.0.up.weight", {8, 8}, iota(64, 0)},   {"block.0.up.bias", {8}, iota(8, 0)},
      {"block.0.down.weight", {8, 8}, iota(64, 0)}, {"block.0.down.bias", {8}, iota(8, 0)},
  }));
  EXPECT_THAT(msg, HasSubstr("test.safetensors: the layers block.0.down (8->8), block.0.up (8->8) chain in more than one order"));
  EXPECT_THAT(msg, HasSubstr("'block.0.down' and 'block.0.up' are not ordered by a number in their names"));
  EXPECT_THAT(msg, HasSubstr("--layer-order FIRST,...,LAST"));

  // Where one order chains, it is used and said, not the letters' order (down, up, then layers.1.fc).
  const Model m = model_from_tensors(parse(f32_file({
                                         {"layers.0.up.weight", {8, 4}, iota(32, 100)},   {"layers.0.up.bias", {8}, iota(8, 0)},
                                         {"layers.0.down.weight", {4, 8}, iota(32, 200)}, {"layers.0.down.bias", {4}, iota(4, 0)},
                                         {"layers.1.fc.weight", {2, 4}, iota(8, 300)},    {"layers.1.fc.bias", {2}, iota(2, 0)},
                                     })),
                                     "w");
  EXPECT_EQ(m.origin.layer_names, (std::vector<std::string>{"layers.0.up", "layers.0.down", "layers.1.fc"}));
  EXPECT_EQ(m.origin.layer_order, "only chain");
  EXPECT_EQ(m.layers[0].weight, iota(32, 100));
  Model said = m;
  said.origin.file = "w.safetensors";
  EXPECT_EQ(layer_order_summary(said), "layers of w.safetensors in the only order that chains: layers.0.up (4->8), layers.0.down (8->4), layers.1.fc (4->2)");

  // Names that differ first in a number keep that number's order, whatever follows it.
  const Model numbered = model_from_tensors(parse(f32_file({
                                                {"layers.10.fc1.weight", {8, 8}, iota(64, 0)}, {"layers.3.fc1.weight", {8, 8}, iota(64, 0)},
                                                {"layers.3.fc2.weight", {8, 8}, iota(64, 0)},
                                            })),
                                            "w");
  EXPECT_EQ(numbered.origin.layer_names, (std::vector<std::string>{"layers.3.fc1", "layers.3.fc2", "layers.10.fc1"}));
  EXPECT_EQ(numbered.origin.layer_order, "numbered");
  // Two names that are the same number ("01" and "1") are not told apart by it.
  EXPECT_THAT(model_error(f32_file({{"01.weight", {8, 8}, iota(64, 0)}, {"1.weight", {8, 8}, iota(64, 0)}})),
              HasSubstr("'01' and '1' are not ordered by a number in their names"));
}

TEST(Safetensors, AGivenOrderIsHonoured) {
  const TensorMap t = parse(f32_file(proj_head()));
  for (const char* source : {"--layer-order", "metadata"}) {
    SCOPED_TRACE(source);
    const Model m = model_from_tensors(t, "w", GivenOrder{"proj, head", source});
    EXPECT_EQ(m.origin.layer_names, (std::vector<std::string>{"proj", "head"}));
    EXPECT_EQ(m.origin.layer_order, source);
    EXPECT_EQ(m.layers[0].weight, iota(1024, 0));
    EXPECT_EQ(m.layers[1].bias, iota(32, 7000));
  }
  const Model m = model_from_tensors(t, "w", GivenOrder{"head,proj", "--layer-order"});
  EXPECT_EQ(m.layers[0].weight, iota(1024, 5000));
}

TEST(Safetensors, TheFilesMetadataOrderIsUsedAndTheOptionWins) {
  TempDir dir;
  TensorMap t;
  for (const Entry& e : proj_head()) t[e.name] = {"F32", e.shape, e.values};
  const std::string path = dir.file("w.safetensors");
  write_file(path, serialize_safetensors(t, {{"format", "pt"}, {"layer_order", "proj,head"}}));
  const Model m = load_model(path);
  EXPECT_EQ(m.origin.layer_names, (std::vector<std::string>{"proj", "head"}));
  EXPECT_EQ(m.origin.layer_order, "metadata");
  EXPECT_EQ(m.layers[0].weight, iota(1024, 0));
  EXPECT_EQ(layer_order_summary(m), "layers of " + path + " in the order of its __metadata__ layer_order: proj (32->32), head (32->32)");

  const Model option = load_model(path, std::string("head,proj"));
  EXPECT_EQ(option.origin.layer_names, (std::vector<std::string>{"head", "proj"}));
  EXPECT_EQ(option.origin.layer_order, "--layer-order");
  EXPECT_EQ(layer_order_summary(option), "layers of " + path + " in the order of --layer-order: head (32->32), proj (32->32)");

  // A metadata order that doesn't name the layers is an error like the option's.
  write_file(path, serialize_safetensors(t, {{"layer_order", "proj"}}));
  EXPECT_THAT(input_error([&] { load_model(path); }), HasSubstr(path + ": __metadata__ layer_order leaves out 'head' (name every layer once)"));
}

TEST(Safetensors, BadGivenOrdersNameTheProblem) {
  const TensorMap t = parse(f32_file({
      {"proj.weight", {16, 32}, iota(512, 0)}, {"proj.bias", {16}, iota(16, 0)},
      {"head.weight", {10, 16}, iota(160, 0)}, {"head.bias", {10}, iota(10, 0)},
  }));
  const auto error = [&](const std::string& names) { return input_error([&] { model_from_tensors(t, "w", GivenOrder{names, "--layer-order"}); }); };
  EXPECT_THAT(error("proj,tail"), HasSubstr("w: --layer-order names 'tail', which is not a layer of the file (its layers: head,proj)"));
  EXPECT_THAT(error("proj"), HasSubstr("w: --layer-order leaves out 'head' (name every layer once)"));
  EXPECT_THAT(error("proj,head,proj"), HasSubstr("w: --layer-order names 'proj' twice"));
  EXPECT_THAT(error("proj,,head"), HasSubstr("w: --layer-order entry #2 is empty"));
  EXPECT_THAT(error(""), HasSubstr("w: --layer-order entry #1 is empty"));
  const std::string broken = error("head,proj");
  EXPECT_THAT(broken, HasSubstr("w: layers don't chain in the order of --layer-order: 'head' (16->10) gives 10 but 'proj' (32->16) after it takes 32"));
  EXPECT_THAT(broken, HasSubstr("the only order that chains is proj,head"));
  EXPECT_THAT(input_error([&] { model_from_tensors(t, "w", GivenOrder{"head,proj", "metadata"}); }),
              HasSubstr("layers don't chain in the order of __metadata__ layer_order"));
}

TEST(Safetensors, TheOnlyOrderThatChainsIsUsedAndSaid) {
  // Alphabetically body, head, stem would not chain; only stem -> body -> head does.
  const Model m = model_from_tensors(parse(f32_file({
                                         {"head.weight", {2, 16}, iota(32, 300)},  {"head.bias", {2}, iota(2, 30)},
                                         {"body.weight", {16, 64}, iota(1024, 200)}, {"body.bias", {16}, iota(16, 20)},
                                         {"stem.weight", {64, 32}, iota(2048, 100)}, {"stem.bias", {64}, iota(64, 10)},
                                     })),
                                     "w");
  EXPECT_EQ(m.widths(), (std::vector<int>{32, 64, 16, 2}));
  EXPECT_EQ(m.origin.layer_names, (std::vector<std::string>{"stem", "body", "head"}));
  EXPECT_EQ(m.origin.layer_order, "only chain");
  EXPECT_EQ(m.layers[1].weight, iota(1024, 200));
  Model said = m;
  said.origin.file = "w.safetensors";
  EXPECT_EQ(layer_order_summary(said), "layers of w.safetensors in the only order that chains: stem (32->64), body (64->16), head (16->2)");
}

TEST(Safetensors, TheSearchTakesNoDeadEnd) {
  // At width 8 the layer to 4 comes first by name but leaves loop_a/loop_b behind: only a, loop_a, loop_b, z chains.
  const Model m = model_from_tensors(parse(f32_file({
                                         {"a.weight", {8, 2}, iota(16, 0)},   {"a.bias", {8}, iota(8, 0)},
                                         {"z.weight", {4, 8}, iota(32, 0)},   {"z.bias", {4}, iota(4, 0)},
                                         {"loop_a.weight", {6, 8}, iota(48, 0)}, {"loop_a.bias", {6}, iota(6, 0)},
                                         {"loop_b.weight", {8, 6}, iota(48, 0)}, {"loop_b.bias", {8}, iota(8, 0)},
                                     })),
                                     "w");
  EXPECT_EQ(m.origin.layer_names, (std::vector<std::string>{"a", "loop_a", "loop_b", "z"}));
  EXPECT_EQ(m.widths(), (std::vector<int>{2, 8, 6, 8, 4}));
}

TEST(Safetensors, NamesWithoutNumbersThatChainInNoOrderAreRefused) {
  const std::string msg = model_error(f32_file({
      {"proj.weight", {3, 2}, iota(6, 0)}, {"proj.bias", {3}, iota(3, 0)},
      {"head.weight", {4, 5}, iota(20, 0)}, {"head.bias", {4}, iota(4, 0)},
  }));
  EXPECT_THAT(msg, HasSubstr("test.safetensors: the layers head (5->4), proj (2->3) chain in no order"));
}

// Names of letters only ("laa", "lab", ...): no number in them.
std::string letters(std::size_t i) { return std::string("l") + static_cast<char>('a' + i / 26) + static_cast<char>('a' + i % 26); }

TEST(Safetensors, ManyLayersAreOrderedWithoutTryingEveryOrder) {
  // 30 square layers: 30! orders chain, refused at once.
  std::vector<Entry> square;
  for (std::size_t i = 0; i < 30; ++i) {
    square.push_back({letters(i) + ".weight", {4, 4}, iota(16, 0)});
    square.push_back({letters(i) + ".bias", {4}, iota(4, 0)});
  }
  EXPECT_THAT(model_error(f32_file(square)), HasSubstr("chain in more than one order"));

  // 30 layers that chain one way: 10 steps 2 -> 3 -> ... -> 12, each with a detour to a width of its own and
  // back; the names list them backwards.
  std::vector<Entry> path;
  std::vector<std::string> expected;
  std::size_t n = 30;
  const auto add = [&](int in, int out) {
    const std::string name = letters(--n);
    path.push_back({name + ".weight", {out, in}, iota(static_cast<std::size_t>(in * out), 0)});
    path.push_back({name + ".bias", {out}, iota(static_cast<std::size_t>(out), 0)});
    expected.push_back(name);
  };
  for (int w = 2; w < 12; ++w) {
    add(w, 100 + w);  // the detour first: the step itself would leave it behind
    add(100 + w, w);
    add(w, w + 1);
  }
  const Model m = model_from_tensors(parse(f32_file(path)), "w");
  EXPECT_EQ(m.origin.layer_order, "only chain");
  EXPECT_EQ(m.origin.layer_names, expected);
  EXPECT_EQ(m.layers.size(), 30u);
}

TEST(Safetensors, ErrorsNameAtMostTenLayers) {
  std::vector<Entry> square;  // 30 square layers without numbers: refused, naming ten of them
  for (std::size_t i = 0; i < 30; ++i) square.push_back({letters(i) + ".weight", {4, 4}, iota(16, 0)});
  const std::string msg = model_error(f32_file(square));
  EXPECT_THAT(msg, HasSubstr("the layers laa (4->4), lab (4->4), lac (4->4), lad (4->4), lae (4->4), laf (4->4), lag (4->4), lah (4->4), "
                             "lai (4->4), laj (4->4) and 20 more chain in more than one order and their names carry no order"));
  EXPECT_LT(msg.size(), 500u) << msg;

  const TensorMap t = parse(f32_file(square));
  EXPECT_THAT(input_error([&] { model_from_tensors(t, "w", GivenOrder{"laa,nope", "--layer-order"}); }),
              HasSubstr("(its layers: laa,lab,lac,lad,lae,laf,lag,lah,lai,laj and 20 more)"));
  EXPECT_THAT(input_error([&] { model_from_tensors(t, "w", GivenOrder{"laa", "--layer-order"}); }),
              HasSubstr("leaves out 'lab', 'lac', 'lad', 'lae', 'laf', 'lag', 'lah', 'lai', 'laj', 'lak' and 19 more (name every layer once)"));
}

TEST(Safetensors, MoreThan4096LayersAreRefused) {
  // 1x1 layers without numbers: the search for their order must not be what limits the load.
  const auto layers = [](std::size_t n) {
    TensorMap t;
    for (std::size_t i = 0; i < n; ++i) t["l" + std::string(i % 2 ? "x" : "y") + std::to_string(i) + "z.weight"] = Tensor{"F32", {1, 1}, {1.0f}};
    return t;
  };
  const TensorMap over = layers(4097);
  const std::string msg = input_error([&] { model_from_tensors(over, "big.safetensors"); });
  EXPECT_EQ(msg, "big.safetensors: holds 4097 layers, more than the limit of 4096");
  // At the limit the load is decided (here: refused, as 4096 1x1 layers chain in any order) with a short line.
  const TensorMap at = layers(4096);
  const std::string refused = input_error([&] { model_from_tensors(at, "w"); });
  EXPECT_THAT(refused, HasSubstr("and 4086 more chain in more than one order"));
  EXPECT_LT(refused.size(), 600u);
  // ... and in the order given for all of them.
  std::string names;
  for (std::size_t i = 0; i < 4096; ++i) names += (i ? "," : "") + ("l" + std::string(i % 2 ? "x" : "y") + std::to_string(i) + "z");
  EXPECT_EQ(model_from_tensors(at, "w", GivenOrder{names, "--layer-order"}).layers.size(), 4096u);
}

TEST(Safetensors, LayersWithoutBiasRunWithAZeroBias) {
  // nn.Linear(bias=False): a weight alone. Said in the summary, recorded in origin.no_bias.
  const Model m = model_from_tensors(parse(f32_file({
                                         {"0.weight", {3, 2}, iota(6, 1)},
                                         {"2.weight", {1, 3}, iota(3, 10)}, {"2.bias", {1}, {0.5f}},
                                     })),
                                     "w");
  EXPECT_EQ(m.widths(), (std::vector<int>{2, 3, 1}));
  EXPECT_EQ(m.layers[0].bias, (std::vector<float>{0.0f, 0.0f, 0.0f}));
  EXPECT_EQ(m.layers[1].bias, (std::vector<float>{0.5f}));
  EXPECT_EQ(m.origin.no_bias, (std::vector<std::string>{"0"}));
  EXPECT_EQ(m.origin.layer_order, "numbered");
  Model said = m;
  said.origin.file = "w.safetensors";
  EXPECT_EQ(layer_order_summary(said), "layers of w.safetensors in the order of the numbers in their names: 0 (2->3, no bias), 2 (3->1)");

  // The forward is the float64 forward with a zero bias: x = (1, -1) -> relu(W0 x) = relu(-1, -1, -1) = 0 -> 0.5.
  const std::vector<float> x = {1.0f, -1.0f};
  const std::vector<double> y = reference_forward(m, x.data(), 1);
  ASSERT_EQ(y.size(), 1u);
  EXPECT_EQ(y[0], 0.5);
}

// ---- malformed files ----

TEST(SafetensorsMalformed, FileShorterThanTheHeaderLength) {
  const Bytes bytes = {1, 2, 3, 4, 5};
  const std::string msg = parse_error(bytes);
  EXPECT_THAT(msg, HasSubstr("test.safetensors"));
  EXPECT_THAT(msg, HasSubstr("5 bytes"));
  EXPECT_THAT(msg, HasSubstr("shorter than the 8-byte header length"));
  EXPECT_THAT(parse_error(Bytes{}), HasSubstr("0 bytes"));
}

TEST(SafetensorsMalformed, HeaderLengthBeyondTheFile) {
  Bytes bytes;
  put_u64_le(bytes, 1000);
  const std::string h = "{}";
  bytes.insert(bytes.end(), h.begin(), h.end());
  const std::string msg = parse_error(bytes);
  EXPECT_THAT(msg, HasSubstr("header length 1000 runs past the end of the file (10 bytes)"));

  // A length near 2^64 must not wrap around.
  Bytes huge;
  put_u64_le(huge, std::numeric_limits<std::uint64_t>::max());
  huge.insert(huge.end(), h.begin(), h.end());
  EXPECT_THAT(parse_error(huge), HasSubstr("runs past the end of the file"));
}

TEST(SafetensorsMalformed, HeaderNotJson) {
  const std::string msg = parse_error(raw_file("{\"x\": nope", {}));
  EXPECT_THAT(msg, HasSubstr("header is not valid JSON"));
  EXPECT_THAT(msg, HasSubstr("test.safetensors"));
}

TEST(SafetensorsMalformed, HeaderNotAnObject) {
  EXPECT_THAT(parse_error(raw_file("[1, 2, 3]", {})), HasSubstr("header is not a JSON object"));
  EXPECT_THAT(parse_error(raw_file("42", {})), HasSubstr("header is not a JSON object"));
}

TEST(SafetensorsMalformed, TensorEntryWithoutItsFields) {
  EXPECT_THAT(parse_error(raw_file("{\"x\": 5}", {})), HasSubstr("tensor 'x': entry is not an object"));
  EXPECT_THAT(parse_error(raw_file("{\"x\": {\"shape\": [1], \"data_offsets\": [0, 4]}}", Bytes(4))), HasSubstr("missing \"dtype\""));
  EXPECT_THAT(parse_error(raw_file("{\"x\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", Bytes(4))), HasSubstr("missing \"shape\""));
  EXPECT_THAT(parse_error(raw_file("{\"x\": {\"dtype\": \"F32\", \"shape\": [1]}}", Bytes(4))), HasSubstr("\"data_offsets\" must be [begin, end]"));
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[1]", "[0, 4, 8]"), Bytes(8))), HasSubstr("\"data_offsets\" must be [begin, end]"));
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[1]", "[0, -4]"), Bytes(4))), HasSubstr("data_offsets must be non-negative integers"));
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[1]", "[0, 4.5]"), Bytes(8))), HasSubstr("data_offsets must be non-negative integers"));
}

TEST(SafetensorsMalformed, OffsetsPastTheEndOfTheData) {
  const std::string msg = parse_error(raw_file(one_tensor_header("F32", "[4]", "[0, 16]"), Bytes(8)));
  EXPECT_THAT(msg, HasSubstr("tensor 'x'"));
  EXPECT_THAT(msg, HasSubstr("data_offsets end 16 is past the end of the data (8 bytes)"));
}

TEST(SafetensorsMalformed, ReversedOffsets) {
  const std::string msg = parse_error(raw_file(one_tensor_header("F32", "[2]", "[8, 0]"), Bytes(8)));
  EXPECT_THAT(msg, HasSubstr("tensor 'x'"));
  EXPECT_THAT(msg, HasSubstr("data_offsets [8, 0] are reversed"));
}

TEST(SafetensorsMalformed, OffsetsThatOverflow) {
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[2]", "[0, 18446744073709551615]"), Bytes(8))),
              HasSubstr("data_offsets end 18446744073709551615 is past the end of the data"));
  // begin + size would wrap to a small number: still rejected.
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[2]", "[18446744073709551612, 4]"), Bytes(8))), HasSubstr("are reversed"));
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[0]", "[18446744073709551615, 18446744073709551615]"), Bytes(8))),
              HasSubstr("is past the end of the data"));
  // A value beyond uint64 is not a non-negative integer nlohmann can hold exactly.
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[2]", "[0, 18446744073709551616]"), Bytes(8))),
              HasSubstr("tensor 'x': data_offsets must be non-negative integers"));
}

TEST(SafetensorsMalformed, ShapesWhoseElementCountOverflows) {
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[4294967296, 4294967296]", "[0, 0]"), {})), HasSubstr("shape is too large"));
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[18446744073709551615]", "[0, 4]"), Bytes(4))), HasSubstr("shape is too large"));
}

TEST(SafetensorsMalformed, UnknownDtype) {
  const std::string msg = parse_error(raw_file(one_tensor_header("Q7", "[2]", "[0, 8]"), Bytes(8)));
  EXPECT_THAT(msg, HasSubstr("tensor 'x'"));
  EXPECT_THAT(msg, HasSubstr("dtype Q7 is unknown"));
}

TEST(SafetensorsMalformed, UnsupportedKnownDtype) {
  for (const char* d : {"F64", "I64", "I8", "BOOL", "F8_E4M3"}) {
    SCOPED_TRACE(d);
    const std::string msg = parse_error(raw_file(one_tensor_header(d, "[1]", "[0, 8]"), Bytes(8)));
    EXPECT_THAT(msg, HasSubstr(std::string("dtype ") + d + " is not supported (F32, F16 or BF16)"));
  }
}

TEST(SafetensorsMalformed, ShapeThatDoesNotMatchTheByteCount) {
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[3]", "[0, 8]"), Bytes(8))),
              HasSubstr("shape [3] of F32 needs 12 bytes, data_offsets hold 8"));
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F16", "[2, 3]", "[0, 8]"), Bytes(8))),
              HasSubstr("shape [2, 3] of F16 needs 12 bytes, data_offsets hold 8"));
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("BF16", "[]", "[0, 4]"), Bytes(4))),
              HasSubstr("shape [] of BF16 needs 2 bytes, data_offsets hold 4"));
}

TEST(SafetensorsMalformed, NegativeShapeEntry) {
  const std::string msg = parse_error(raw_file(one_tensor_header("F32", "[-2, 1]", "[0, 8]"), Bytes(8)));
  EXPECT_THAT(msg, HasSubstr("tensor 'x'"));
  EXPECT_THAT(msg, HasSubstr("shape holds a value that is not a non-negative integer"));
  EXPECT_THAT(parse_error(raw_file(one_tensor_header("F32", "[2.5]", "[0, 8]"), Bytes(8))),
              HasSubstr("shape holds a value that is not a non-negative integer"));
}

TEST(SafetensorsMalformed, BiasWithoutWeight) {
  const std::string msg = model_error(f32_file({{"0.weight", {3, 2}, iota(6, 0)}, {"0.bias", {3}, iota(3, 0)}, {"1.bias", {3}, iota(3, 0)}}));
  EXPECT_THAT(msg, HasSubstr("tensor '1.bias' has no matching '1.weight'"));
}

TEST(SafetensorsMalformed, BiasWithWrongShape) {
  EXPECT_THAT(model_error(f32_file({{"0.weight", {3, 2}, iota(6, 0)}, {"0.bias", {2}, iota(2, 0)}})),
              HasSubstr("'0.bias' has shape [2], expected [3]"));
  EXPECT_THAT(model_error(f32_file({{"0.weight", {3, 2}, iota(6, 0)}, {"0.bias", {3, 1}, iota(3, 0)}})),
              HasSubstr("'0.bias' has shape [3, 1], expected [3]"));
}

TEST(SafetensorsMalformed, WeightNot2D) {
  EXPECT_THAT(model_error(f32_file({{"0.weight", {6}, iota(6, 0)}, {"0.bias", {6}, iota(6, 0)}})),
              HasSubstr("'0.weight' has shape [6], expected [out, in]"));
  EXPECT_THAT(model_error(f32_file({{"0.weight", {2, 3, 1}, iota(6, 0)}, {"0.bias", {2}, iota(2, 0)}})),
              HasSubstr("'0.weight' has shape [2, 3, 1], expected [out, in]"));
  EXPECT_THAT(model_error(f32_file({{"0.weight", {}, {1.0f}}, {"0.bias", {1}, {1.0f}}})), HasSubstr("'0.weight' has shape [], expected [out, in]"));
}

TEST(SafetensorsMalformed, ZeroWidthWeight) {
  EXPECT_THAT(model_error(f32_file({{"0.weight", {0, 2}, {}}, {"0.bias", {0}, {}}})),
              HasSubstr("'0.weight' has shape [0, 2], each width must be in [1, 65536]"));
}

TEST(SafetensorsMalformed, LayersThatDoNotChain) {
  const std::string msg = model_error(f32_file({
      {"0.weight", {3, 2}, iota(6, 0)}, {"0.bias", {3}, iota(3, 0)},
      {"1.weight", {4, 5}, iota(20, 0)}, {"1.bias", {4}, iota(4, 0)},
  }));
  EXPECT_THAT(msg, HasSubstr("layers don't chain in the order of the numbers in their names: '0' (2->3) gives 3 but '1' (5->4) after it takes 5"));
  EXPECT_THAT(msg, ::testing::Not(HasSubstr("--layer-order"))) << "no order chains";
}

TEST(SafetensorsMalformed, TextOrderWouldNotChain) {
  // Sorted as text, "10" would come before "2" and these would not chain: accepted only in numeric order.
  EXPECT_NO_THROW(model_from_tensors(parse(f32_file({
                                         {"2.weight", {3, 2}, iota(6, 0)}, {"2.bias", {3}, iota(3, 0)},
                                         {"10.weight", {1, 3}, iota(3, 0)}, {"10.bias", {1}, iota(1, 0)},
                                     })),
                                     "t"));
}

TEST(SafetensorsMalformed, NamesThatAreNotLinearParameters) {
  for (const char* name : {"weight", ".weight", "0.running_mean", "0.Weight", "0.weight.extra"}) {
    SCOPED_TRACE(name);
    const std::string msg = model_error(f32_file({{"0.weight", {1, 1}, {1.0f}}, {"0.bias", {1}, {1.0f}}, {name, {1}, {1.0f}}}));
    EXPECT_THAT(msg, HasSubstr(std::string("tensor '") + name + "' is not an nn.Linear '<prefix>.weight' or '<prefix>.bias'"));
  }
}

TEST(SafetensorsMalformed, FileHoldingNoWeight) {
  EXPECT_THAT(model_error(raw_file("{\"__metadata__\": {\"format\": \"pt\"}}", {})), HasSubstr("holds no '<prefix>.weight' tensor"));
  EXPECT_THAT(model_error(raw_file("{}", {})), HasSubstr("holds no '<prefix>.weight' tensor"));
}

TEST(SafetensorsMalformed, NonFiniteWeight) {
  const std::string msg = model_error(f32_file({{"0.weight", {1, 2}, {1.0f, std::numeric_limits<float>::quiet_NaN()}}, {"0.bias", {1}, {0.0f}}}));
  EXPECT_THAT(msg, HasSubstr("test.safetensors"));
  EXPECT_THAT(msg, HasSubstr("non-finite"));
}

TEST(SafetensorsMalformed, MissingFile) {
  TempDir dir;
  const std::string path = dir.file("does_not_exist.safetensors");
  const std::string msg = input_error([&] { read_safetensors(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("cannot open"));
  EXPECT_THAT(input_error([&] { load_model(path); }), HasSubstr("cannot open"));
  EXPECT_THAT(input_error([&] { sha256_file(path); }), HasSubstr("cannot open"));
}

TEST(SafetensorsMalformed, DirectoryInsteadOfAFile) {
  // A folder opens like a file on Linux: it must be named as such, not read (a huge bogus size) or hashed as empty.
  TempDir dir;
  const std::string path = dir.path.string();
  EXPECT_THAT(input_error([&] { read_safetensors(path); }), HasSubstr(path + ": is a directory"));
  EXPECT_THAT(input_error([&] { load_model(path); }), HasSubstr("is a directory"));
  EXPECT_THAT(input_error([&] { sha256_file(path); }), HasSubstr(path + ": is a directory"));
}

TEST(SafetensorsMalformed, TruncatedFileOnDisk) {
  TempDir dir;
  TensorMap in;
  in["0.weight"] = {"F32", {2, 2}, iota(4, 1)};
  in["0.bias"] = {"F32", {2}, iota(2, 1)};
  Bytes bytes = serialize_safetensors(in);
  bytes.resize(bytes.size() - 4);  // the last value cut off
  const std::string path = dir.file("cut.safetensors");
  write_file(path, bytes);
  const std::string msg = input_error([&] { read_safetensors(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("is past the end of the data"));
}

// ---- sha256 and load_model ----

TEST(Safetensors, Sha256OfKnownContents) {
  TempDir dir;
  const std::string abc = dir.file("abc.txt"), empty = dir.file("empty.txt"), million = dir.file("million.txt");
  write_file(abc, Bytes{'a', 'b', 'c'});
  write_file(empty, Bytes{});
  write_file(million, Bytes(1000000, 'a'));  // spans several read buffers
  EXPECT_EQ(sha256_file(abc), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_file(empty), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_file(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Safetensors, LoadModelRecordsTheFileAndItsDigest) {
  TempDir dir;
  TensorMap in;
  in["layers.0.weight"] = {"F32", {3, 2}, iota(6, 1)};
  in["layers.0.bias"] = {"F32", {3}, iota(3, 10)};
  in["layers.1.weight"] = {"F32", {2, 3}, iota(6, 20)};
  in["layers.1.bias"] = {"F32", {2}, iota(2, 30)};
  const std::string path = dir.file("mlp.safetensors");
  write_file(path, serialize_safetensors(in));
  const Model m = load_model(path);
  EXPECT_EQ(m.origin.kind, "file");
  EXPECT_EQ(m.origin.file, path);
  EXPECT_EQ(m.origin.sha256, sha256_file(path));
  EXPECT_EQ(m.origin.sha256.size(), 64u);
  EXPECT_EQ(m.origin.sha256.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(m.widths(), (std::vector<int>{2, 3, 2}));
  EXPECT_EQ(m.layers[0].weight, iota(6, 1));
  EXPECT_EQ(m.layers[1].bias, iota(2, 30));

  // Another file's digest differs.
  in["layers.1.bias"] = {"F32", {2}, iota(2, 31)};
  const std::string other = dir.file("other.safetensors");
  write_file(other, serialize_safetensors(in));
  EXPECT_NE(load_model(other).origin.sha256, m.origin.sha256);
}

TEST(Safetensors, LoadModelNamesTheFileInErrors) {
  TempDir dir;
  const std::string path = dir.file("bad.safetensors");
  write_file(path, f32_file({{"0.bias", {3}, iota(3, 0)}}));
  const std::string msg = input_error([&] { load_model(path); });
  EXPECT_THAT(msg, HasSubstr(path));
  EXPECT_THAT(msg, HasSubstr("tensor '0.bias' has no matching '0.weight'"));
}
