// Error types and exit codes shared by the library and the CLI.
// InputError: the user's input is wrong (exit 2). RuntimeError: the machine or a device failed (exit 3).
#pragma once

#include <stdexcept>
#include <string>

namespace mlpbench {

enum ExitCode : int {
  kExitOk = 0,
  kExitRegression = 1,  // compare: a measured cell is significantly slower
  kExitUsage = 2,       // bad command line, bad input file
  kExitRuntime = 3,     // device, I/O or other runtime failure
};

// Bad command-line value or input file: exit 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Failure of the machine, a device or the file system: exit 3.
struct RuntimeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An nlohmann::json exception's message without its "[json.exception.parse_error.101] " tag, for error lines
// users read ("parse error at line 3, column 5: ...").
inline std::string json_error_text(const std::exception& e) {
  const std::string msg = e.what();
  const auto pos = msg.find("] ");
  return pos == std::string::npos ? msg : msg.substr(pos + 2);
}

}  // namespace mlpbench
