// Strict parsers for command-line values ("784,512,512,10", "1,10,100", "8"). Every error names the
// option and the offending entry; nothing is silently skipped, clamped or defaulted.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace mlpbench {

// A decimal integer in [min, max]; no sign for positives, no spaces, no suffix. Throws InputError
// "<what>: ..." on anything else.
std::int64_t parse_int(const std::string& text, const std::string& what, std::int64_t min, std::int64_t max);

// Comma-separated integers, each in [min, max]; empty entries ("784,,10"), a trailing comma and an empty
// list are errors.
std::vector<int> parse_int_list(const std::string& text, const std::string& what, int min, int max);

// A decimal number ("0.5", "200", "1e3") in [min, max]; nothing after it. Throws InputError "<what>: ...".
double parse_double(const std::string& text, const std::string& what, double min, double max);

// Comma-separated non-empty names ("eigen,cublaslt"); empty entries and an empty list are errors.
std::vector<std::string> parse_name_list(const std::string& text, const std::string& what);

}  // namespace mlpbench
