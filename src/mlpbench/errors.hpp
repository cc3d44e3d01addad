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

// `text` fit for one line of a terminal: printable ASCII and whole UTF-8 sequences kept, every other byte (a
// control character, a newline, a stray byte of a binary file) written as \xNN.
inline std::string printable(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    // A UTF-8 sequence's length from its first byte (2 to 4; 0: not a first byte), then its continuation bytes.
    const std::size_t n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    std::size_t k = 1;
    while (n && k < n && i + k < text.size() && (static_cast<unsigned char>(text[i + k]) & 0xc0) == 0x80) ++k;
    if (n && k == n) {
      out.append(text, i, n);
      i += n;
    } else if (c >= 0x20 && c < 0x7f) {
      out += text[i++];
    } else {
      const char* hex = "0123456789abcdef";
      out += std::string("\\x") + hex[c >> 4] + hex[c & 15];
      ++i;
    }
  }
  return out;
}

// An nlohmann::json exception's message without its "[json.exception.parse_error.101] " tag, for error lines
// users read ("parse error at line 3, column 5: ..."); printable, as the bytes it quotes may be binary.
inline std::string json_error_text(const std::exception& e) {
  const std::string msg = e.what();
  const auto pos = msg.find("] ");
  return printable(pos == std::string::npos ? msg : msg.substr(pos + 2));
}

}  // namespace mlpbench
