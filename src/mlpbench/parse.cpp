// See parse.hpp.
#include "mlpbench/parse.hpp"

#include <cctype>

#include "mlpbench/errors.hpp"

namespace mlpbench {

std::int64_t parse_int(const std::string& text, const std::string& what, std::int64_t min, std::int64_t max) {
  const std::string shown = "'" + text + "'";
  if (text.empty()) throw InputError(what + ": empty value");
  std::size_t i = 0;
  const bool negative = text[0] == '-';
  if (negative) i = 1;
  if (i == text.size()) throw InputError(what + ": " + shown + " is not an integer");
  std::int64_t v = 0;
  for (; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (!std::isdigit(c)) throw InputError(what + ": " + shown + " is not an integer");
    const int d = c - '0';
    if (v > (INT64_MAX - d) / 10) throw InputError(what + ": " + shown + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
    v = v * 10 + d;
  }
  if (negative) v = -v;
  if (v < min || v > max) {
    throw InputError(what + ": " + shown + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return v;
}

std::vector<int> parse_int_list(const std::string& text, const std::string& what, int min, int max) {
  if (text.empty()) throw InputError(what + ": empty list");
  std::vector<int> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const std::string where = what + " entry #" + std::to_string(out.size() + 1);
    if (item.empty()) throw InputError(where + " is empty in '" + text + "'");
    out.push_back(static_cast<int>(parse_int(item, where, min, max)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

}  // namespace mlpbench
