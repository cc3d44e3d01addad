// The "eigen" CPU backend: Eigen products on OpenMP threads, each thread owning a block of output
// neurons of every layer, bias + ReLU applied to the block while it is in cache. One parallel region
// per forward, a barrier between layers; Eigen's own threading is off (EIGEN_DONT_PARALLELIZE). Threads are
// pinned to cores at prepare (see threads.hpp), as for the packed backend, so the two compare fairly.
#include <Eigen/Core>
#include <algorithm>

#include "mlpbench/backend.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/threads.hpp"

namespace mlpbench {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

struct Block {
  int begin = 0;  // first output neuron
  int size = 0;   // neurons in the block (0: this thread idles on this layer)
};

class EigenBackend final : public OmpBackend {
 public:
  explicit EigenBackend(int threads) : OmpBackend(threads) {}

  std::string name() const override { return "eigen"; }

  void prepare(const Model& model, int max_batch) override {
    validate_model(model);
    weights_.clear();
    biases_.clear();
    blocks_.clear();
    for (const Layer& l : model.layers) {
      weights_.push_back(Eigen::Map<const RowMatrix>(l.weight.data(), l.out, l.in));
      biases_.push_back(Eigen::Map<const Eigen::RowVectorXf>(l.bias.data(), l.out));
      blocks_.push_back(split(l.out));
    }
    prepare_threads(model, max_batch);
  }

 protected:
  void run_layer(int li, const float* in, float* out, int batch, bool relu, int t, int nt) const override {
    for (int bi = t; bi < threads_; bi += nt) layer_block(li, blocks_[li][bi], in, out, batch, relu);
  }

 private:
  // Output neurons split into threads_ contiguous blocks, each a multiple of 16 (one AVX-512 register).
  std::vector<Block> split(int out) const {
    const int per = (out + threads_ - 1) / threads_;
    const int chunk = std::max(16, (per + 15) / 16 * 16);
    std::vector<Block> blocks(threads_);
    for (int t = 0; t < threads_; ++t) {
      const int begin = std::min(out, t * chunk);
      blocks[t] = {begin, std::min(out, begin + chunk) - begin};
    }
    return blocks;
  }

  // y[:, block] = relu?(x [batch, in] * W[block, :]^T + b[block]), in column panels of at most kPanel
  // neurons: each Eigen product then packs at most kc x (batch + kPanel) floats, which stays under
  // EIGEN_STACK_ALLOCATION_LIMIT (see CMakeLists.txt), so forward() never touches the heap.
  void layer_block(int li, Block blk, const float* in, float* out, int batch, bool relu) const {
    constexpr int kPanel = 256;
    const RowMatrix& w = weights_[li];
    Eigen::Map<const RowMatrix> x(in, batch, w.cols());
    for (int c0 = blk.begin; c0 < blk.begin + blk.size; c0 += kPanel) {
      const int nc = std::min(kPanel, blk.begin + blk.size - c0);
      Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>> y(out + c0, batch, nc, Eigen::OuterStride<>(w.rows()));
      y.noalias() = x * w.middleRows(c0, nc).transpose();
      const auto bias = biases_[li].segment(c0, nc);
      if (relu) {
        for (int r = 0; r < batch; ++r) y.row(r) = (y.row(r) + bias).cwiseMax(0.0f);
      } else {
        y.rowwise() += bias;
      }
    }
  }

  std::vector<RowMatrix> weights_;             // [out, in] per layer
  std::vector<Eigen::RowVectorXf> biases_;     // [out] per layer
  std::vector<std::vector<Block>> blocks_;     // per layer, per thread
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<EigenBackend>(threads); }

}  // namespace mlpbench
