// mlpbench's CUDA emulator: the runtime (see include/cuda_runtime.h for what it covers and why).
#include <cuda_runtime.h>
#include <dlfcn.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <boost/context/fiber.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "emu_internal.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define MLPBENCH_EMU_ASAN 1
#endif

namespace mlpbench::emu {
namespace ctx = boost::context;

thread_local RaceView* race_view = nullptr;

namespace {

// ---------------------------------------------------------------------------------------------------------
// The emulated device: H100-like.

constexpr int kSms = 132;
constexpr int kWarp = 32;
constexpr int kMaxThreadsPerSm = 2048;
constexpr int kMaxBlocksPerSm = 32;
constexpr int kRegsPerSm = 65536;
// Registers and static shared memory of a kernel are invisible here (ptxas decides them): a cooperative grid
// is limited as if every thread used this many registers, which gives 256-thread blocks 2 per SM (as our
// fused kernel gets on an H200).
constexpr int kAssumedRegsPerThread = 128;
constexpr std::size_t kSharedPerSm = 228 * 1024, kSharedPerBlock = 48 * 1024, kL2 = 50 * 1024 * 1024;

cudaDeviceProp device_prop() {
  cudaDeviceProp p{};
  std::snprintf(p.name, sizeof p.name, "mlpbench CUDA emulator (H100-like, %d SMs)", kSms);
  p.totalGlobalMem = std::size_t{80} << 30;
  p.sharedMemPerBlock = kSharedPerBlock;
  p.sharedMemPerMultiprocessor = kSharedPerSm;
  p.regsPerBlock = p.regsPerMultiprocessor = kRegsPerSm;
  p.warpSize = kWarp;
  p.maxThreadsPerBlock = 1024;
  p.maxThreadsPerMultiProcessor = kMaxThreadsPerSm;
  p.maxBlocksPerMultiProcessor = kMaxBlocksPerSm;
  p.maxThreadsDim[0] = p.maxThreadsDim[1] = 1024, p.maxThreadsDim[2] = 64;
  p.maxGridSize[0] = 0x7fffffff, p.maxGridSize[1] = p.maxGridSize[2] = 65535;
  p.multiProcessorCount = kSms;
  p.l2CacheSize = static_cast<int>(kL2);
  p.major = 9, p.minor = 0;
  p.cooperativeLaunch = 1;
  p.canMapHostMemory = 1;
  return p;
}

// The host thread's last error (cudaGetLastError), as CUDA keeps it per host thread.
thread_local cudaError_t last_error = cudaSuccess;
cudaError_t fail(cudaError_t e) {
  last_error = e;
  return e;
}

// ---------------------------------------------------------------------------------------------------------
// Memory: every allocation exact (AddressSanitizer sees one byte past it), 256-byte aligned as cudaMalloc's.

enum class MemKind { Device, Pinned, Mapped, Registered };  // Registered: the caller's memory (cudaHostRegister)
std::mutex memory_mutex;
std::map<const void*, std::pair<std::size_t, MemKind>> allocations;

cudaError_t allocate(void** p, std::size_t bytes, MemKind kind) {
  if (!p) return fail(cudaErrorInvalidValue);
  *p = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (posix_memalign(p, 256, bytes) != 0) return fail(cudaErrorMemoryAllocation);
  std::lock_guard<std::mutex> lock(memory_mutex);
  allocations[*p] = {bytes, kind};
  return cudaSuccess;
}

cudaError_t release(void* p, bool host) {
  if (!p) return cudaSuccess;
  std::lock_guard<std::mutex> lock(memory_mutex);
  const auto it = allocations.find(p);
  if (it == allocations.end() || (it->second.second != MemKind::Device) != host || it->second.second == MemKind::Registered) {
    return fail(host ? cudaErrorInvalidValue : cudaErrorInvalidDevicePointer);
  }
  allocations.erase(it);
  std::free(p);
  return cudaSuccess;
}

// ---------------------------------------------------------------------------------------------------------
// Configuration from the environment.

enum class Order { Forward, Reversed, Shuffled };
struct Config {
  Order order = Order::Forward;
  unsigned seed = 1;
  bool racecheck = false;
};
const Config& config() {
  static const Config c = [] {
    Config c;
    const char* o = std::getenv("MLPBENCH_EMU_ORDER");
    const std::string order = o ? o : "forward";
    if (order == "forward") c.order = Order::Forward;
    else if (order == "reversed") c.order = Order::Reversed;
    else if (order.rfind("shuffle", 0) == 0) {
      c.order = Order::Shuffled;
      if (const auto colon = order.find(':'); colon != std::string::npos) c.seed = static_cast<unsigned>(std::strtoul(order.c_str() + colon + 1, nullptr, 10));
    } else {
      std::fprintf(stderr, "mlpbench CUDA emulator: MLPBENCH_EMU_ORDER is '%s': forward, reversed or shuffle[:SEED]\n", order.c_str());
      std::exit(2);
    }
    const char* r = std::getenv("MLPBENCH_EMU_RACECHECK");
    c.racecheck = r && std::string(r) == "1";
    return c;
  }();
  return c;
}

// ---------------------------------------------------------------------------------------------------------
// Fiber stacks: carved from large mappings (a cooperative launch holds ~68k threads, more than the kernel's
// limit of mappings if each had its own), kept for reuse; a canary at the bottom of each stack catches an
// overflow when the thread ends.

#if defined(MLPBENCH_EMU_ASAN)
constexpr std::size_t kStack = 256 * 1024;  // AddressSanitizer's frames are larger
#else
constexpr std::size_t kStack = 64 * 1024;
#endif
constexpr std::size_t kStacksPerMapping = 256;
constexpr std::uint64_t kCanary = 0x6d6c7062656e6368ull;  // "mlpbench"

class StackPool {
 public:
  ctx::stack_context allocate() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) {
      void* m = mmap(nullptr, kStack * kStacksPerMapping, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
      if (m == MAP_FAILED) {
        std::fprintf(stderr, "mlpbench CUDA emulator: no memory for threads' stacks\n");
        std::abort();
      }
      for (std::size_t i = 0; i < kStacksPerMapping; ++i) free_.push_back(static_cast<char*>(m) + i * kStack);
    }
    char* bottom = free_.back();
    free_.pop_back();
    std::memcpy(bottom, &kCanary, sizeof kCanary);
    ctx::stack_context sc;
    sc.size = kStack;
    sc.sp = bottom + kStack;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) {
    char* bottom = static_cast<char*>(sc.sp) - kStack;
    if (std::memcmp(bottom, &kCanary, sizeof kCanary) != 0) {
      std::fprintf(stderr, "mlpbench CUDA emulator: a kernel thread overflowed its %zu KiB stack\n", kStack / 1024);
      std::abort();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(bottom);
  }

 private:
  std::mutex mutex_;
  std::vector<char*> free_;
};
StackPool& stack_pool() {
  static StackPool* pool = new StackPool;  // never destroyed: fibers may end after static destruction began
  return *pool;
}
// Boost.Context's StackAllocator over the pool; tells the thread where its stack is (AddressSanitizer needs it).
struct PooledStack {
  const void** bottom;
  ctx::stack_context allocate() {
    ctx::stack_context sc = stack_pool().allocate();
    *bottom = static_cast<char*>(sc.sp) - sc.size;
    return sc;
  }
  void deallocate(ctx::stack_context& sc) { stack_pool().deallocate(sc); }
};

// ---------------------------------------------------------------------------------------------------------
// Kernel execution: a block's threads as fibers on one OS thread.

enum class Wait { None, Block, Warp, Grid, Exited };

struct Thread {
  uint3 idx{};
  int tid = 0;
  ctx::fiber fiber;  // the thread, while it is suspended
  ctx::fiber sched;  // the scheduler, while the thread runs
  Wait wait = Wait::None;
  // At a warp-level sync (__syncwarp or a shuffle): what it asked and gives, and what it gets.
  unsigned mask = 0;
  const char* what = nullptr;
  int kind = 0, arg = 0, width = 0;
  unsigned long long value = 0, result = 0;
  const void* stack_bottom = nullptr;
#if defined(MLPBENCH_EMU_ASAN)
  void* fake_stack = nullptr;
  const void* sched_bottom = nullptr;
  std::size_t sched_size = 0;
#endif
};

class GridBarrier;

struct Block {
  const KernelLaunch* launch = nullptr;
  uint3 idx{};
  std::vector<Thread> threads;
  std::vector<int> order;  // the order the scheduler resumes threads in
  std::vector<std::uint32_t> warp_syncs;
  std::vector<unsigned> warp_waiting, warp_exited;  // per warp: lanes waiting at a warp-level sync, lanes that ended
  GridBarrier* grid = nullptr;
  std::mt19937 rng;
  RaceView view;
};

thread_local Block* current_block = nullptr;
thread_local Thread* current_thread = nullptr;

std::string hex(unsigned v) {
  char s[16];
  std::snprintf(s, sizeof s, "0x%x", v);
  return s;
}

std::string dim_text(uint3 d) { return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")"; }
std::string kernel_name(const void* k) { return describe_code(k); }

// The barrier of grid.sync(): every block of a cooperative launch arrives before any goes on.
class GridBarrier {
 public:
  explicit GridBarrier(unsigned blocks) : blocks_(blocks) {}
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    const unsigned gen = generation_;
    if (++arrived_ + exited_ == blocks_) {
      if (exited_ > 0) exit_while_waiting();
      arrived_ = 0, ++generation_;
      cv_.notify_all();
      return;
    }
    cv_.wait(lock, [&] { return generation_ != gen; });
  }
  void block_exited() {
    std::lock_guard<std::mutex> lock(mutex_);
    ++exited_;
    if (arrived_ > 0 && arrived_ + exited_ == blocks_) exit_while_waiting();
  }

 private:
  [[noreturn]] void exit_while_waiting() {
    std::fprintf(stderr, "mlpbench CUDA emulator: a block of a cooperative launch ended while others wait at grid.sync(): on a GPU the grid hangs\n");
    std::abort();
  }
  std::mutex mutex_;
  std::condition_variable cv_;
  unsigned blocks_, arrived_ = 0, exited_ = 0, generation_ = 0;
};

void set_coordinates(const Block& b, const Thread& t) {
  threadIdx = t.idx;
  blockIdx = b.idx;
  blockDim = b.launch->block;
  gridDim = b.launch->grid;
}

void reorder(Block& b) {
  const Order o = config().order;
  b.order.resize(b.threads.size());
  for (std::size_t i = 0; i < b.order.size(); ++i) b.order[i] = static_cast<int>(i);
  if (o == Order::Reversed) std::reverse(b.order.begin(), b.order.end());
  else if (o == Order::Shuffled) std::shuffle(b.order.begin(), b.order.end(), b.rng);
}

// The running thread gives way to the scheduler until it is resumed.
void yield_to_scheduler(Wait why) {
  Thread* t = current_thread;
  t->wait = why;
#if defined(MLPBENCH_EMU_ASAN)
  __sanitizer_start_switch_fiber(&t->fake_stack, t->sched_bottom, t->sched_size);
#endif
  t->sched = std::move(t->sched).resume();
#if defined(MLPBENCH_EMU_ASAN)
  __sanitizer_finish_switch_fiber(t->fake_stack, &t->sched_bottom, &t->sched_size);
#endif
}

// Resumes thread t of block b (creating its fiber the first time) until it waits or ends.
void resume(Block& b, Thread& t) {
  set_coordinates(b, t);
  current_thread = &t;
  b.view.thread = t.tid;
  t.wait = Wait::None;
  if (!t.fiber) {
    t.fiber = ctx::fiber(std::allocator_arg, PooledStack{&t.stack_bottom}, [&b, &t](ctx::fiber&& sched) {
      t.sched = std::move(sched);
#if defined(MLPBENCH_EMU_ASAN)
      __sanitizer_finish_switch_fiber(nullptr, &t.sched_bottom, &t.sched_size);
#endif
      b.launch->body();
      t.wait = Wait::Exited;
      b.warp_exited[t.tid / kWarp] |= 1u << (t.tid % kWarp);
#if defined(MLPBENCH_EMU_ASAN)
      __sanitizer_start_switch_fiber(nullptr, t.sched_bottom, t.sched_size);  // this stack is done
#endif
      return std::move(t.sched);
    });
  }
#if defined(MLPBENCH_EMU_ASAN)
  void* fake = nullptr;
  __sanitizer_start_switch_fiber(&fake, t.stack_bottom, kStack);
  t.fiber = std::move(t.fiber).resume();
  __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#else
  t.fiber = std::move(t.fiber).resume();
#endif
  current_thread = nullptr;
}

std::string lanes_text(unsigned lanes) {
  std::string s;
  int shown = 0;
  for (int l = 0; l < kWarp; ++l) {
    if (lanes >> l & 1u && shown++ < 8) s += (s.empty() ? "" : ",") + std::to_string(l);
  }
  if (shown > 8) s += ",... (" + std::to_string(shown) + " lanes)";
  return s;
}

// Completes the warp-level sync that lanes of `mask` in warp w wait at, when every one of them is there with the
// same call and mask; aborts where a GPU would hang or give undefined values.
bool try_complete_warp(Block& b, int w, unsigned mask) {
  if ((b.warp_waiting[w] & mask) != mask) return false;
  const int first = w * kWarp;
  for (int lane = 0; lane < kWarp; ++lane) {
    if (!(mask >> lane & 1u)) continue;
    const Thread& t = b.threads[first + lane];
    if (t.wait != Wait::Warp) return false;
    if (t.mask != mask || t.kind != b.threads[first + __builtin_ctz(mask)].kind || t.what != b.threads[first + __builtin_ctz(mask)].what) {
      current_thread = &b.threads[first + lane];
      kernel_fault("lanes of warp " + std::to_string(w) + " meet at different warp-level calls (" + t.what + " with mask " + hex(t.mask) +
                   " and " + b.threads[first + __builtin_ctz(mask)].what + " with mask " + hex(mask) + "): undefined on a GPU");
    }
  }
  for (int lane = 0; lane < kWarp; ++lane) {
    if (!(mask >> lane & 1u)) continue;
    Thread& t = b.threads[first + lane];
    t.result = t.value;
    if (t.width > 0) {  // a shuffle: the lane's source within its segment of `width` lanes
      const int base = lane & ~(t.width - 1), i = lane - base;
      int src = -1;
      switch (t.kind) {
        case kShflIdx: src = t.arg & (t.width - 1); break;
        case kShflUp: src = i - t.arg >= 0 ? i - t.arg : -1; break;
        case kShflDown: src = i + t.arg < t.width ? i + t.arg : -1; break;
        default: src = (i ^ t.arg) < t.width ? (i ^ t.arg) : -1; break;
      }
      if (src >= 0) {
        if (!(mask >> (base + src) & 1u)) {
          current_thread = &t;
          kernel_fault(std::string(t.what) + " in lane " + std::to_string(lane) + " reads lane " + std::to_string(base + src) +
                       ", which is not in its mask " + hex(mask) + ": undefined on a GPU");
        }
        t.result = b.threads[first + base + src].value;
      }
    }
  }
  for (int lane = 0; lane < kWarp; ++lane) {
    if (mask >> lane & 1u) b.threads[first + lane].wait = Wait::None;
  }
  b.warp_waiting[w] &= ~mask;
  ++b.warp_syncs[w];
  return true;
}

// A warp-level sync by the running thread: checks its mask against the lanes that exist and live, waits for
// the others, and returns its result.
unsigned long long warp_sync(unsigned mask, unsigned long long value, int width, int kind, int arg, const char* what) {
  Block& b = *current_block;
  Thread& t = *current_thread;
  const int lane = t.tid % kWarp, w = t.tid / kWarp;
  const int lanes_here = std::min<int>(kWarp, static_cast<int>(b.threads.size()) - w * kWarp);
  if (!(mask >> lane & 1u)) kernel_fault(std::string(what) + " with mask " + hex(mask) + " called by lane " + std::to_string(lane) + ", which is not in it");
  if (width > 0 && (width > kWarp || (width & (width - 1)) != 0)) kernel_fault(std::string(what) + " with width " + std::to_string(width) + ": a power of two up to 32");
  const unsigned missing = lanes_here == kWarp ? 0u : mask & ~((1u << lanes_here) - 1u), exited = mask & b.warp_exited[w];
  if (missing) {
    kernel_fault(std::string(what) + " with mask " + hex(mask) + " in warp " + std::to_string(w) + ": lanes " + lanes_text(missing) +
                 " do not exist (the block has " + std::to_string(b.threads.size()) + " threads); on a GPU this warp would hang");
  }
  if (exited) {
    kernel_fault(std::string(what) + " with mask " + hex(mask) + " in warp " + std::to_string(w) + ": lanes " + lanes_text(exited) +
                 " have exited; on a GPU this warp would hang");
  }
  t.mask = mask, t.value = value, t.width = width, t.kind = kind, t.arg = arg, t.what = what;
  t.wait = Wait::Warp;
  b.warp_waiting[w] |= 1u << lane;
  if (!try_complete_warp(b, w, mask)) yield_to_scheduler(Wait::Warp);
  return t.result;
}

[[noreturn]] void deadlock(Block& b) {
  std::string waits;
  int shown = 0;
  for (Thread& t : b.threads) {
    if (t.wait == Wait::Exited || shown >= 8) continue;
    ++shown;
    waits += " thread " + std::to_string(t.tid) + (t.wait == Wait::Block ? " at __syncthreads;" : t.wait == Wait::Grid ? " at grid.sync();" : std::string(" at ") + t.what + ";");
  }
  current_thread = nullptr;
  kernel_fault("the block's threads wait for each other at different barriers (on a GPU it hangs):" + waits);
}

// Runs every thread of block `idx` to its end.
void run_block(const KernelLaunch& launch, uint3 idx, unsigned linear, GridBarrier* grid) {
  Block b;
  b.launch = &launch;
  b.idx = idx;
  b.grid = grid;
  b.rng.seed(config().seed * 7919u + linear);
  const unsigned n = launch.block.x * launch.block.y * launch.block.z;
  b.threads.resize(n);
  for (unsigned i = 0; i < n; ++i) {
    Thread& t = b.threads[i];
    t.tid = static_cast<int>(i);
    t.idx = {i % launch.block.x, i / launch.block.x % launch.block.y, i / (launch.block.x * launch.block.y)};
  }
  b.warp_syncs.assign((n + kWarp - 1) / kWarp, 0);
  b.warp_waiting.assign(b.warp_syncs.size(), 0);
  b.warp_exited.assign(b.warp_syncs.size(), 0);
  b.view.kernel = launch.kernel;
  b.view.block[0] = idx.x, b.view.block[1] = idx.y, b.view.block[2] = idx.z;
  b.view.warp_syncs = b.warp_syncs.data();
  current_block = &b;
  race_view = &b.view;
  racecheck_new_block();
  reorder(b);
  for (;;) {
    for (int i : b.order) {
      if (b.threads[i].wait == Wait::None) resume(b, b.threads[i]);
    }
    int live = 0, at_block = 0, at_grid = 0, ready = 0;
    for (const Thread& t : b.threads) {
      live += t.wait != Wait::Exited;
      at_block += t.wait == Wait::Block;
      at_grid += t.wait == Wait::Grid;
      ready += t.wait == Wait::None;
    }
    if (ready > 0) continue;  // a warp sync completed during the pass
    if (live == 0) break;
    if (at_block == live || at_grid == live) {
      if (at_grid == live) {
        if (!grid) {
          current_thread = &b.threads[0];
          kernel_fault("grid.sync() in a kernel not launched cooperatively: undefined on a GPU");
        }
        grid->wait();
      }
      for (Thread& t : b.threads) {
        if (t.wait != Wait::Exited) t.wait = Wait::None;
      }
      racecheck_new_epoch();  // everything before the barrier is ordered before everything after
      if (config().order == Order::Shuffled) reorder(b);
      continue;
    }
    deadlock(b);
  }
  if (grid) grid->block_exited();
  current_block = nullptr;
  race_view = nullptr;
}

// The launch's blocks in the chosen order (reversed or shuffled too, so that a kernel that depends on the order
// of its blocks shows it).
std::vector<unsigned> block_order(unsigned blocks) {
  std::vector<unsigned> order(blocks);
  for (unsigned i = 0; i < blocks; ++i) order[i] = i;
  if (config().order == Order::Reversed) std::reverse(order.begin(), order.end());
  else if (config().order == Order::Shuffled) std::shuffle(order.begin(), order.end(), std::mt19937(config().seed));
  return order;
}

uint3 block_index(const dim3& grid, unsigned i) { return {i % grid.x, i / grid.x % grid.y, i / (grid.x * grid.y)}; }

// OS threads that run the blocks of a cooperative launch, one each, all at once; kept from launch to launch (a
// new thread's thread_local __shared__ variables and race-check shadow cost more than the kernel).
class BlockThreads {
 public:
  // fn(0) .. fn(n - 1), each on its own thread, at the same time; returns when all have returned.
  void run(unsigned n, const std::function<void(unsigned)>& fn) {
    std::lock_guard<std::mutex> one_launch(launch_mutex_);  // launches from several host threads take turns
    std::unique_lock<std::mutex> lock(mutex_);
    while (threads_ < n) {
      std::thread(&BlockThreads::work, this, threads_++).detach();  // never joined: they wait for work until exit
    }
    fn_ = &fn, n_ = n, done_ = 0, ++generation_;
    start_.notify_all();
    finished_.wait(lock, [&] { return done_ == n_; });
    fn_ = nullptr;
  }

 private:
  void work(unsigned k) {
    unsigned seen = 0;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
      start_.wait(lock, [&] { return generation_ != seen && k < n_ && fn_; });
      seen = generation_;
      const std::function<void(unsigned)>* fn = fn_;
      lock.unlock();
      (*fn)(k);
      lock.lock();
      if (++done_ == n_) finished_.notify_one();
    }
  }

  std::mutex launch_mutex_, mutex_;
  std::condition_variable start_, finished_;
  const std::function<void(unsigned)>* fn_ = nullptr;
  unsigned threads_ = 0, n_ = 0, done_ = 0, generation_ = 0;
};

void run_kernel(const KernelLaunch& l) {
  const unsigned blocks = l.grid.x * l.grid.y * l.grid.z;
  const std::vector<unsigned> order = block_order(blocks);
  if (!l.cooperative) {
    for (unsigned i : order) run_block(l, block_index(l.grid, i), i, nullptr);
    return;
  }
  // Co-resident blocks: one OS thread each, so each has its own thread_local __shared__ variables.
  static BlockThreads* threads = new BlockThreads;  // never destroyed, as its threads
  GridBarrier barrier(blocks);
  threads->run(blocks, [&](unsigned k) { run_block(l, block_index(l.grid, order[k]), order[k], &barrier); });
}

}  // namespace

// ---------------------------------------------------------------------------------------------------------
// Device API

void syncthreads() {
  if (!current_thread) kernel_fault("__syncthreads() outside a kernel");
  yield_to_scheduler(Wait::Block);
}

void syncwarp(unsigned mask) { warp_sync(mask, 0, 0, 0, 0, "__syncwarp"); }

unsigned long long shuffle(unsigned mask, unsigned long long value, int width, int kind, int arg, const char* what) {
  if (width < 1) kernel_fault(std::string(what) + " with width " + std::to_string(width) + ": a power of two up to 32");
  return warp_sync(mask, value, width, kind, arg, what);
}

void grid_sync() { yield_to_scheduler(Wait::Grid); }

long long clock() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

int resident_blocks_per_sm(int threads, std::size_t dynamic_smem) {
  const int warps = (threads + kWarp - 1) / kWarp;
  int blocks = std::min(kMaxBlocksPerSm, kMaxThreadsPerSm / (warps * kWarp));
  blocks = std::min(blocks, kRegsPerSm / (warps * kWarp * kAssumedRegsPerThread));
  if (dynamic_smem > 0) blocks = std::min(blocks, static_cast<int>(kSharedPerSm / (dynamic_smem + 1024)));
  return std::max(blocks, 0);
}

std::string describe_code(const void* pc) {
  Dl_info info{};
  std::uintptr_t base = 0;
  char self[4096] = {};
  std::string exe = readlink("/proc/self/exe", self, sizeof self - 1) > 0 ? self : "/proc/self/exe";  // addr2line's own /proc/self is not ours
  if (dladdr(pc, &info) && info.dli_fbase) {
    base = reinterpret_cast<std::uintptr_t>(info.dli_fbase);
    if (info.dli_fname && info.dli_fname[0] == '/' && std::string(info.dli_fname).find(".so") != std::string::npos) exe = info.dli_fname;
  }
  char offset[32];
  std::snprintf(offset, sizeof offset, "0x%zx", static_cast<std::size_t>(reinterpret_cast<std::uintptr_t>(pc) - base));
  std::string text;
  const std::string cmd = "addr2line -C -f -e '" + exe + "' " + offset + " 2>/dev/null";
  if (FILE* f = popen(cmd.c_str(), "r")) {
    char line[4096];
    std::string name, where;
    if (std::fgets(line, sizeof line, f)) name = line;
    if (std::fgets(line, sizeof line, f)) where = line;
    pclose(f);
    auto chomp = [](std::string& s) {
      while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
    };
    chomp(name), chomp(where);
    const bool no_line = where.empty() || where.rfind("??", 0) == 0 || where.find(":?") != std::string::npos;  // built without -g
    if (!name.empty() && name != "??") text = name + (no_line ? "" : " (" + where + ")");
  }
  return text.empty() ? std::string(exe) + "+" + offset : text;
}

void kernel_fault(const std::string& what) {
  std::string where;
  if (current_block) {
    where = "kernel " + kernel_name(current_block->launch->kernel) + ", block " + dim_text(current_block->idx);
    if (current_thread) where += ", thread " + dim_text(current_thread->idx);
    where += ": ";
  }
  std::fprintf(stderr, "mlpbench CUDA emulator: %s%s\n", where.c_str(), what.c_str());
  std::fflush(stderr);
  std::abort();
}

bool racecheck_enabled() { return config().racecheck; }

}  // namespace mlpbench::emu

// ---------------------------------------------------------------------------------------------------------
// Streams, events and graphs: work queued in order, run when the host synchronizes.

using Op = std::function<void()>;

struct CUgraph_st {
  std::vector<Op> ops;
};
struct CUgraphExec_st {
  std::vector<Op> ops;
};
struct CUstream_st {
  std::vector<Op> queue;
  CUgraph_st* capture = nullptr;  // capturing into this graph
  bool capture_broken = false;    // a call that can't be captured happened during the capture
};
struct CUevent_st {
  bool recorded = false;
  bool done = false;
  std::chrono::steady_clock::time_point at;
};

namespace {

using mlpbench::emu::fail;

std::mutex stream_mutex;  // one host thread at a time runs queued work
CUstream_st legacy_stream;
std::vector<CUstream_st*> streams{&legacy_stream};

CUstream_st* stream_of(cudaStream_t s) { return s ? s : &legacy_stream; }

// Queues `op` on the stream, or records it into the stream's capture.
cudaError_t enqueue(cudaStream_t s, Op op) {
  CUstream_st* st = stream_of(s);
  std::lock_guard<std::mutex> lock(stream_mutex);
  if (st->capture) st->capture->ops.push_back(std::move(op));
  else st->queue.push_back(std::move(op));
  return cudaSuccess;
}

// Runs the stream's queued work in order.
void drain(CUstream_st* st) {
  std::vector<Op> ops;
  {
    std::lock_guard<std::mutex> lock(stream_mutex);
    ops.swap(st->queue);
  }
  for (Op& op : ops) op();
}

// A synchronizing call on a capturing stream breaks the capture, as on a GPU.
cudaError_t sync_stream(cudaStream_t s) {
  CUstream_st* st = stream_of(s);
  if (st->capture) {
    st->capture_broken = true;
    return fail(cudaErrorStreamCaptureUnsupported);
  }
  drain(st);
  return cudaSuccess;
}

void drain_all() {
  std::vector<CUstream_st*> all;
  {
    std::lock_guard<std::mutex> lock(stream_mutex);
    all = streams;
  }
  for (CUstream_st* st : all) {
    if (!st->capture) drain(st);
  }
}

}  // namespace

cudaError_t mlpbench::emu::launch(const cudaLaunchConfig_t& config, KernelLaunch l) {
  const dim3 g = l.grid, b = l.block;
  const unsigned long long threads = 1ull * b.x * b.y * b.z;
  if (g.x == 0 || g.y == 0 || g.z == 0 || threads == 0 || threads > 1024 || b.x > 1024 || b.y > 1024 || b.z > 64 || g.y > 65535 || g.z > 65535 ||
      g.x > 0x7fffffffu || config.dynamicSmemBytes > kSharedPerBlock) {
    return fail(cudaErrorInvalidConfiguration);
  }
  // MLPBENCH_EMU_COOP_BLOCKS_PER_SM lowers what a cooperative launch may hold below what the occupancy query says,
  // as compute-sanitizer's instrumentation does on a GPU.
  int per_sm = resident_blocks_per_sm(static_cast<int>(threads), config.dynamicSmemBytes);
  if (const char* v = std::getenv("MLPBENCH_EMU_COOP_BLOCKS_PER_SM")) per_sm = std::min(per_sm, std::atoi(v));
  if (l.cooperative && 1ull * g.x * g.y * g.z > 1ull * kSms * static_cast<unsigned>(std::max(per_sm, 0))) {
    return fail(cudaErrorCooperativeLaunchTooLarge);
  }
  auto shared = std::make_shared<KernelLaunch>(std::move(l));
  return enqueue(config.stream, [shared] { run_kernel(*shared); });
}

// ---------------------------------------------------------------------------------------------------------
// The runtime API

const char* cudaGetErrorName(cudaError_t err) {
  switch (err) {
#define MLPBENCH_EMU_NAME(e) \
  case e: return #e;
    MLPBENCH_EMU_NAME(cudaSuccess)
    MLPBENCH_EMU_NAME(cudaErrorInvalidValue)
    MLPBENCH_EMU_NAME(cudaErrorMemoryAllocation)
    MLPBENCH_EMU_NAME(cudaErrorInvalidConfiguration)
    MLPBENCH_EMU_NAME(cudaErrorInvalidDevicePointer)
    MLPBENCH_EMU_NAME(cudaErrorStubLibrary)
    MLPBENCH_EMU_NAME(cudaErrorInsufficientDriver)
    MLPBENCH_EMU_NAME(cudaErrorInvalidDeviceFunction)
    MLPBENCH_EMU_NAME(cudaErrorNoDevice)
    MLPBENCH_EMU_NAME(cudaErrorInvalidDevice)
    MLPBENCH_EMU_NAME(cudaErrorInvalidResourceHandle)
    MLPBENCH_EMU_NAME(cudaErrorIllegalState)
    MLPBENCH_EMU_NAME(cudaErrorNotReady)
    MLPBENCH_EMU_NAME(cudaErrorHostMemoryAlreadyRegistered)
    MLPBENCH_EMU_NAME(cudaErrorHostMemoryNotRegistered)
    MLPBENCH_EMU_NAME(cudaErrorCooperativeLaunchTooLarge)
    MLPBENCH_EMU_NAME(cudaErrorNotSupported)
    MLPBENCH_EMU_NAME(cudaErrorStreamCaptureUnsupported)
    MLPBENCH_EMU_NAME(cudaErrorStreamCaptureInvalidated)
    MLPBENCH_EMU_NAME(cudaErrorStreamCaptureUnmatched)
    MLPBENCH_EMU_NAME(cudaErrorStreamCaptureImplicit)
#undef MLPBENCH_EMU_NAME
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t err) {
  switch (err) {
    case cudaSuccess: return "no error";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer: return "invalid device pointer";
    case cudaErrorCooperativeLaunchTooLarge: return "too many blocks in cooperative launch";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    case cudaErrorStreamCaptureUnmatched: return "capture was not initiated in this stream";
    case cudaErrorInvalidResourceHandle: return "invalid resource handle";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorHostMemoryAlreadyRegistered: return "part or all of the requested memory range is already mapped";
    case cudaErrorHostMemoryNotRegistered: return "pointer does not correspond to a registered memory region";
    default: return cudaGetErrorName(err);
  }
}

cudaError_t cudaGetLastError() { return std::exchange(mlpbench::emu::last_error, cudaSuccess); }
cudaError_t cudaPeekAtLastError() { return mlpbench::emu::last_error; }

// CUDA_VISIBLE_DEVICES hides the device as it does a GPU's ("" or a list without 0: none).
bool device_visible() {
  const char* v = std::getenv("CUDA_VISIBLE_DEVICES");
  return !v || std::string(v).substr(0, std::string(v).find(',')) == "0";
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue);
  *count = device_visible() ? 1 : 0;
  return *count ? cudaSuccess : fail(cudaErrorNoDevice);
}
cudaError_t cudaGetDevice(int* device) {
  if (!device) return fail(cudaErrorInvalidValue);
  *device = 0;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return device == 0 ? cudaSuccess : fail(cudaErrorInvalidDevice); }
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  *prop = mlpbench::emu::device_prop();
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return fail(cudaErrorInvalidValue);
  if (device != 0) return fail(cudaErrorInvalidDevice);
  const cudaDeviceProp p = mlpbench::emu::device_prop();
  switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *value = p.maxThreadsPerBlock; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *value = static_cast<int>(p.sharedMemPerBlock); break;
    case cudaDevAttrWarpSize: *value = p.warpSize; break;
    case cudaDevAttrClockRate: *value = 1980000; break;
    case cudaDevAttrMultiProcessorCount: *value = p.multiProcessorCount; break;
    case cudaDevAttrCanMapHostMemory: *value = p.canMapHostMemory; break;
    case cudaDevAttrL2CacheSize: *value = p.l2CacheSize; break;
    case cudaDevAttrMaxThreadsPerMultiProcessor: *value = p.maxThreadsPerMultiProcessor; break;
    case cudaDevAttrComputeCapabilityMajor: *value = p.major; break;
    case cudaDevAttrComputeCapabilityMinor: *value = p.minor; break;
    case cudaDevAttrMaxSharedMemoryPerMultiprocessor: *value = static_cast<int>(p.sharedMemPerMultiprocessor); break;
    case cudaDevAttrCooperativeLaunch: *value = p.cooperativeLaunch; break;
    default: return fail(cudaErrorInvalidValue);
  }
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* version) {
  if (!version) return fail(cudaErrorInvalidValue);
  *version = CUDART_VERSION;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* version) { return cudaDriverGetVersion(version); }
cudaError_t cudaDeviceSynchronize() {
  drain_all();
  return cudaSuccess;
}

cudaError_t cudaMalloc(void** p, std::size_t bytes) { return mlpbench::emu::allocate(p, bytes, mlpbench::emu::MemKind::Device); }
cudaError_t cudaFree(void* p) { return mlpbench::emu::release(p, false); }
cudaError_t cudaMallocHost(void** p, std::size_t bytes) { return mlpbench::emu::allocate(p, bytes, mlpbench::emu::MemKind::Pinned); }
cudaError_t cudaHostAlloc(void** p, std::size_t bytes, unsigned flags) {
  return mlpbench::emu::allocate(p, bytes, flags & cudaHostAllocMapped ? mlpbench::emu::MemKind::Mapped : mlpbench::emu::MemKind::Pinned);
}
cudaError_t cudaFreeHost(void* p) { return mlpbench::emu::release(p, true); }
cudaError_t cudaHostGetDevicePointer(void** device, void* host, unsigned flags) {
  if (!device || flags != 0) return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(mlpbench::emu::memory_mutex);
  const auto it = mlpbench::emu::allocations.find(host);
  if (it == mlpbench::emu::allocations.end()) return fail(cudaErrorInvalidValue);
  const mlpbench::emu::MemKind kind = it->second.second;
  if (kind != mlpbench::emu::MemKind::Mapped && kind != mlpbench::emu::MemKind::Registered) return fail(cudaErrorInvalidValue);
  *device = host;  // unified addressing: the same address on both sides
  return cudaSuccess;
}

namespace mlpbench::emu {

constexpr std::uintptr_t kPage = 4096;
std::uintptr_t page_down(const void* p) { return reinterpret_cast<std::uintptr_t>(p) / kPage * kPage; }
std::uintptr_t page_up(const void* p, std::size_t bytes) { return (reinterpret_cast<std::uintptr_t>(p) + bytes + kPage - 1) / kPage * kPage; }

// The allocation or registration holding p, or allocations.end(); memory_mutex held.
std::map<const void*, std::pair<std::size_t, MemKind>>::iterator holding(const void* p) {
  auto it = allocations.upper_bound(p);
  if (it == allocations.begin()) return allocations.end();
  --it;
  const auto* begin = static_cast<const char*>(it->first);
  return static_cast<const char*>(p) < begin + it->second.first ? it : allocations.end();
}

}  // namespace mlpbench::emu

cudaError_t cudaHostRegister(void* p, std::size_t bytes, unsigned flags) {
  using namespace mlpbench::emu;
  if (!p || bytes == 0 || (flags & ~(cudaHostRegisterPortable | cudaHostRegisterMapped)) != 0) return fail(cudaErrorInvalidValue);
  std::lock_guard<std::mutex> lock(memory_mutex);
  // A GPU pins whole pages, and a page already registered (or pinned by CUDA) can't be registered again.
  for (const auto& [q, a] : allocations) {
    if (a.second == MemKind::Device) continue;
    if (page_down(q) < page_up(p, bytes) && page_down(p) < page_up(q, a.first)) return fail(cudaErrorHostMemoryAlreadyRegistered);
  }
  allocations[p] = {bytes, MemKind::Registered};
  return cudaSuccess;
}

cudaError_t cudaHostUnregister(void* p) {
  using namespace mlpbench::emu;
  std::lock_guard<std::mutex> lock(memory_mutex);
  const auto it = allocations.find(p);
  if (it == allocations.end() || it->second.second != MemKind::Registered) return fail(cudaErrorHostMemoryNotRegistered);
  allocations.erase(it);  // the memory is the caller's
  return cudaSuccess;
}

cudaError_t cudaPointerGetAttributes(cudaPointerAttributes* attributes, const void* p) {
  using namespace mlpbench::emu;
  if (!attributes) return fail(cudaErrorInvalidValue);
  *attributes = {cudaMemoryTypeUnregistered, -2, nullptr, nullptr};  // as CUDA 11+ for ordinary host memory
  std::lock_guard<std::mutex> lock(memory_mutex);
  const auto it = holding(p);
  if (it == allocations.end()) return cudaSuccess;
  const MemKind kind = it->second.second;
  attributes->device = 0;
  attributes->type = kind == MemKind::Device ? cudaMemoryTypeDevice : cudaMemoryTypeHost;
  void* q = const_cast<void*>(p);
  if (kind != MemKind::Pinned) attributes->devicePointer = q;  // pinned memory not mapped has no device address
  if (kind != MemKind::Device) attributes->hostPointer = q;
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind) {
  drain_all();  // a blocking copy waits for the device's earlier work
  if (bytes) std::memcpy(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind, cudaStream_t s) {
  return enqueue(s, [=] {
    if (bytes) std::memcpy(dst, src, bytes);
  });
}
cudaError_t cudaMemsetAsync(void* p, int value, std::size_t bytes, cudaStream_t s) {
  return enqueue(s, [=] {
    if (bytes) std::memset(p, value, bytes);
  });
}

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  if (!s) return fail(cudaErrorInvalidValue);
  *s = new CUstream_st;
  std::lock_guard<std::mutex> lock(stream_mutex);
  streams.push_back(*s);
  return cudaSuccess;
}
cudaError_t cudaStreamCreate(cudaStream_t* s) { return cudaStreamCreateWithFlags(s, cudaStreamDefault); }
cudaError_t cudaStreamDestroy(cudaStream_t s) {
  if (!s) return fail(cudaErrorInvalidResourceHandle);
  drain(s);  // work queued before the destroy still runs, as on a GPU
  {
    std::lock_guard<std::mutex> lock(stream_mutex);
    streams.erase(std::remove(streams.begin(), streams.end(), s), streams.end());
  }
  delete s->capture;
  delete s;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) { return sync_stream(s); }

cudaError_t cudaEventCreate(cudaEvent_t* e) {
  if (!e) return fail(cudaErrorInvalidValue);
  *e = new CUevent_st;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
  delete e;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  e->recorded = true;
  e->done = false;
  return enqueue(s, [e] {
    e->at = std::chrono::steady_clock::now();
    e->done = true;
  });
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
  if (!e) return fail(cudaErrorInvalidResourceHandle);
  drain_all();
  return cudaSuccess;
}
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t stop) {
  if (!ms || !start || !stop) return fail(cudaErrorInvalidValue);
  if (!start->recorded || !stop->recorded) return fail(cudaErrorInvalidResourceHandle);
  if (!start->done || !stop->done) return fail(cudaErrorNotReady);
  *ms = std::chrono::duration<float, std::milli>(stop->at - start->at).count();
  return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
  CUstream_st* st = stream_of(s);
  if (st == &legacy_stream || st->capture) return fail(cudaErrorIllegalState);
  st->capture = new CUgraph_st;
  st->capture_broken = false;
  return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t* graph) {
  CUstream_st* st = stream_of(s);
  if (!graph) return fail(cudaErrorInvalidValue);
  *graph = nullptr;
  if (!st->capture) return fail(cudaErrorStreamCaptureUnmatched);
  std::unique_ptr<CUgraph_st> g(std::exchange(st->capture, nullptr));
  if (st->capture_broken) return fail(cudaErrorStreamCaptureInvalidated);
  *graph = g.release();
  return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t* exec, cudaGraph_t graph, unsigned long long) {
  if (!exec || !graph) return fail(cudaErrorInvalidValue);
  *exec = new CUgraphExec_st{graph->ops};
  return cudaSuccess;
}
cudaError_t cudaGraphUpload(cudaGraphExec_t exec, cudaStream_t) { return exec ? cudaSuccess : fail(cudaErrorInvalidValue); }
cudaError_t cudaGraphLaunch(cudaGraphExec_t exec, cudaStream_t s) {
  if (!exec) return fail(cudaErrorInvalidValue);
  return enqueue(s, [exec] {
    for (const Op& op : exec->ops) op();
  });
}
cudaError_t cudaGraphDestroy(cudaGraph_t graph) {
  delete graph;
  return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t exec) {
  delete exec;
  return cudaSuccess;
}
