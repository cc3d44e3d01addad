// Output checks: every backend is compared with a reference before it is timed.
// A value passes when |got - ref| <= atol + rtol * |ref| (llm.c's validate_result, per element).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace mlpbench {

struct Tolerance {
  double atol;
  double rtol;
};

// fp32 vs fp32 with a different summation order: differences grow with the reduction length.
inline constexpr Tolerance kToleranceF32{1e-4, 1e-4};

struct CheckResult {
  bool ok = true;
  std::size_t mismatches = 0;
  double max_abs_error = 0;   // over all elements
  std::size_t worst_index = 0;
  std::string first_mismatches;  // up to 5 "[i] got G, expected R" entries, for the error message
};

CheckResult check_close(const float* got, const double* ref, std::size_t n, Tolerance tol);
CheckResult check_close(const float* got, const float* ref, std::size_t n, Tolerance tol);

}  // namespace mlpbench
