// See defaults.hpp.
#include "mlpbench/defaults.hpp"

#include <algorithm>

#include "mlpbench/threads.hpp"

namespace mlpbench {

std::vector<int> normal_batch_sizes(std::vector<int> sizes) {
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

int resolve_threads(int threads) { return threads > 0 ? threads : available_cores(); }

std::vector<int> normal_thread_counts(std::vector<int> counts) {
  for (int& n : counts) n = resolve_threads(n);
  return normal_batch_sizes(std::move(counts));
}

std::vector<int> default_thread_counts(int cores) {
  std::vector<int> counts;
  for (int n = 1; n < cores; n *= 2) counts.push_back(n);
  counts.push_back(std::max(1, cores));
  return normal_thread_counts(std::move(counts));
}

std::string list_text(const std::vector<int>& values) {
  std::string s;
  for (int v : values) s += (s.empty() ? "" : ",") + std::to_string(v);
  return s;
}

}  // namespace mlpbench
