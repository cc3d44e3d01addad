// libFuzzer target: any text as a results file, as `mlpbench report` reads it, then written back.
// Bad input must end in mlpbench::InputError; anything else is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "mlpbench/errors.hpp"
#include "mlpbench/results.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const mlpbench::Results r = mlpbench::parse_results_text(std::string(reinterpret_cast<const char*>(data), size), "fuzz");
    (void)mlpbench::dump_json(mlpbench::to_json(r));  // what was accepted must serialize
  } catch (const mlpbench::InputError&) {
  }
  return 0;
}
