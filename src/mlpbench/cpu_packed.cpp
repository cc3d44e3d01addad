// The "eigen-omp-packed" CPU backend: the fast path. At prepare time each layer's weights are packed into
// panels of NR output neurons laid out k-major ([K][NR], the order the inner loop reads them), bias padded
// alike. A register-blocked micro-kernel written with Eigen's packet math (AVX-512, AVX2, NEON alike)
// keeps MR x NR accumulators in registers, broadcasts one input per row and k, and applies bias + ReLU
// before its only store. OpenMP threads split (panel, row-chunk) work items of every layer inside one
// parallel region per forward, a barrier between layers; threads are pinned to cores once, at prepare.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <utility>
#include <cstring>
#include <omp.h>

#include "mlpbench/backend.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/threads.hpp"

namespace mlpbench {
namespace {

using Packet = Eigen::internal::packet_traits<float>::type;
constexpr int P = Eigen::internal::packet_traits<float>::size;  // floats per register: 16 on AVX-512
// Accumulator tile MR x NV packets: MR * NV + NV + 1 registers must fit the register file.
constexpr int NV = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS >= 32 ? 4 : 2;
constexpr int NR = NV * P;  // output neurons per panel: 64 on AVX-512
constexpr int MR = 6;       // rows per micro-kernel call, at most
static_assert(MR * NV + NV + 1 <= EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS || P == 1, "accumulators must fit the registers");

using AlignedVector = std::vector<float, Eigen::aligned_allocator<float>>;

// y[0..ROWS, 0..cols) = relu?(x[0..ROWS, 0..K) W_panel^T + bias) for a panel of W packets (W * P neurons).
// x row stride ldx, y row stride ldy; panel [K][W * P] and bias [W * P] aligned, zero-padded past cols.
template <int ROWS, int W>
void micro_kernel(const float* x, int ldx, const float* panel, const float* bias, float* y, int ldy, int K, int cols, bool relu) {
  using namespace Eigen::internal;
  constexpr int width = W * P;
  Packet acc[ROWS][W];
  for (int v = 0; v < W; ++v) {
    const Packet b = pload<Packet>(bias + v * P);
    for (int r = 0; r < ROWS; ++r) acc[r][v] = b;
  }
  const float* w = panel;
  for (int k = 0; k < K; ++k, w += width) {
    // Few rows: the loop streams weights from L3, so fetch a few rows ahead of use.
    if (ROWS <= 2) prefetch(w + 8 * width);
    Packet wv[W];
    for (int v = 0; v < W; ++v) wv[v] = pload<Packet>(w + v * P);
    for (int r = 0; r < ROWS; ++r) {
      const Packet xb = pset1<Packet>(x[r * ldx + k]);
      for (int v = 0; v < W; ++v) acc[r][v] = pmadd(xb, wv[v], acc[r][v]);
    }
  }
  const Packet zero = pset1<Packet>(0.0f);
  for (int r = 0; r < ROWS; ++r) {
    if (relu) {
      for (int v = 0; v < W; ++v) acc[r][v] = pmax(acc[r][v], zero);
    }
    if (cols == width) {
      for (int v = 0; v < W; ++v) pstoreu(y + r * ldy + v * P, acc[r][v]);
    } else {  // the last panel of a layer whose width is not a multiple of P
      alignas(64) float tmp[width];
      for (int v = 0; v < W; ++v) pstore(tmp + v * P, acc[r][v]);
      std::memcpy(y + r * ldy, tmp, sizeof(float) * cols);
    }
  }
}

using MicroKernel = void (*)(const float*, int, const float*, const float*, float*, int, int, int, bool);

template <int ROWS, int... Ws>
constexpr std::array<MicroKernel, NV + 1> kernels_for_rows(std::integer_sequence<int, 0, Ws...>) {
  return {nullptr, micro_kernel<ROWS, Ws>...};
}
template <int... Rs>
constexpr std::array<std::array<MicroKernel, NV + 1>, MR + 1> kernel_table(std::integer_sequence<int, 0, Rs...>) {
  return {std::array<MicroKernel, NV + 1>{}, kernels_for_rows<Rs>(std::make_integer_sequence<int, NV + 1>{})...};
}
// kKernels[rows][packets]: rows in [1, MR], packets in [1, NV].
constexpr auto kKernels = kernel_table(std::make_integer_sequence<int, MR + 1>{});

// A layer's weights as panels of NR neurons, the last one only as wide as it needs (whole packets):
// a 10-neuron output layer reads one 16-wide panel on AVX-512, not a 64-wide one.
struct PackedLayer {
  int in = 0, out = 0, panels = 0;
  AlignedVector w;     // panel p at p * in * NR: [in][width(p)]
  AlignedVector bias;  // panel p at p * NR: [width(p)]
  int packets(int panel) const { return std::min(NV, (out - panel * NR + P - 1) / P); }
};

PackedLayer pack(const Layer& l) {
  PackedLayer p;
  p.in = l.in;
  p.out = l.out;
  p.panels = (l.out + NR - 1) / NR;
  p.w.assign(static_cast<std::size_t>(p.panels) * l.in * NR, 0.0f);
  p.bias.assign(static_cast<std::size_t>(p.panels) * NR, 0.0f);
  for (int n = 0; n < l.out; ++n) {
    const int panel = n / NR, j = n % NR, width = p.packets(panel) * P;
    float* dst = p.w.data() + static_cast<std::size_t>(panel) * l.in * NR + j;
    const float* src = l.weight.data() + static_cast<std::size_t>(n) * l.in;
    for (int k = 0; k < l.in; ++k) dst[static_cast<std::size_t>(k) * width] = src[k];
    p.bias[static_cast<std::size_t>(panel) * NR + j] = l.bias[n];
  }
  return p;
}

class PackedBackend final : public Backend {
 public:
  explicit PackedBackend(int threads) : threads_(threads > 0 ? threads : available_cores()) {}

  std::string name() const override { return "eigen-omp-packed"; }
  Device device() const override { return Device::CPU; }
  int threads() const override { return threads_; }
  std::string config() const override { return "threads=" + std::to_string(threads_) + (pinned_ ? ",pinned" : ""); }

  void prepare(const Model& model, int max_batch) override {
    validate_model(model);
    if (max_batch < 1) throw InputError("prepare: max_batch must be >= 1");
    layers_.clear();
    for (const Layer& l : model.layers) layers_.push_back(pack(l));
    max_batch_ = max_batch;
    for (auto& b : buffers_) b.assign(static_cast<std::size_t>(max_batch) * model.max_width(), 0.0f);
    pinned_ = pin_omp_threads(threads_);
  }

  void forward(const float* x, float* y, int batch) override {
    if (batch < 1 || batch > max_batch_) {
      throw InputError("forward: batch " + std::to_string(batch) + " outside [1, " + std::to_string(max_batch_) + "]");
    }
    const int count = static_cast<int>(layers_.size());
#pragma omp parallel num_threads(threads_)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      for (int li = 0; li < count; ++li) {
        const float* in = li == 0 ? x : buffers_[(li - 1) % 2].data();
        float* out = li == count - 1 ? y : buffers_[li % 2].data();
        run_layer(layers_[li], in, out, batch, li < count - 1, t, nt);
        if (li < count - 1) {
#pragma omp barrier
        }
      }
    }
  }

 private:
  // Work items (panel, chunk of MR rows), panel-major so a thread keeps few panels hot in its cache;
  // thread t takes a contiguous share.
  static void run_layer(const PackedLayer& l, const float* in, float* out, int batch, bool relu, int t, int nt) {
    const int chunks = (batch + MR - 1) / MR;
    const long long items = static_cast<long long>(l.panels) * chunks;
    const long long begin = items * t / nt, end = items * (t + 1) / nt;
    for (long long item = begin; item < end; ++item) {
      const int panel = static_cast<int>(item / chunks), chunk = static_cast<int>(item % chunks);
      // Rows split evenly over the chunks (10 = 5 + 5, not 6 + 4): every call keeps as many rows busy as it can.
      const int base = batch / chunks, extra = batch % chunks;
      const int m0 = chunk * base + std::min(chunk, extra), rows = base + (chunk < extra ? 1 : 0);
      const int n0 = panel * NR, cols = std::min(NR, l.out - n0);
      kKernels[rows][l.packets(panel)](in + static_cast<std::size_t>(m0) * l.in, l.in, l.w.data() + static_cast<std::size_t>(panel) * l.in * NR,
                     l.bias.data() + static_cast<std::size_t>(panel) * NR, out + static_cast<std::size_t>(m0) * l.out + n0, l.out, l.in, cols, relu);
    }
  }

  int threads_;
  bool pinned_ = false;
  int max_batch_ = 0;
  std::vector<PackedLayer> layers_;
  std::vector<float> buffers_[2];  // ping-pong activations [max_batch, max_width]
};

}  // namespace

std::unique_ptr<Backend> make_cpu_packed_backend(int threads) { return std::make_unique<PackedBackend>(threads); }

}  // namespace mlpbench
