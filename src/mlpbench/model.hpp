// The MLP: dense layers, ReLU between layers and none after the last; f32 weights in PyTorch's
// nn.Linear layout (weight [out, in] row-major, bias [out]). Built from a seed or loaded from safetensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mlpbench {

struct Layer {
  int in = 0;
  int out = 0;
  std::vector<float> weight;  // [out, in] row-major
  std::vector<float> bias;    // [out]
};

// Where the weights came from, recorded in the results JSON.
struct WeightsOrigin {
  std::string kind;      // "seed" or "file"
  std::uint64_t seed = 0;  // kind == "seed"
  std::string file;      // kind == "file": the path as given
  std::string sha256;    // kind == "file": hex digest of the file's bytes
  std::vector<std::string> layer_names;  // kind == "file": the layers' prefixes, in the order they run
  std::string layer_order;               // how that order was decided: "numbered", "only chain", "--layer-order", "metadata"
  std::vector<std::string> no_bias;      // layers stored without a bias (nn.Linear(bias=False)): run with a zero bias
};

struct Model {
  std::vector<Layer> layers;
  WeightsOrigin origin;

  std::vector<int> widths() const;      // {in0, out0, out1, ...}
  int input_width() const { return layers.front().in; }
  int output_width() const { return layers.back().out; }
  int max_width() const;                // widest activation, input included
  double flops_per_sample() const;      // 2 * sum(in * out): multiply-adds of the dense layers
  std::size_t parameter_count() const;  // weights + biases
};

// Checks a list of widths ("784,512,512,10" parsed): at least two, each in [1, kMaxWidth].
// Throws InputError naming the offending entry.
inline constexpr int kMaxWidth = 1 << 16;
void validate_widths(const std::vector<int>& widths);

// Builds a model with He-uniform weights, weight ~ U(-a, a) with a = sqrt(6 / in), and
// bias ~ U(-b, b) with b = 1 / sqrt(in), so ReLU activations stay of order 1 for inputs of order 1.
// The generator is std::mt19937_64 with an explicit float conversion: the same seed gives the same
// weights with every compiler and standard library.
Model make_seeded_model(const std::vector<int>& widths, std::uint64_t seed);

// Fills x [batch, width] with U(-1, 1) from the seed (same generator as above).
std::vector<float> make_seeded_input(int batch, int width, std::uint64_t seed);

// Checks a model's internal consistency (sizes, chaining, finite values). Throws InputError.
void validate_model(const Model& model);

// The plain CPU reference: double-precision loops, no library. x [batch, in] -> y [batch, out].
std::vector<double> reference_forward(const Model& model, const float* x, int batch);

}  // namespace mlpbench
