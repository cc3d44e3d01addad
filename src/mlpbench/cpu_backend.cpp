// The "eigen" CPU backend: Eigen products on OpenMP threads, each thread owning a block of output
// neurons of every layer, bias + ReLU applied to the block while it is in cache. One parallel region
// per forward, a barrier between layers; Eigen's own threading is off (EIGEN_DONT_PARALLELIZE). Threads are
// pinned to cores at prepare (see threads.hpp), as for the packed backend, so the two compare fairly.
#include <Eigen/Core>
#include <algorithm>
#include <omp.h>

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

class EigenBackend final : public Backend {
 public:
  explicit EigenBackend(int threads) : threads_(threads > 0 ? threads : available_cores()) {}

  std::string name() const override { return "eigen"; }
  Device device() const override { return Device::CPU; }
  int threads() const override { return threads_; }
  std::string config() const override { return "threads=" + std::to_string(threads_) + (pinned_ ? ",pinned" : ""); }

  void prepare(const Model& model, int max_batch) override {
    validate_model(model);
    if (max_batch < 1) throw InputError("prepare: max_batch must be >= 1");
    weights_.clear();
    biases_.clear();
    blocks_.clear();
    for (const Layer& l : model.layers) {
      weights_.push_back(Eigen::Map<const RowMatrix>(l.weight.data(), l.out, l.in));
      biases_.push_back(Eigen::Map<const Eigen::RowVectorXf>(l.bias.data(), l.out));
      blocks_.push_back(split(l.out));
    }
    max_batch_ = max_batch;
    for (auto& b : buffers_) b.assign(static_cast<std::size_t>(max_batch) * model.max_width(), 0.0f);
    pinned_ = pin_omp_threads(threads_);
  }

  void forward(const float* x, float* y, int batch) override {
    if (batch < 1 || batch > max_batch_) {
      throw InputError("forward: batch " + std::to_string(batch) + " outside [1, " + std::to_string(max_batch_) + "]");
    }
    const int layers = static_cast<int>(weights_.size());
#pragma omp parallel num_threads(threads_)
    {
      const int t = omp_get_thread_num();
      const int nt = omp_get_num_threads();  // may be fewer than asked (OMP_THREAD_LIMIT, nesting)
      for (int li = 0; li < layers; ++li) {
        const float* in = li == 0 ? x : buffers_[(li - 1) % 2].data();
        float* out = li == layers - 1 ? y : buffers_[li % 2].data();
        for (int bi = t; bi < threads_; bi += nt) layer_block(li, blocks_[li][bi], in, out, batch, li < layers - 1);
#pragma omp barrier
      }
    }
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

  int threads_;
  bool pinned_ = false;
  int max_batch_ = 0;
  std::vector<RowMatrix> weights_;             // [out, in] per layer
  std::vector<Eigen::RowVectorXf> biases_;     // [out] per layer
  std::vector<std::vector<Block>> blocks_;     // per layer, per thread
  std::vector<float> buffers_[2];              // ping-pong activations [max_batch, max_width]
};

}  // namespace

std::unique_ptr<Backend> make_cpu_backend(int threads) { return std::make_unique<EigenBackend>(threads); }

}  // namespace mlpbench
