// The defaults of a run and the normal form of the values it takes, each written once: the CLI, the runner
// and bench/ use these, and a value is normalized where it enters (STYLE.md 12).
#pragma once

#include <string>
#include <vector>

namespace mlpbench {

inline const std::vector<int> kDefaultLayers{784, 512, 512, 10};  // the default model, input first
inline const std::vector<int> kDefaultBatchSizes{1, 10, 100};     // the table's batch sizes
inline constexpr int kDefaultHeadlineBatch = 10;                  // the batch size of the three lines
inline constexpr int kMaxBatch = 1 << 24;                         // the largest batch size a command takes

// Sorted ascending, each once.
std::vector<int> normal_batch_sizes(std::vector<int> sizes);

// 0 (or less) means every core this process may run on.
int resolve_threads(int threads);
// Each count resolved, sorted, each once: "0,2" on 2 cores is one count, not two.
std::vector<int> normal_thread_counts(std::vector<int> counts);
// The CPU thread counts a run measures by default: 1, every core, and the powers of two between (1,2,4,8,12 on 12
// cores), so the headline is the CPU at its best count, which at small batch sizes is often one thread.
std::vector<int> default_thread_counts(int cores);

// "784,512,512,10"
std::string list_text(const std::vector<int>& values);

}  // namespace mlpbench
