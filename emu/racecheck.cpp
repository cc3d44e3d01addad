// The shared-memory race check of mlpbench's CUDA emulator (compute-sanitizer's racecheck, for our kernels):
// two threads of a block touching the same 4-byte shared word between two barriers, one of them writing, is
// reported with the kernel, the block, both threads, the address and the line, and the run aborts. The same
// tracking poisons (NaN) the shared words a block wrote before the next block on the OS thread starts.
//
// How it sees accesses: the kernel sources are compiled with -fsanitize=thread, which makes the compiler call
// __tsan_read4(addr), __tsan_write4(addr), ... around every memory access; this file defines those functions
// (the ThreadSanitizer runtime is never linked). __shared__ variables are thread_local (cuda_runtime.h), so an
// access is to shared memory when its address lies in this OS thread's static TLS block of the program. Lanes
// of one warp that met at a __syncwarp or shuffle since are ordered too. This file itself is not instrumented.
#include <link.h>
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "emu_internal.hpp"

namespace mlpbench::emu {
namespace {

constexpr std::uint32_t kNone = 0xffffffffu, kMany = 0xfffffffeu;
constexpr int kWarp = 32;

// Per shared word: the epoch and thread of the last write, and of the reads (one reader, or many).
struct Shadow {
  std::uint32_t write_epoch, writer, writer_syncs;
  std::uint32_t read_epoch, reader, reader_syncs;
};

struct TlsBlock {
  std::uintptr_t begin = 0, end = 0;
};

// The program's static TLS block of this OS thread: x86-64 puts it right below the thread pointer.
TlsBlock tls_block() {
  struct Found {
    std::size_t size = 0, align = 1;
  } found;
  dl_iterate_phdr(
      [](dl_phdr_info* info, std::size_t, void* data) {
        for (int i = 0; i < info->dlpi_phnum; ++i) {
          if (info->dlpi_phdr[i].p_type == PT_TLS) {
            static_cast<Found*>(data)->size = info->dlpi_phdr[i].p_memsz;
            static_cast<Found*>(data)->align = info->dlpi_phdr[i].p_align ? info->dlpi_phdr[i].p_align : 1;
          }
        }
        return 1;  // the first object is the program itself
      },
      &found);
  std::uintptr_t tp = 0;
#if defined(__x86_64__)
  asm("mov %%fs:0, %0" : "=r"(tp));
#endif
  const std::uintptr_t offset = (found.size + found.align - 1) / found.align * found.align;
  return {tp - offset, tp - offset + found.size};
}

struct State {
  TlsBlock tls;
  Shadow* shadow = nullptr;
  std::uint32_t next_epoch = 0;
  std::uint32_t block_epoch = 0;       // the first epoch of the running block
  std::vector<std::uintptr_t> written;  // shared words the running block wrote (each once)
  bool ready = false;
};
thread_local State state;

State& this_thread() {
  if (!state.ready) {
    state.ready = true;
    state.tls = tls_block();
    const std::size_t words = (state.tls.end - state.tls.begin) / 4 + 1;
    void* p = mmap(nullptr, words * sizeof(Shadow), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    state.shadow = p == MAP_FAILED ? nullptr : static_cast<Shadow*>(p);  // zeros: epoch 0 is never a block's
  }
  return state;
}

std::string where(std::uint32_t thread, const void* pc) {
  std::string s = "thread " + std::to_string(thread);
  if (pc) s += " at " + describe_code(pc);
  return s;
}

[[noreturn]] void report(const RaceView& v, const char* kind, std::uintptr_t addr, std::uint32_t other, const void* pc) {
  char a[32];
  std::snprintf(a, sizeof a, "0x%zx", static_cast<std::size_t>(addr));
  kernel_fault(std::string("racecheck: ") + kind + " race on the shared word at " + a + ": " + where(static_cast<std::uint32_t>(v.thread), pc) +
               " and thread " + std::to_string(other) + " touch it with no __syncthreads() between");
}

// Whether an earlier access by `other` (at its warp's sync count `syncs`) is ordered before the running thread's.
bool ordered(const RaceView& v, std::uint32_t other, std::uint32_t syncs) {
  if (other == static_cast<std::uint32_t>(v.thread)) return true;
  const int w = v.thread / kWarp;
  return static_cast<int>(other) / kWarp == w && v.warp_syncs[w] != syncs;
}

void access(const void* p, std::size_t bytes, bool write, const void* pc) {
  RaceView* v = race_view;
  if (!v) return;  // host code
  State& s = this_thread();
  const std::uintptr_t a = reinterpret_cast<std::uintptr_t>(p);
  if (!s.shadow || a < s.tls.begin || a >= s.tls.end) return;  // not shared memory
  const std::uint32_t me = static_cast<std::uint32_t>(v->thread);
  const std::uint32_t syncs = v->warp_syncs[v->thread / kWarp];
  for (std::uintptr_t w = (a - s.tls.begin) / 4; w <= (a + bytes - 1 - s.tls.begin) / 4; ++w) {
    Shadow& e = s.shadow[w];
    if (e.write_epoch == v->epoch && !ordered(*v, e.writer, e.writer_syncs) && racecheck_enabled()) {
      report(*v, write ? "write-after-write" : "read-after-write", a, e.writer, pc);
    }
    if (write) {
      if (e.write_epoch < s.block_epoch) s.written.push_back(w);
      if (e.read_epoch == v->epoch && e.reader != kNone && (e.reader == kMany || !ordered(*v, e.reader, e.reader_syncs)) && racecheck_enabled()) {
        report(*v, "write-after-read", a, e.reader == kMany ? (me == 0 ? 1 : 0) : e.reader, pc);
      }
      e.write_epoch = v->epoch, e.writer = me, e.writer_syncs = syncs;
    } else if (e.read_epoch != v->epoch) {
      e.read_epoch = v->epoch, e.reader = me, e.reader_syncs = syncs;
    } else if (e.reader != me) {
      e.reader = kMany;
    }
  }
}

}  // namespace

void racecheck_new_epoch() {
  if (race_view) race_view->epoch = ++this_thread().next_epoch;
}

void racecheck_new_block() {
  State& s = this_thread();
  for (std::uintptr_t w : s.written) std::memset(reinterpret_cast<void*>(s.tls.begin + 4 * w), 0xff, 4);
  s.written.clear();
  racecheck_new_epoch();
  s.block_epoch = s.next_epoch;
}

}  // namespace mlpbench::emu

// ---------------------------------------------------------------------------------------------------------
// The instrumentation's entry points (GCC's and Clang's -fsanitize=thread ABI).

#define MLPBENCH_PC __builtin_return_address(0)
extern "C" {
void __tsan_init() {}
void __tsan_func_entry(void*) {}
void __tsan_func_exit() {}
void __tsan_vptr_update(void**, void*) {}
void __tsan_vptr_read(void**) {}
#define MLPBENCH_TSAN_RW(n)                                                                                         \
  void __tsan_read##n(void* p) {                                                                                    \
    if (mlpbench::emu::race_view) mlpbench::emu::access(p, n, false, MLPBENCH_PC);                                  \
  }                                                                                                                 \
  void __tsan_write##n(void* p) {                                                                                   \
    if (mlpbench::emu::race_view) mlpbench::emu::access(p, n, true, MLPBENCH_PC);                                   \
  }                                                                                                                 \
  void __tsan_unaligned_read##n(void* p) { __tsan_read##n(p); }                                                     \
  void __tsan_unaligned_write##n(void* p) { __tsan_write##n(p); }                                                   \
  void __tsan_volatile_read##n(void* p) { __tsan_read##n(p); }                                                      \
  void __tsan_volatile_write##n(void* p) { __tsan_write##n(p); }
MLPBENCH_TSAN_RW(1)
MLPBENCH_TSAN_RW(2)
MLPBENCH_TSAN_RW(4)
MLPBENCH_TSAN_RW(8)
MLPBENCH_TSAN_RW(16)
#undef MLPBENCH_TSAN_RW
void __tsan_read_range(void* p, unsigned long n) {
  if (mlpbench::emu::race_view && n) mlpbench::emu::access(p, n, false, MLPBENCH_PC);
}
void __tsan_write_range(void* p, unsigned long n) {
  if (mlpbench::emu::race_view && n) mlpbench::emu::access(p, n, true, MLPBENCH_PC);
}

// Atomics: the instrumentation replaces each atomic operation by a call; these do the operation itself.
#define MLPBENCH_TSAN_ATOMIC(bits, T)                                                                                                 \
  T __tsan_atomic##bits##_load(const volatile T* a, int mo) { return __atomic_load_n(a, mo); }                                        \
  void __tsan_atomic##bits##_store(volatile T* a, T v, int mo) { __atomic_store_n(a, v, mo); }                                        \
  T __tsan_atomic##bits##_exchange(volatile T* a, T v, int mo) { return __atomic_exchange_n(a, v, mo); }                              \
  T __tsan_atomic##bits##_fetch_add(volatile T* a, T v, int mo) { return __atomic_fetch_add(a, v, mo); }                              \
  T __tsan_atomic##bits##_fetch_sub(volatile T* a, T v, int mo) { return __atomic_fetch_sub(a, v, mo); }                              \
  T __tsan_atomic##bits##_fetch_and(volatile T* a, T v, int mo) { return __atomic_fetch_and(a, v, mo); }                              \
  T __tsan_atomic##bits##_fetch_or(volatile T* a, T v, int mo) { return __atomic_fetch_or(a, v, mo); }                                \
  T __tsan_atomic##bits##_fetch_xor(volatile T* a, T v, int mo) { return __atomic_fetch_xor(a, v, mo); }                              \
  T __tsan_atomic##bits##_fetch_nand(volatile T* a, T v, int mo) { return __atomic_fetch_nand(a, v, mo); }                            \
  int __tsan_atomic##bits##_compare_exchange_strong(volatile T* a, T* c, T v, int mo, int fmo) {                                      \
    return __atomic_compare_exchange_n(a, c, v, false, mo, fmo);                                                                      \
  }                                                                                                                                   \
  int __tsan_atomic##bits##_compare_exchange_weak(volatile T* a, T* c, T v, int mo, int fmo) {                                        \
    return __atomic_compare_exchange_n(a, c, v, true, mo, fmo);                                                                       \
  }                                                                                                                                   \
  T __tsan_atomic##bits##_compare_exchange_val(volatile T* a, T c, T v, int mo, int fmo) {                                            \
    __atomic_compare_exchange_n(a, &c, v, false, mo, fmo);                                                                            \
    return c;                                                                                                                         \
  }
MLPBENCH_TSAN_ATOMIC(8, unsigned char)
MLPBENCH_TSAN_ATOMIC(16, unsigned short)
MLPBENCH_TSAN_ATOMIC(32, unsigned int)
MLPBENCH_TSAN_ATOMIC(64, unsigned long long)
#undef MLPBENCH_TSAN_ATOMIC
void __tsan_atomic_thread_fence(int mo) { __atomic_thread_fence(mo); }
void __tsan_atomic_signal_fence(int mo) { __atomic_signal_fence(mo); }
}
