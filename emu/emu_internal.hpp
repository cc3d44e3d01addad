// What emu_runtime.cpp (the scheduler) and racecheck.cpp (the shared-memory race check) share.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace mlpbench::emu {

// The block running on this OS thread, as the race check sees it; nullptr outside kernel code.
struct RaceView {
  const void* kernel = nullptr;
  unsigned block[3] = {};
  int thread = 0;                  // the running thread, linear index in its block
  int threads_per_warp_row = 32;
  std::uint32_t epoch = 0;         // bumped at every block barrier (and a new block): accesses before are ordered
  const std::uint32_t* warp_syncs = nullptr;  // per warp: completed __syncwarp/shuffles, which order its lanes
};
extern thread_local RaceView* race_view;

// Whether MLPBENCH_EMU_RACECHECK=1 asked for races to be reported (they are tracked in every instrumented build).
bool racecheck_enabled();
// A block barrier: no access before it races with any after.
void racecheck_new_epoch();
// A new block on this OS thread: a new epoch, and every shared word an earlier block wrote is poisoned (NaN), as
// a GPU gives a block shared memory with no defined contents: a kernel that reads before it writes shows it.
void racecheck_new_block();

// "name (file:line)" of a code address in this program, from addr2line when it is there; the address otherwise.
std::string describe_code(const void* pc);
// Prints "mlpbench CUDA emulator: <what>" with the running kernel, block and thread, and aborts.
[[noreturn]] void kernel_fault(const std::string& what);

}  // namespace mlpbench::emu
