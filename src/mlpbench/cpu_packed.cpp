// The "eigen-omp-packed" CPU backend: the fast path. At prepare time each layer's weights are packed into
// panels of NR output neurons laid out k-major ([K][NR], the order the inner loop reads them), bias padded
// alike. "eigen-omp-packed-bf16" is the same with the weights stored as bfloat16 (half the bytes to stream;
// each packet widened to f32 as it is loaded, f32 accumulation). A register-blocked micro-kernel written with Eigen's packet math (AVX-512, AVX2, NEON alike)
// keeps MR x NR accumulators in registers, broadcasts one input per row and k, and applies bias + ReLU
// before its only store. OpenMP threads split (panel, row-chunk) work items of every layer inside one
// parallel region per forward, a barrier between layers; threads are pinned to cores once, at prepare.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <utility>
#include <cstring>
#include <type_traits>

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

// Weight storage: float, or bfloat16 widened to a float packet on load (Eigen's Bf16ToF32).
template <class Weight>
struct WeightLoad;
template <>
struct WeightLoad<float> {
  static constexpr bool kAvailable = true;
  static Packet load(const float* p) { return Eigen::internal::pload<Packet>(p); }
  static float store(float v) { return v; }
};
using BfPacket = Eigen::internal::packet_traits<Eigen::bfloat16>::type;
template <>
struct WeightLoad<Eigen::bfloat16> {
  // Needs a bf16 packet as wide as the float packet (AVX-512, AVX2/AVX, NEON in Eigen 3.4).
  static constexpr bool kAvailable = Eigen::internal::unpacket_traits<BfPacket>::size == P && P > 1;
  static Packet load(const Eigen::bfloat16* p) {
    if constexpr (kAvailable) {
      return Eigen::internal::Bf16ToF32(Eigen::internal::ploadu<BfPacket>(p));
    } else {
      return Eigen::internal::pset1<Packet>(static_cast<float>(*p));  // never used: the backend is not offered
    }
  }
  static Eigen::bfloat16 store(float v) { return Eigen::bfloat16(v); }  // round to nearest even
};

// y[0..ROWS, 0..cols) = relu?(x[0..ROWS, 0..K) W_panel^T + bias) for a panel of W packets (W * P neurons).
// x row stride ldx, y row stride ldy; panel [K][W * P] and bias [W * P] aligned, zero-padded past cols.
template <class Weight, int ROWS, int W>
void micro_kernel(const float* x, int ldx, const Weight* panel, const float* bias, float* y, int ldy, int K, int cols, bool relu) {
  using namespace Eigen::internal;
  constexpr int width = W * P;
  Packet acc[ROWS][W];
  for (int v = 0; v < W; ++v) {
    const Packet b = pload<Packet>(bias + v * P);
    for (int r = 0; r < ROWS; ++r) acc[r][v] = b;
  }
  const Weight* w = panel;
  for (int k = 0; k < K; ++k, w += width) {
    // Few rows: the loop streams weights from L3, so fetch a few rows ahead of use.
    if (ROWS <= 2) prefetch(w + 8 * width);
    Packet wv[W];
    for (int v = 0; v < W; ++v) wv[v] = WeightLoad<Weight>::load(w + v * P);
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

template <class Weight>
using MicroKernel = void (*)(const float*, int, const Weight*, const float*, float*, int, int, int, bool);

template <class Weight, int ROWS, int... Ws>
constexpr std::array<MicroKernel<Weight>, NV + 1> kernels_for_rows(std::integer_sequence<int, 0, Ws...>) {
  return {nullptr, micro_kernel<Weight, ROWS, Ws>...};
}
template <class Weight, int... Rs>
constexpr std::array<std::array<MicroKernel<Weight>, NV + 1>, MR + 1> kernel_table(std::integer_sequence<int, 0, Rs...>) {
  return {std::array<MicroKernel<Weight>, NV + 1>{}, kernels_for_rows<Weight, Rs>(std::make_integer_sequence<int, NV + 1>{})...};
}
// kKernels<Weight>[rows][packets]: rows in [1, MR], packets in [1, NV].
template <class Weight>
constexpr auto kKernels = kernel_table<Weight>(std::make_integer_sequence<int, MR + 1>{});

// A layer's weights as panels of NR neurons, the last one only as wide as it needs (whole packets):
// a 10-neuron output layer reads one 16-wide panel on AVX-512, not a 64-wide one.
template <class Weight>
struct PackedLayer {
  int in = 0, out = 0, panels = 0;
  std::vector<Weight, Eigen::aligned_allocator<Weight>> w;  // panel p at p * in * NR: [in][width(p)]
  AlignedVector bias;  // panel p at p * NR: [width(p)]
  int packets(int panel) const { return std::min(NV, (out - panel * NR + P - 1) / P); }
};

template <class Weight>
PackedLayer<Weight> pack(const Layer& l) {
  PackedLayer<Weight> p;
  p.in = l.in;
  p.out = l.out;
  p.panels = (l.out + NR - 1) / NR;
  p.w.assign(static_cast<std::size_t>(p.panels) * l.in * NR, WeightLoad<Weight>::store(0.0f));
  p.bias.assign(static_cast<std::size_t>(p.panels) * NR, 0.0f);
  for (int n = 0; n < l.out; ++n) {
    const int panel = n / NR, j = n % NR, width = p.packets(panel) * P;
    Weight* dst = p.w.data() + static_cast<std::size_t>(panel) * l.in * NR + j;
    const float* src = l.weight.data() + static_cast<std::size_t>(n) * l.in;
    for (int k = 0; k < l.in; ++k) dst[static_cast<std::size_t>(k) * width] = WeightLoad<Weight>::store(src[k]);
    p.bias[static_cast<std::size_t>(panel) * NR + j] = l.bias[n];
  }
  return p;
}

template <class Weight>
class PackedBackend final : public OmpBackend {
 public:
  explicit PackedBackend(int threads) : OmpBackend(threads) {}

  std::string name() const override { return std::is_same_v<Weight, float> ? "eigen-omp-packed" : "eigen-omp-packed-bf16"; }
  double bytes_per_weight() const override { return sizeof(Weight); }
  Precision precision() const override { return std::is_same_v<Weight, float> ? Precision::FP32 : Precision::BF16; }

  void prepare(const Model& model, int max_batch) override {
    validate_model(model);
    layers_.clear();
    for (const Layer& l : model.layers) layers_.push_back(pack<Weight>(l));
    prepare_threads(model, max_batch);
  }

 protected:
  void run_layer(int li, const float* in, float* out, int batch, bool relu, int t, int nt) const override {
    run_packed_layer(layers_[li], in, out, batch, relu, t, nt);
  }

 private:
  // Work items (panel, chunk of MR rows), panel-major so a thread keeps few panels hot in its cache;
  // thread t takes a contiguous share.
  static void run_packed_layer(const PackedLayer<Weight>& l, const float* in, float* out, int batch, bool relu, int t, int nt) {
    const int chunks = (batch + MR - 1) / MR;
    const long long items = static_cast<long long>(l.panels) * chunks;
    const long long begin = items * t / nt, end = items * (t + 1) / nt;
    for (long long item = begin; item < end; ++item) {
      const int panel = static_cast<int>(item / chunks), chunk = static_cast<int>(item % chunks);
      // Rows split evenly over the chunks (10 = 5 + 5, not 6 + 4): every call keeps as many rows busy as it can.
      const int base = batch / chunks, extra = batch % chunks;
      const int m0 = chunk * base + std::min(chunk, extra), rows = base + (chunk < extra ? 1 : 0);
      const int n0 = panel * NR, cols = std::min(NR, l.out - n0);
      kKernels<Weight>[rows][l.packets(panel)](in + static_cast<std::size_t>(m0) * l.in, l.in, l.w.data() + static_cast<std::size_t>(panel) * l.in * NR,
                     l.bias.data() + static_cast<std::size_t>(panel) * NR, out + static_cast<std::size_t>(m0) * l.out + n0, l.out, l.in, cols, relu);
    }
  }

  std::vector<PackedLayer<Weight>> layers_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_packed_backend(int threads) { return std::make_unique<PackedBackend<float>>(threads); }

std::unique_ptr<Backend> make_cpu_packed_bf16_backend(int threads) {
  if (!WeightLoad<Eigen::bfloat16>::kAvailable) return nullptr;
  return std::make_unique<PackedBackend<Eigen::bfloat16>>(threads);
}

}  // namespace mlpbench
