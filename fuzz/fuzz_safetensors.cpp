// libFuzzer target: any bytes as a safetensors file, then as an MLP state_dict. Bad input must end in
// mlpbench::InputError; anything else (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>

#include "mlpbench/errors.hpp"
#include "mlpbench/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const mlpbench::TensorMap tensors = mlpbench::parse_safetensors(data, size, "fuzz");
    (void)mlpbench::model_from_tensors(tensors, "fuzz");
  } catch (const mlpbench::InputError&) {
  }
  return 0;
}
