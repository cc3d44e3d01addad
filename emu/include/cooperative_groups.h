// The part of cooperative groups kernels/ uses, for mlpbench's CUDA emulator: this_grid().sync() in a
// cooperative launch (see cuda_runtime.h).
#pragma once

#include <cuda_runtime.h>

namespace cooperative_groups {

class grid_group {
 public:
  void sync() const { mlpbench::emu::grid_sync(); }
};

inline grid_group this_grid() { return {}; }

}  // namespace cooperative_groups
