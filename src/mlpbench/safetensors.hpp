// Reads and writes the Hugging Face safetensors format: 8-byte little-endian header length N,
// N bytes of JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data. Every offset, size and dtype is checked before it is used; tensors are converted to f32.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "mlpbench/model.hpp"

namespace mlpbench {

struct Tensor {
  std::string dtype;                 // as stored in the file: "F32", "F16" or "BF16"
  std::vector<std::int64_t> shape;
  std::vector<float> data;           // converted to f32, row-major
};

// Tensors by name; std::map keeps names sorted, the file's order carries no meaning.
using TensorMap = std::map<std::string, Tensor>;

// A whole file: its tensors and its "__metadata__" (names to strings, as the format says; empty without one).
struct SafetensorsFile {
  TensorMap tensors;
  std::map<std::string, std::string> metadata;
};

// Reads every tensor of a safetensors file. Throws InputError naming the file and the problem
// (missing, truncated, header or offsets out of range, unknown dtype, shape that doesn't match bytes,
// "__metadata__" not an object of strings).
SafetensorsFile read_safetensors_file(const std::string& path);
SafetensorsFile parse_safetensors_file(const std::uint8_t* bytes, std::size_t size, const std::string& what);
// The tensors alone.
TensorMap read_safetensors(const std::string& path);
TensorMap parse_safetensors(const std::uint8_t* bytes, std::size_t size, const std::string& what);

// Serializes f32 tensors (each tensor's dtype is written as "F32") and, when not empty, a "__metadata__";
// the header is padded to 8 bytes.
std::vector<std::uint8_t> serialize_safetensors(const TensorMap& tensors, const std::map<std::string, std::string>& metadata = {});

// An order given for a file's layers: their prefixes, comma-separated, and who gave it.
struct GivenOrder {
  std::string names;   // "proj,head"
  std::string source;  // "--layer-order" or "metadata" (the file's __metadata__ "layer_order")
};

// Builds a model from a PyTorch state_dict of nn.Linear layers: tensors "<prefix>.weight" [out, in] and
// "<prefix>.bias" [out] (a layer without one runs with a zero bias, as nn.Linear(bias=False)). The order,
// never the file's: `given` when there is one (every prefix once); else, when the names carry an order (each
// two next in natural order first differ in a number: "2" < "10", "fc2" < "fc10", "layers.3.fc" <
// "layers.10.fc"; not "block.0.down" and "block.0.up"), that order; else the only order in which the layers
// chain. Throws InputError when a tensor is missing or extra, the file holds more than 4096 layers, the given
// or numbered order doesn't chain (saying which order would), or no order or more than one chains (naming the
// layers and how to give the order, FIRST,...,LAST). Messages name at most 10 layers, then "and N more".
// origin.layer_names, layer_order and no_bias say what was decided.
Model model_from_tensors(const TensorMap& tensors, const std::string& what, const std::optional<GivenOrder>& given = std::nullopt);

// read_safetensors_file + model_from_tensors + the file's sha256. The order is `layer_order` (from
// --layer-order) when given, else the file's __metadata__ "layer_order" when it has one.
Model load_model(const std::string& path, const std::optional<std::string>& layer_order = std::nullopt);

// What a user must hear of a loaded model's layers, e.g. "layers of mlp.safetensors in the only order that
// chains: fc_in (784->512), head (512->10, no bias)" (at most 10 layers, then "and N more"); "" when they ran
// in numbered order, each with its bias.
std::string layer_order_summary(const Model& model);

// Hex sha256 of a file's bytes (OpenSSL). Throws InputError if the file can't be read.
std::string sha256_file(const std::string& path);

// f16 / bf16 -> f32 conversions (exact).
float half_to_float(std::uint16_t h);
float bfloat16_to_float(std::uint16_t b);

}  // namespace mlpbench
