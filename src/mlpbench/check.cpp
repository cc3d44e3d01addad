// Element-wise comparison with atol + rtol * |ref|; NaN and Inf never pass.
#include "mlpbench/check.hpp"

#include <cmath>
#include <sstream>

namespace mlpbench {
namespace {

template <typename Ref>
CheckResult check_impl(const float* got, const Ref* ref, std::size_t n, Tolerance tol) {
  CheckResult r;
  std::ostringstream first;
  first.precision(9);
  for (std::size_t i = 0; i < n; ++i) {
    const double g = got[i];
    const double e = static_cast<double>(ref[i]);
    const double err = std::isfinite(g) ? std::fabs(g - e) : INFINITY;
    const bool bad = !(err <= tol.atol + tol.rtol * std::fabs(e));
    if (err > r.max_abs_error) {
      r.max_abs_error = err;
      r.worst_index = i;
    }
    if (bad) {
      if (r.mismatches < 5) first << (r.mismatches ? ", " : "") << "[" << i << "] got " << g << " expected " << e;
      ++r.mismatches;
    }
  }
  r.ok = r.mismatches == 0;
  r.first_mismatches = first.str();
  return r;
}

}  // namespace

CheckResult check_close(const float* got, const double* ref, std::size_t n, Tolerance tol) {
  return check_impl(got, ref, n, tol);
}
CheckResult check_close(const float* got, const float* ref, std::size_t n, Tolerance tol) {
  return check_impl(got, ref, n, tol);
}

}  // namespace mlpbench
