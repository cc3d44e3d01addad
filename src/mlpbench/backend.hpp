// The Backend interface every implementation (CPU and GPU) sits behind, and the factories that make them.
// Usage: b->prepare(model, max_batch) once (weights uploaded/packed, buffers allocated), then
// b->forward(x, y, batch) any number of times with batch <= max_batch; forward allocates nothing.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mlpbench/check.hpp"
#include "mlpbench/measure.hpp"
#include "mlpbench/model.hpp"

namespace mlpbench {

enum class Device { CPU, GPU };

// Arithmetic precision of a GPU backend's matrix products (the CPU runs fp32). Storage stays f32.
enum class Precision { FP32, TF32, BF16 };
const char* precision_name(Precision p);         // "fp32", "tf32", "bf16"
Precision parse_precision(const std::string& s);  // throws InputError
// Tolerance of a backend's output against the fp32 CPU output (|d| <= atol + rtol * |ref|):
// fp32 1e-4 + 1e-4 |ref| (summation order only); tf32 (10-bit mantissa) 2e-2 + 2e-2 |ref|;
// bf16 (7-bit mantissa) 1e-1 + 5e-2 |ref|, for activations of order 1 and reductions up to a few thousand.
Tolerance tolerance_for(Precision p);

// One phase of a GPU forward, for the H2D / compute / D2H split.
enum class Phase { H2D, Compute, D2H };

// How a GPU forward's input and output cross between host and device. Copy: staged through pinned host
// buffers with an H2D copy before the layers and a D2H copy after. ZeroCopy: the first layer reads the input
// from, and the last layer writes the output to, mapped pinned host memory (no copies; a forward in a graph
// is then kernels only). Registered: as zero-copy, but in the caller's own buffers, registered with the device
// once (register_host below, as a server registers its request buffers): no host-side copy in or out either.
// Every way, a forward is host memory to host memory.
enum class GpuIo { Copy, ZeroCopy, Registered };
const char* gpu_io_name(GpuIo io);  // "copy", "zero-copy", "registered"
// "copy", "zero-copy", "registered" or "both" (copy and zero-copy: every GPU backend in each mode); throws
// InputError naming --gpu-io.
std::vector<GpuIo> parse_gpu_io(const std::string& s);

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;  // e.g. "eigen", "cublaslt+graph"
  virtual Device device() const = 0;
  // A short description of how it is configured, e.g. "threads=2"; recorded beside the cell.
  virtual std::string config() const { return {}; }
  // CPU threads it runs on (0: not a CPU backend).
  virtual int threads() const { return 0; }
  // Bytes each weight takes in the form the backend streams it (4 for f32, 2 for bf16): for its floor.
  virtual double bytes_per_weight() const { return 4; }
  // The arithmetic it is checked at: its output must match the fp32 CPU within tolerance_for(precision()).
  virtual Precision precision() const { return Precision::FP32; }
  // GPU backends: how input and output cross to the host ("copy", "zero-copy", "registered"); "" for the CPU.
  virtual std::string io() const { return {}; }
  // Registered I/O: registers [p, p + bytes) of host memory with the device (pinned and mapped) for as long as the
  // returned handle lives, so that a forward with x or y there reads or writes it in place. Registration is the
  // process's, not this backend's: every registered-I/O backend may use the buffer, and a page can be registered
  // once, so buffers should start and end on page boundaries. A forward given buffers that are not registered
  // goes through the backend's own mapped buffers (as zero-copy). Null handle: nothing to register (CPU, copy or
  // zero-copy I/O).
  virtual std::shared_ptr<void> register_host(void* p, std::size_t bytes) {
    (void)p, (void)bytes;
    return nullptr;
  }
  // Copies/packs the weights and allocates every buffer a forward of up to max_batch rows needs.
  virtual void prepare(const Model& model, int max_batch) = 0;
  // x [batch, in] row-major in host memory -> y [batch, out] row-major in host memory, synchronized:
  // y is complete when forward returns.
  virtual void forward(const float* x, float* y, int batch) = 0;
  // Optional: readies everything a forward at this batch size needs (GPU: algorithm choice, CUDA graph
  // capture) so none of it is timed. Called after prepare for each batch size; forward plans on first use.
  virtual void plan(int batch) { (void)batch; }
  // Evicts from the caches what the next forward would find there: CPU, from every core of its team (the team's
  // threads share out a buffer twice every last-level cache together); GPU, the device's L2 (a buffer twice the
  // L2 set on its stream). The buffer is allocated once. Never timed: a cold sample is evict_caches(), then one
  // timed forward, which reads its weights from DRAM (CPU) or HBM (GPU). Every backend must say how: a backend
  // that could not evict would label hot numbers cold.
  virtual void evict_caches() = 0;
  // Optional: a timer of one phase alone, by device events (x is the input it copies). Empty for the CPU,
  // and for the H2D and D2H phases of a zero-copy backend (it has no copies).
  virtual TimedRun phase_timer(Phase phase, const float* x, int batch) {
    (void)phase, (void)x, (void)batch;
    return {};
  }
};

// Every backend name a run can time, CPU then GPU; a GPU backend's full name adds its variant to the kernel's
// ("cuda-tiled+graph+zerocopy"). `run --backend` takes these names or full ones.
inline const std::vector<std::string> kCpuBackendNames = {"eigen", "eigen-omp-packed", "eigen-omp-packed-bf16"};
inline const std::vector<std::string> kGpuBackendNames = {"cuda-naive", "cuda-tiled", "cuda-gemv", "cuda-fused", "cublaslt"};
// Whether a backend called `name` is one of `chosen` (a name as above, or a full name); every one when `chosen` is empty.
bool backend_chosen(const std::string& name, const std::vector<std::string>& chosen);

// The Eigen + OpenMP backend ("eigen"): output neurons split across `threads` OpenMP threads
// (threads <= 0: all cores available to this process), bias + ReLU applied per block.
std::unique_ptr<Backend> make_cpu_backend(int threads);

// The fast CPU backend ("eigen-omp-packed"): weights packed once into the layout its register-blocked
// packet-math kernel reads, bias + ReLU fused, OpenMP threads pinned to cores, one parallel region per forward.
std::unique_ptr<Backend> make_cpu_packed_backend(int threads);

// The same with weights stored as bfloat16 ("eigen-omp-packed-bf16"): half the bytes, each packet widened
// to f32 as it is loaded, f32 accumulation. Checked with tolerance_for(Precision::BF16). nullptr where
// Eigen has no bf16 packet as wide as its float packet (a build without SIMD).
std::unique_ptr<Backend> make_cpu_packed_bf16_backend(int threads);

// Why no GPU is usable, as the CUDA side found it, so the reason given matches the cause.
enum class GpuProblem {
  None,
  NoCuda,      // this program was built without CUDA
  NoDriver,    // no NVIDIA driver library (libcuda.so.1) on this machine
  StubDriver,  // the libcuda.so.1 found is the CUDA toolkit's stub, not a driver
  OldDriver,   // the driver supports an older CUDA than this program's runtime
  NoDevice,    // a driver, but no CUDA-capable device
  Other,       // anything else the CUDA runtime said
};
struct GpuProbe {
  GpuProblem problem = GpuProblem::None;
  std::string driver_path;       // the libcuda.so.1 that was loaded, when one was
  int driver_cuda = 0;           // the driver's CUDA version as 1000 * major + 10 * minor (0: unknown)
  int runtime_cuda = 0;          // this program's CUDA runtime, the same way
  std::string runtime_message;   // the CUDA runtime's own words (Other)
};
// One line a user can act on: "no NVIDIA driver (...)", "the NVIDIA driver supports CUDA 12.2, older than ...".
std::string gpu_unavailable_reason(const GpuProbe& probe);

// What the GPU side offers: its backends, or why there are none.
struct GpuBackends {
  std::vector<std::unique_ptr<Backend>> backends;
  std::string unavailable;         // non-empty when backends is empty: gpu_unavailable_reason(probe)
  GpuProbe probe;                  // what the CUDA side found
  std::vector<std::string> skipped;  // backends the factory left out, each with why
  std::string gpu_name;            // device properties, when a device was found
  std::string driver_version;
  std::string runtime_version;
  std::string built_with_cuda;     // the CUDA toolkit version this program was compiled with, "" without CUDA
  std::string emulator;  // non-empty: these backends run on a CUDA emulator on the CPU (a test build): gated and run, never timed
};

// Defined in kernels/: by the CUDA build, or by the stub when CUDA is off. Backends at the given precision,
// each kernel as plain stream launches and as one CUDA graph per forward (copy I/O), and as a graph with
// zero-copy I/O, as far as `io` asks; those that can't run the precision are listed in `skipped` with why.
GpuBackends make_gpu_backends(Precision precision = Precision::FP32, const std::vector<GpuIo>& io = {GpuIo::Copy, GpuIo::ZeroCopy});

}  // namespace mlpbench
