// The "eigen-omp-packed" CPU backend: the fast path. At prepare time each layer's weights are packed into
// panels of NR output neurons laid out k-major ([K][NR], the order the inner loop reads them), bias padded
// alike. "eigen-omp-packed-bf16" is the same with the weights stored as bfloat16 (half the bytes to stream):
// two k per 32-bit word ([K/2][NR] words, k even in the low half), so one load gives the packets of two k,
// widened by a shift and a mask; f32 accumulation. Kernels in Eigen's packet math (AVX-512, AVX2, NEON alike),
// register blocked, bias + ReLU before their only store; config() names the one each batch size runs:
//   few-rows (batch 1..kFewRows): all rows against several panels side by side (one broadcast feeds them
//     all) and/or the K loop split over partial sums added once at the end, so that about kChains
//     accumulators hide the FMA latency: the pass is bound by the weight stream, not by the FMA latency.
//     Each thread streams a contiguous share of each layer's panels, disjoint from the others'.
//   tile (larger batches): MR x NR register tiles, rows split evenly into chunks of at most MR, (panel, chunk)
//     work items split over the threads panel-major.
// No software prefetch: measured on a Zen 1 (AVX2) it only took load slots from the FMAs (batch 1: 5-8%
// slower) while the hardware prefetcher already follows the contiguous panel streams.
// One OpenMP parallel region per forward, a barrier between layers; threads are pinned to cores at prepare.
#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <utility>

#include "mlpbench/backend.hpp"
#include "mlpbench/errors.hpp"
#include "mlpbench/threads.hpp"

namespace mlpbench {
namespace {

using Packet = Eigen::internal::packet_traits<float>::type;
constexpr int P = Eigen::internal::packet_traits<float>::size;  // floats per register: 16 on AVX-512
// The integer packet of the same width, for bf16 widening (int where Eigen has none: no SIMD). GCC warns
// that the vector attributes of __m256 are dropped from the template arguments, which only name the type.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wignored-attributes"
template <class T, class = void>
struct IntegerPacket {
  using type = int;
};
template <class T>
struct IntegerPacket<T, std::void_t<typename Eigen::internal::unpacket_traits<T>::integer_packet>> {
  using type = typename Eigen::internal::unpacket_traits<T>::integer_packet;
};
using IntPacket = IntegerPacket<Packet>::type;
constexpr int kIntPacketSize = Eigen::internal::unpacket_traits<IntPacket>::size;
#pragma GCC diagnostic pop
constexpr int kRegisters = EIGEN_ARCH_DEFAULT_NUMBER_OF_REGISTERS;  // 16 on AVX2, 32 on AVX-512 and NEON
// Tile MR x NV packets: MR * NV accumulators + NV weight packets + 1 broadcast must fit the register file.
constexpr int NV = kRegisters >= 32 ? 4 : 2;
constexpr int NR = NV * P;  // output neurons per panel: 64 on AVX-512
constexpr int MR = 6;       // rows per tile call, at most
static_assert(MR * NV + NV + 1 <= kRegisters || P == 1, "accumulators must fit the registers");
// Batches up to kFewRows run the few-rows kernel, all rows in one call per panel.
constexpr int kFewRows = 4;
// Independent FMA chains the few-rows kernel aims for: FMA latency (4-5 cycles) x FMA pipes (1-2) of the
// x86 and Arm cores we run on, rounded to what the registers hold.
constexpr int kChains = 8;

// Registers a ROWS x PACKETS kernel with S partial sums needs: the accumulators, the weight packets (with one
// row they are FMA memory operands), a broadcast, and `spare` more for widening (bf16: the mask and a word).
constexpr bool fits(int rows, int packets, int s, int spare) { return s * rows * packets + (rows > 1 ? packets : 1) + 1 + spare <= kRegisters; }
// The few-rows kernel's shape for `rows` rows: full panels side by side (up to kMaxPanels), and partial sums
// over k (1 or even: a bf16 word's two k go to two of them), for kChains accumulators as far as they fit.
constexpr int kMaxPanels = 4;
constexpr int few_rows_panels(int rows, int spare) {
  int q = kChains / (rows * NV);
  q = q < 1 ? 1 : q > kMaxPanels ? kMaxPanels : q;
  while (q > 1 && !fits(rows, q * NV, 1, spare)) --q;
  return q;
}
constexpr int k_split(int rows, int packets, int spare) {
  int s = (kChains + rows * packets - 1) / (rows * packets);
  if (s > 1 && s % 2) ++s;
  while (s > 2 && !fits(rows, packets, s, spare)) s -= 2;
  return s == 2 && !fits(rows, packets, 2, spare) ? 1 : s;
}

// Fully unrolls a loop of compile-time length, so the accumulator arrays live in registers (GCC gives up
// on its own past a few dozen statements, and then keeps them on the stack).
#define MLPBENCH_UNROLL _Pragma("GCC unroll 64")

using AlignedVector = std::vector<float, Eigen::aligned_allocator<float>>;

// How a panel stores its weights and widens them: Word holds kGroup consecutive k of one neuron, and
// widen(p, j) is the f32 packet of k offset j for the P neurons at p.
template <class Weight>
struct PanelFormat;
template <>
struct PanelFormat<float> {
  static constexpr int kGroup = 1;
  static constexpr int kSpare = 1;  // registers widen() needs beside the accumulators, weights and broadcast
  using Word = float;
  static Packet widen(const Word* p, int) { return Eigen::internal::pload<Packet>(p); }
  static void widen_word(const Word* p, Packet (&out)[kGroup]) { out[0] = widen(p, 0); }
  static void store(Word* dst, float w, int) { *dst = w; }
};
template <>
struct PanelFormat<Eigen::bfloat16> {
  // Needs an integer packet as wide as the float packet (AVX-512, AVX2, SSE, NEON in Eigen 3.4).
  static constexpr bool kAvailable = kIntPacketSize == P && P > 1;
  static constexpr int kGroup = 2;
  static constexpr int kSpare = 3;  // the mask, the word being widened, the broadcast of its second k
  using Word = std::uint32_t;  // bf16 of k (low half) and k + 1 (high half), as AVX-512 BF16's dot products read them
  static Packet widen(const Word* p, int j) {
    using namespace Eigen::internal;
    if constexpr (kAvailable) {
      const IntPacket raw = pload<IntPacket>(reinterpret_cast<const int*>(p));
      if (j == 0) return preinterpret<Packet>(plogical_shift_left<16>(raw));  // low half to the top: k
      return pand(preinterpret<Packet>(raw), preinterpret<Packet>(pset1<IntPacket>(static_cast<int>(0xFFFF0000u))));  // k + 1
    } else {
      return pset1<Packet>(0.0f);  // never used: the backend is not offered
    }
  }
  // Both k of a word from one load (widen(p, 0) and widen(p, 1) would load it twice: as many loads as f32).
  static void widen_word(const Word* p, Packet (&out)[kGroup]) {
    using namespace Eigen::internal;
    if constexpr (kAvailable) {
      Packet word = preinterpret<Packet>(pload<IntPacket>(reinterpret_cast<const int*>(p)));
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
      // Opaque to the compiler: GCC would fold a second load of the word into the pand (a free operand, it
      // thinks), and loads, not bytes, bound this loop when the weights come from the caches.
      __asm__("" : "+v"(word));
#endif
      out[0] = preinterpret<Packet>(plogical_shift_left<16>(preinterpret<IntPacket>(word)));
      out[1] = pand(word, preinterpret<Packet>(pset1<IntPacket>(static_cast<int>(0xFFFF0000u))));
    } else {
      out[0] = out[1] = pset1<Packet>(0.0f);
    }
  }
  static void store(Word* dst, float w, int j) {  // round to nearest even
    *dst |= static_cast<Word>(Eigen::numext::bit_cast<std::uint16_t>(Eigen::bfloat16(w))) << (16 * j);
  }
};

// y[0..ROWS, 0..min(cols, WT * P)) = relu?(x[0..ROWS, 0..K) W^T + bias) for Q panels side by side, each W packets wide
// (Q > 1: every one NV packets wide), WT = Q * W packets of neurons in all. x row stride ldx, y row stride ldy;
// panel q at panel + q * pstride words: [ceil(K / kGroup)][W * P] words; bias [WT * P]; aligned, zero-padded
// past cols. S partial sums over k (k % S), added once at the end.
template <class Weight, int ROWS, int W, int S, int Q>
void micro_kernel(const float* x, int ldx, const typename PanelFormat<Weight>::Word* panel, std::size_t pstride, const float* bias, float* y, int ldy,
                  int K, int cols, bool relu) {
  using namespace Eigen::internal;
  using F = PanelFormat<Weight>;
  constexpr int G = F::kGroup, U = S > G ? S : G, WT = Q * W, width = WT * P, panel_width = W * P;
  static_assert(U % S == 0 && U % G == 0, "a step covers whole partial sums and whole words");
  // Packet v of the Q panels: panel v / W, packet v % W.
  std::array<const typename F::Word*, Q> stream;
  MLPBENCH_UNROLL
  for (int q = 0; q < Q; ++q) stream[q] = panel + q * pstride;
  Packet acc[S][ROWS][WT];
  MLPBENCH_UNROLL
  for (int v = 0; v < WT; ++v) {
    const Packet b = pload<Packet>(bias + v * P);
    MLPBENCH_UNROLL
    for (int r = 0; r < ROWS; ++r) {
      acc[0][r][v] = b;
      MLPBENCH_UNROLL
      for (int s = 1; s < S; ++s) acc[s][r][v] = pset1<Packet>(0.0f);
    }
  }
  int k = 0;
  for (std::ptrdiff_t off = 0; k + U <= K; k += U, off += U / G * panel_width) {
    if constexpr (ROWS <= 2) {  // each word loaded once and widened just before its FMAs: few live registers
      MLPBENCH_UNROLL
      for (int u = 0; u < U; u += G) {
        const std::ptrdiff_t at = off + u / G * panel_width;  // packet v at stream[v / W] + at + v % W * P
        Packet xb[G][ROWS];
        MLPBENCH_UNROLL
        for (int g = 0; g < G; ++g) {
          MLPBENCH_UNROLL
          for (int r = 0; r < ROWS; ++r) xb[g][r] = pset1<Packet>(x[r * ldx + k + u + g]);
        }
        MLPBENCH_UNROLL
        for (int v = 0; v < WT; ++v) {
          Packet wv[G];
          F::widen_word(stream[v / W] + at + v % W * P, wv);
          MLPBENCH_UNROLL
          for (int g = 0; g < G; ++g) {
            MLPBENCH_UNROLL
            for (int r = 0; r < ROWS; ++r) acc[(u + g) % S][r][v] = pmadd(xb[g][r], wv[g], acc[(u + g) % S][r][v]);
          }
        }
      }
    } else {  // the weight packets loaded once, one broadcast live at a time
      MLPBENCH_UNROLL
      for (int u = 0; u < U; ++u) {
        const std::ptrdiff_t at = off + u / G * panel_width;
        Packet wv[WT];
        MLPBENCH_UNROLL
        for (int v = 0; v < WT; ++v) wv[v] = F::widen(stream[v / W] + at + v % W * P, u % G);
        MLPBENCH_UNROLL
        for (int r = 0; r < ROWS; ++r) {
          const Packet xb = pset1<Packet>(x[r * ldx + k + u]);
          MLPBENCH_UNROLL
          for (int v = 0; v < WT; ++v) acc[u % S][r][v] = pmadd(xb, wv[v], acc[u % S][r][v]);
        }
      }
    }
  }
  for (std::ptrdiff_t off = static_cast<std::ptrdiff_t>(k / G) * panel_width; k < K; k += G, off += panel_width) {
    for (int j = 0; j < G && k + j < K; ++j) {  // the last k, fewer than a step; an odd K's last word has no k + 1
      MLPBENCH_UNROLL
      for (int v = 0; v < WT; ++v) {
        const Packet wv = F::widen(stream[v / W] + off + v % W * P, j);
        MLPBENCH_UNROLL
        for (int r = 0; r < ROWS; ++r) acc[0][r][v] = pmadd(pset1<Packet>(x[r * ldx + k + j]), wv, acc[0][r][v]);
      }
    }
  }
  MLPBENCH_UNROLL
  for (int s = 1; s < S; ++s) {
    MLPBENCH_UNROLL
    for (int r = 0; r < ROWS; ++r) {
      MLPBENCH_UNROLL
      for (int v = 0; v < WT; ++v) acc[0][r][v] = padd(acc[0][r][v], acc[s][r][v]);
    }
  }
  const Packet zero = pset1<Packet>(0.0f);
  MLPBENCH_UNROLL
  for (int r = 0; r < ROWS; ++r) {
    if (relu) {
      MLPBENCH_UNROLL
      for (int v = 0; v < WT; ++v) acc[0][r][v] = pmax(acc[0][r][v], zero);
    }
    if (cols >= width) {
      MLPBENCH_UNROLL
      for (int v = 0; v < WT; ++v) pstoreu(y + r * ldy + v * P, acc[0][r][v]);
    } else {  // the last panel of a layer whose width is not a multiple of P
      alignas(64) float tmp[width];
      MLPBENCH_UNROLL
      for (int v = 0; v < WT; ++v) pstore(tmp + v * P, acc[0][r][v]);
      std::memcpy(y + r * ldy, tmp, sizeof(float) * cols);
    }
  }
}

template <class Weight>
using MicroKernel = void (*)(const float*, int, const typename PanelFormat<Weight>::Word*, std::size_t, const float*, float*, int, int, int, bool);

// Tile: one panel, no split. FewRows: one panel of any width, K split. FewRowsPanels: few_rows_panels(rows)
// full panels side by side, K split as far as needed.
enum class Kernel { Tile, FewRows, FewRowsPanels };

template <class Weight, Kernel KIND, int ROWS, int W>
constexpr MicroKernel<Weight> kernel_for() {
  constexpr int spare = PanelFormat<Weight>::kSpare;
  if constexpr (KIND == Kernel::Tile) {
    return micro_kernel<Weight, ROWS, W, 1, 1>;
  } else if constexpr (KIND == Kernel::FewRows) {
    return micro_kernel<Weight, ROWS, W, k_split(ROWS, W, spare), 1>;
  } else if constexpr (W == NV) {
    constexpr int q = few_rows_panels(ROWS, spare);
    return micro_kernel<Weight, ROWS, W, k_split(ROWS, q * W, spare), q>;
  } else {
    return nullptr;  // side by side only full panels
  }
}

template <class Weight, Kernel KIND, int ROWS, int... Ws>
constexpr std::array<MicroKernel<Weight>, NV + 1> kernels_for_rows(std::integer_sequence<int, 0, Ws...>) {
  return {nullptr, kernel_for<Weight, KIND, ROWS, Ws>()...};
}
template <class Weight, Kernel KIND, int... Rs>
constexpr std::array<std::array<MicroKernel<Weight>, NV + 1>, sizeof...(Rs) + 1> kernel_table(std::integer_sequence<int, 0, Rs...>) {
  return {std::array<MicroKernel<Weight>, NV + 1>{}, kernels_for_rows<Weight, KIND, Rs>(std::make_integer_sequence<int, NV + 1>{})...};
}
// kKernels<Weight, kind>[rows][packets]: rows in [1, MR] (tile) or [1, kFewRows], packets in [1, NV]
// (FewRowsPanels: NV only, packets per panel).
template <class Weight, Kernel KIND>
constexpr auto kKernels = kernel_table<Weight, KIND>(std::make_integer_sequence<int, (KIND == Kernel::Tile ? MR : kFewRows) + 1>{});

// A layer's weights as panels of NR neurons, the last one only as wide as it needs (whole packets):
// a 10-neuron output layer reads one 16-wide panel on AVX-512, not a 64-wide one.
template <class Weight>
struct PackedLayer {
  using Word = typename PanelFormat<Weight>::Word;
  int in = 0, out = 0, panels = 0;
  std::vector<Word, Eigen::aligned_allocator<Word>> w;  // panel p at p * panel_stride(): [words()][width(p)]
  AlignedVector bias;  // panel p at p * NR: [width(p)]
  int packets(int panel) const { return std::min(NV, (out - panel * NR + P - 1) / P); }
  int words() const { return (in + PanelFormat<Weight>::kGroup - 1) / PanelFormat<Weight>::kGroup; }  // per neuron
  std::size_t panel_stride() const { return static_cast<std::size_t>(words()) * NR; }
  const Word* panel(int p) const { return w.data() + p * panel_stride(); }
};

template <class Weight>
PackedLayer<Weight> pack(const Layer& l) {
  using F = PanelFormat<Weight>;
  PackedLayer<Weight> p;
  p.in = l.in;
  p.out = l.out;
  p.panels = (l.out + NR - 1) / NR;
  p.w.assign(static_cast<std::size_t>(p.panels) * p.panel_stride(), 0);
  p.bias.assign(static_cast<std::size_t>(p.panels) * NR, 0.0f);
  for (int n = 0; n < l.out; ++n) {
    const int panel = n / NR, j = n % NR, width = p.packets(panel) * P;
    typename F::Word* dst = p.w.data() + panel * p.panel_stride() + j;
    const float* src = l.weight.data() + static_cast<std::size_t>(n) * l.in;
    for (int k = 0; k < l.in; ++k) F::store(dst + static_cast<std::size_t>(k / F::kGroup) * width, src[k], k % F::kGroup);
    p.bias[static_cast<std::size_t>(panel) * NR + j] = l.bias[n];
  }
  return p;
}

template <class Weight>
class PackedBackend final : public OmpBackend {
 public:
  explicit PackedBackend(int threads) : OmpBackend(threads) {}

  std::string name() const override { return std::is_same_v<Weight, float> ? "eigen-omp-packed" : "eigen-omp-packed-bf16"; }
  // The kernel that runs at each batch size, e.g. "threads=2,pinned,kernel[1-4]=few-rows,kernel[5+]=tile6x16".
  std::string config() const override {
    return OmpBackend::config() + ",kernel[1-" + std::to_string(kFewRows) + "]=few-rows,kernel[" + std::to_string(kFewRows + 1) +
           "+]=tile" + std::to_string(MR) + "x" + std::to_string(NR);
  }
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
    const PackedLayer<Weight>& l = layers_[li];
    if (batch <= kFewRows) {
      run_few_rows(l, in, out, batch, relu, l.panels * t / nt, l.panels * (t + 1) / nt);
    } else {
      run_tiles(l, in, out, batch, relu, t, nt);
    }
  }

 private:
  // All `rows` rows of x [rows, in] against panels [p0, p1) (a thread's contiguous share of the weights):
  // full panels few_rows_panels(rows) at a time, the rest one by one.
  static void run_few_rows(const PackedLayer<Weight>& l, const float* in, float* out, int rows, bool relu, int p0, int p1) {
    const int q = few_rows_panels(rows, PanelFormat<Weight>::kSpare);
    int p = p0;
    for (; p + q <= p1 && l.packets(p + q - 1) == NV; p += q) run_panel(kKernels<Weight, Kernel::FewRowsPanels>[rows][NV], l, p, in, 0, out, relu);
    for (; p < p1; ++p) run_panel(kKernels<Weight, Kernel::FewRows>[rows][l.packets(p)], l, p, in, 0, out, relu);
  }

  // The kernel's rows from m0 on of x [batch, in] against its panels from `panel` on -> their columns of those
  // rows of y [batch, out].
  static void run_panel(MicroKernel<Weight> kernel, const PackedLayer<Weight>& l, int panel, const float* in, int m0, float* out, bool relu) {
    const int n0 = panel * NR;
    kernel(in + static_cast<std::size_t>(m0) * l.in, l.in, l.panel(panel), l.panel_stride(), l.bias.data() + n0, out + static_cast<std::size_t>(m0) * l.out + n0,
           l.out, l.in, l.out - n0, relu);
  }

  // Work items (panel, chunk of MR rows), panel-major so a thread keeps few panels hot in its cache;
  // thread t takes a contiguous share.
  static void run_tiles(const PackedLayer<Weight>& l, const float* in, float* out, int batch, bool relu, int t, int nt) {
    const int chunks = (batch + MR - 1) / MR;
    const long long items = static_cast<long long>(l.panels) * chunks;
    const long long begin = items * t / nt, end = items * (t + 1) / nt;
    for (long long item = begin; item < end; ++item) {
      const int panel = static_cast<int>(item / chunks), chunk = static_cast<int>(item % chunks);
      // Rows split evenly over the chunks (10 = 5 + 5, not 6 + 4): every call keeps as many rows busy as it can.
      const int base = batch / chunks, extra = batch % chunks;
      const int rows = base + (chunk < extra ? 1 : 0);
      run_panel(kKernels<Weight, Kernel::Tile>[rows][l.packets(panel)], l, panel, in, chunk * base + std::min(chunk, extra), out, relu);
    }
  }

  std::vector<PackedLayer<Weight>> layers_;
};

}  // namespace

std::unique_ptr<Backend> make_cpu_packed_backend(int threads) { return std::make_unique<PackedBackend<float>>(threads); }

std::unique_ptr<Backend> make_cpu_packed_bf16_backend(int threads) {
  if (!PanelFormat<Eigen::bfloat16>::kAvailable) return nullptr;
  return std::make_unique<PackedBackend<Eigen::bfloat16>>(threads);
}

}  // namespace mlpbench
