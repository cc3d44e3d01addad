// Model construction, validation and the plain double-precision reference forward.
#include "mlpbench/model.hpp"

#include <cmath>
#include <random>
#include <string>

#include "mlpbench/errors.hpp"

namespace mlpbench {
namespace {

// Uniform double in [0, 1) from the top 53 bits: portable, unlike std::uniform_real_distribution.
double unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

float symmetric(std::mt19937_64& rng, double a) {
  return static_cast<float>((2.0 * unit(rng) - 1.0) * a);
}

}  // namespace

std::vector<int> Model::widths() const {
  std::vector<int> w;
  if (layers.empty()) return w;
  w.push_back(layers.front().in);
  for (const Layer& l : layers) w.push_back(l.out);
  return w;
}

int Model::max_width() const {
  int m = 0;
  for (int w : widths()) m = std::max(m, w);
  return m;
}

double Model::flops_per_sample() const {
  double f = 0;
  for (const Layer& l : layers) f += 2.0 * l.in * l.out;
  return f;
}

std::size_t Model::parameter_count() const {
  std::size_t n = 0;
  for (const Layer& l : layers) n += l.weight.size() + l.bias.size();
  return n;
}

void validate_widths(const std::vector<int>& widths) {
  if (widths.size() < 2) {
    throw InputError("layers: need at least two widths (input and output), got " +
                     std::to_string(widths.size()));
  }
  for (std::size_t i = 0; i < widths.size(); ++i) {
    if (widths[i] < 1 || widths[i] > kMaxWidth) {
      throw InputError("layers: width #" + std::to_string(i + 1) + " is " + std::to_string(widths[i]) +
                       ", must be in [1, " + std::to_string(kMaxWidth) + "]");
    }
  }
}

Model make_seeded_model(const std::vector<int>& widths, std::uint64_t seed) {
  validate_widths(widths);
  std::mt19937_64 rng(seed);
  Model m;
  m.origin.kind = "seed";
  m.origin.seed = seed;
  for (std::size_t i = 0; i + 1 < widths.size(); ++i) {
    Layer l;
    l.in = widths[i];
    l.out = widths[i + 1];
    const double a = std::sqrt(6.0 / l.in);
    const double b = 1.0 / std::sqrt(static_cast<double>(l.in));
    l.weight.resize(static_cast<std::size_t>(l.out) * l.in);
    l.bias.resize(l.out);
    for (float& w : l.weight) w = symmetric(rng, a);
    for (float& v : l.bias) v = symmetric(rng, b);
    m.layers.push_back(std::move(l));
  }
  return m;
}

std::vector<float> make_seeded_input(int batch, int width, std::uint64_t seed) {
  // A different stream than the weights': the input of seed 1 is not the first layer's weights.
  std::mt19937_64 rng(seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<float> x(static_cast<std::size_t>(batch) * width);
  for (float& v : x) v = symmetric(rng, 1.0);
  return x;
}

void validate_model(const Model& model) {
  if (model.layers.empty()) throw InputError("model has no layers");
  for (std::size_t i = 0; i < model.layers.size(); ++i) {
    const Layer& l = model.layers[i];
    const std::string where = "layer " + std::to_string(i);
    if (l.in < 1 || l.out < 1 || l.in > kMaxWidth || l.out > kMaxWidth) {
      throw InputError(where + ": shape [" + std::to_string(l.out) + ", " + std::to_string(l.in) +
                       "] out of range [1, " + std::to_string(kMaxWidth) + "]");
    }
    if (l.weight.size() != static_cast<std::size_t>(l.in) * l.out || l.bias.size() != static_cast<std::size_t>(l.out)) {
      throw InputError(where + ": weight/bias sizes don't match its shape");
    }
    if (i > 0 && model.layers[i - 1].out != l.in) {
      throw InputError(where + ": input width " + std::to_string(l.in) + " doesn't match the previous layer's output width " +
                       std::to_string(model.layers[i - 1].out));
    }
    for (float w : l.weight) {
      if (!std::isfinite(w)) throw InputError(where + ": weight holds a non-finite value");
    }
    for (float b : l.bias) {
      if (!std::isfinite(b)) throw InputError(where + ": bias holds a non-finite value");
    }
  }
}

std::vector<double> reference_forward(const Model& model, const float* x, int batch) {
  std::vector<double> cur(x, x + static_cast<std::size_t>(batch) * model.input_width());
  for (std::size_t li = 0; li < model.layers.size(); ++li) {
    const Layer& l = model.layers[li];
    const bool relu = li + 1 < model.layers.size();
    std::vector<double> next(static_cast<std::size_t>(batch) * l.out);
    for (int r = 0; r < batch; ++r) {
      for (int o = 0; o < l.out; ++o) {
        double acc = l.bias[o];
        for (int i = 0; i < l.in; ++i) acc += static_cast<double>(l.weight[static_cast<std::size_t>(o) * l.in + i]) * cur[static_cast<std::size_t>(r) * l.in + i];
        next[static_cast<std::size_t>(r) * l.out + o] = relu && acc < 0 ? 0.0 : acc;
      }
    }
    cur = std::move(next);
  }
  return cur;
}

}  // namespace mlpbench
