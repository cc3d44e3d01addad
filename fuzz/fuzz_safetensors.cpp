// libFuzzer target: any bytes as a safetensors file, then as an MLP state_dict. Bad input must end in
// mlpbench::InputError; anything else (a crash, a sanitizer report, another exception) is a bug.
#include <cstddef>
#include <cstdint>

#include "mlpbench/errors.hpp"
#include "mlpbench/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    const mlpbench::SafetensorsFile file = mlpbench::parse_safetensors_file(data, size, "fuzz");
    const auto order = file.metadata.find("layer_order");  // as load_model: the file's own order when it gives one
    if (order == file.metadata.end()) (void)mlpbench::model_from_tensors(file.tensors, "fuzz");
    else (void)mlpbench::model_from_tensors(file.tensors, "fuzz", mlpbench::GivenOrder{order->second, "metadata"});
  } catch (const mlpbench::InputError&) {
  }
  return 0;
}
