// Model construction: seeded weights are deterministic and scaled, the double reference computes what a
// hand calculation says, and validation names what is wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "mlpbench/errors.hpp"
#include "mlpbench/model.hpp"

using namespace mlpbench;
using ::testing::HasSubstr;

TEST(Model, SeededWeightsAreDeterministicAndSeedDependent) {
  const Model a = make_seeded_model({5, 7, 3}, 1), b = make_seeded_model({5, 7, 3}, 1), c = make_seeded_model({5, 7, 3}, 2);
  ASSERT_EQ(a.layers.size(), 2u);
  EXPECT_EQ(a.layers[0].weight, b.layers[0].weight);
  EXPECT_EQ(a.layers[1].bias, b.layers[1].bias);
  EXPECT_NE(a.layers[0].weight, c.layers[0].weight);
  EXPECT_EQ(a.widths(), (std::vector<int>{5, 7, 3}));
  EXPECT_EQ(a.origin.kind, "seed");
  EXPECT_EQ(a.origin.seed, 1u);
}

TEST(Model, SeededWeightsStayWithinHeBounds) {
  const Model m = make_seeded_model({784, 512, 10}, 1);
  for (const Layer& l : m.layers) {
    const double a = std::sqrt(6.0 / l.in), b = 1.0 / std::sqrt(double(l.in));
    double sum2 = 0;
    for (float w : l.weight) {
      ASSERT_LE(std::fabs(w), a);
      sum2 += double(w) * w;
    }
    // U(-a, a) has variance a^2 / 3 = 2 / in.
    EXPECT_NEAR(sum2 / l.weight.size(), 2.0 / l.in, 0.1 * 2.0 / l.in);
    for (float v : l.bias) ASSERT_LE(std::fabs(v), b);
  }
}

TEST(Model, ActivationsStayOfOrderOne) {
  const Model m = make_seeded_model({784, 512, 512, 10}, 1);
  const std::vector<float> x = make_seeded_input(4, 784, 1);
  const std::vector<double> y = reference_forward(m, x.data(), 4);
  double sum2 = 0;
  for (double v : y) sum2 += v * v;
  const double rms = std::sqrt(sum2 / y.size());
  EXPECT_GT(rms, 0.05);
  EXPECT_LT(rms, 20.0);
}

TEST(Model, CountsFlopsAndParameters) {
  const Model m = make_seeded_model({784, 512, 512, 10}, 1);
  EXPECT_DOUBLE_EQ(m.flops_per_sample(), 2.0 * (784 * 512 + 512 * 512 + 512 * 10));
  EXPECT_EQ(m.parameter_count(), 784u * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10);
  EXPECT_EQ(m.max_width(), 784);
}

TEST(Model, ReferenceForwardMatchesHandCalculation) {
  // Layer 0: [2 -> 2], ReLU; layer 1: [2 -> 1], no activation.
  Model m;
  m.layers.push_back({2, 2, {1, -1, 2, 1}, {0.5f, -10}});
  m.layers.push_back({2, 1, {3, -2}, {1}});
  const float x[] = {2, 1, -1, 4};  // two rows
  const std::vector<double> y = reference_forward(m, x, 2);
  // row 0: h = relu([2-1+0.5, 4+1-10]) = [1.5, 0]; y = 4.5 + 1 = 5.5
  // row 1: h = relu([-1-4+0.5, -2+4-10]) = [0, 0]; y = 1 (no ReLU after the last layer would keep a negative)
  ASSERT_EQ(y.size(), 2u);
  EXPECT_DOUBLE_EQ(y[0], 5.5);
  EXPECT_DOUBLE_EQ(y[1], 1.0);
  // The last layer has no ReLU: a negative output survives.
  m.layers[1].bias[0] = -3;
  EXPECT_DOUBLE_EQ(reference_forward(m, x, 2)[1], -3.0);
}

TEST(Model, ValidateModelNamesTheProblem) {
  Model m = make_seeded_model({4, 3, 2}, 1);
  m.layers[1].in = 4;
  m.layers[1].weight.resize(8);
  try {
    validate_model(m);
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("layer 1"));
    EXPECT_THAT(e.what(), HasSubstr("doesn't match"));
  }
  Model n = make_seeded_model({4, 3}, 1);
  n.layers[0].weight[2] = NAN;
  EXPECT_THROW(validate_model(n), InputError);
  EXPECT_THROW(validate_model(Model{}), InputError);
}
