// See parse.hpp.
#include "mlpbench/parse.hpp"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <sstream>

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

std::vector<std::string> parse_name_list(const std::string& text, const std::string& what) {
  if (text.empty()) throw InputError(what + ": empty list");
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    out.push_back(text.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (out.back().empty()) throw InputError(what + " entry #" + std::to_string(out.size()) + " is empty in '" + text + "'");
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::vector<int> parse_int_list(const std::string& text, const std::string& what, int min, int max) {
  std::vector<int> out;
  for (const std::string& item : parse_name_list(text, what)) {
    out.push_back(static_cast<int>(parse_int(item, what + " entry #" + std::to_string(out.size() + 1), min, max)));
  }
  return out;
}

double parse_double(const std::string& text, const std::string& what, double min, double max) {
  const std::string shown = "'" + text + "'";
  if (text.empty()) throw InputError(what + ": empty value");
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || std::isspace(static_cast<unsigned char>(text[0])) || errno == ERANGE || !std::isfinite(v)) {
    throw InputError(what + ": " + shown + " is not a number");
  }
  if (v < min || v > max) {
    std::ostringstream range;
    range << "[" << min << ", " << max << "]";
    throw InputError(what + ": " + shown + " is out of range " + range.str());
  }
  return v;
}

}  // namespace mlpbench
