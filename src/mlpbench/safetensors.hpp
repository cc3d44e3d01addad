// Reads and writes the Hugging Face safetensors format: 8-byte little-endian header length N,
// N bytes of JSON header {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}},
// then the data. Every offset, size and dtype is checked before it is used; tensors are converted to f32.
#pragma once

#include <cstdint>
#include <map>
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

// Reads every tensor of a safetensors file. Throws InputError naming the file and the problem
// (missing, truncated, header or offsets out of range, unknown dtype, shape that doesn't match bytes).
TensorMap read_safetensors(const std::string& path);
TensorMap parse_safetensors(const std::uint8_t* bytes, std::size_t size, const std::string& what);

// Serializes f32 tensors (each tensor's dtype is written as "F32"); the header is padded to 8 bytes.
std::vector<std::uint8_t> serialize_safetensors(const TensorMap& tensors);

// Builds a model from a PyTorch state_dict of nn.Linear layers: tensors "<prefix>.weight" [out, in] and
// "<prefix>.bias" [out], ordered by the numbers in the prefix (natural order: "2" < "10", "fc2" < "fc10"),
// not by their position in the file. Throws InputError when a tensor is missing or extra, or shapes
// don't chain. `origin` is recorded in the model.
Model model_from_tensors(const TensorMap& tensors, const std::string& what);

// read_safetensors + model_from_tensors + the file's sha256.
Model load_model(const std::string& path);

// Hex sha256 of a file's bytes (OpenSSL). Throws InputError if the file can't be read.
std::string sha256_file(const std::string& path);

// f16 / bf16 -> f32 conversions (exact).
float half_to_float(std::uint16_t h);
float bfloat16_to_float(std::uint16_t b);

}  // namespace mlpbench
