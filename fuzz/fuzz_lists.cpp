// libFuzzer target: any text as the --layers and --batch-sizes lists. Bad input must end in
// mlpbench::InputError; anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mlpbench/errors.hpp"
#include "mlpbench/model.hpp"
#include "mlpbench/parse.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    mlpbench::validate_widths(mlpbench::parse_int_list(text, "--layers", 1, mlpbench::kMaxWidth));
  } catch (const mlpbench::InputError&) {
  }
  try {
    (void)mlpbench::parse_int_list(text, "--batch-sizes", 1, 1 << 24);
  } catch (const mlpbench::InputError&) {
  }
  try {
    (void)mlpbench::parse_int(text, "--seed", 0, INT64_MAX);
  } catch (const mlpbench::InputError&) {
  }
  return 0;
}
