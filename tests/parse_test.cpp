// Command-line value parsers and width validation: good values parse exactly, and every bad one is an
// InputError naming the option and the offending entry; nothing is skipped, clamped or defaulted.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "test_util.hpp"

#include <climits>
#include <cstdint>
#include <string>
#include <vector>

#include "mlpbench/errors.hpp"
#include "mlpbench/model.hpp"
#include "mlpbench/parse.hpp"

using namespace mlpbench;
using mlpbench::testing::input_error;
using ::testing::HasSubstr;

namespace {


std::string list_error(const std::string& text, int min = 1, int max = kMaxWidth) {
  return input_error([&] { parse_int_list(text, "--layers", min, max); });
}

}  // namespace

TEST(ParseIntList, GoodLists) {
  EXPECT_EQ(parse_int_list("784,512,512,10", "--layers", 1, kMaxWidth), (std::vector<int>{784, 512, 512, 10}));
  EXPECT_EQ(parse_int_list("1,10,100", "--batch", 1, 1 << 20), (std::vector<int>{1, 10, 100}));
  EXPECT_EQ(parse_int_list("8", "--threads", 1, 1024), (std::vector<int>{8}));
  EXPECT_EQ(parse_int_list("65536,1", "--layers", 1, kMaxWidth), (std::vector<int>{65536, 1}));  // both bounds
  EXPECT_EQ(parse_int_list("100,10,1,10", "--batch", 1, 1000), (std::vector<int>{100, 10, 1, 10}));  // order and repeats kept
  EXPECT_EQ(parse_int_list("2147483647", "--n", 1, INT_MAX), (std::vector<int>{INT_MAX}));
  EXPECT_EQ(parse_int_list("-5,0,5", "--offsets", -10, 10), (std::vector<int>{-5, 0, 5}));
}

TEST(ParseIntList, EmptyEntry) {
  const std::string msg = list_error("784,,10");
  EXPECT_THAT(msg, HasSubstr("--layers entry #2 is empty in '784,,10'"));
}

TEST(ParseIntList, LoneComma) { EXPECT_THAT(list_error(","), HasSubstr("--layers entry #1 is empty in ','")); }

TEST(ParseIntList, EmptyList) { EXPECT_THAT(list_error(""), HasSubstr("--layers: empty list")); }

TEST(ParseIntList, TrailingComma) { EXPECT_THAT(list_error("1,"), HasSubstr("--layers entry #2 is empty in '1,'")); }

TEST(ParseIntList, LeadingComma) { EXPECT_THAT(list_error(",1"), HasSubstr("--layers entry #1 is empty in ',1'")); }

TEST(ParseIntList, NotANumber) {
  EXPECT_THAT(list_error("abc"), HasSubstr("--layers entry #1: 'abc' is not an integer"));
  EXPECT_THAT(list_error("784,512,abc"), HasSubstr("--layers entry #3: 'abc' is not an integer"));
  EXPECT_THAT(list_error("10a"), HasSubstr("--layers entry #1: '10a' is not an integer"));
  EXPECT_THAT(list_error("0x10"), HasSubstr("--layers entry #1: '0x10' is not an integer"));
}

TEST(ParseIntList, Fraction) { EXPECT_THAT(list_error("10,1.5"), HasSubstr("--layers entry #2: '1.5' is not an integer")); }

TEST(ParseIntList, Spaces) {
  EXPECT_THAT(list_error(" 1"), HasSubstr("--layers entry #1: ' 1' is not an integer"));
  EXPECT_THAT(list_error("1 "), HasSubstr("--layers entry #1: '1 ' is not an integer"));
  EXPECT_THAT(list_error("784, 10"), HasSubstr("--layers entry #2: ' 10' is not an integer"));
}

TEST(ParseIntList, PlusSign) { EXPECT_THAT(list_error("+3"), HasSubstr("--layers entry #1: '+3' is not an integer")); }

TEST(ParseIntList, NegativeBelowMinimum) {
  EXPECT_THAT(list_error("-3"), HasSubstr("--layers entry #1: '-3' is out of range [1, 65536]"));
  EXPECT_THAT(list_error("10,0"), HasSubstr("--layers entry #2: '0' is out of range [1, 65536]"));
  EXPECT_THAT(list_error("-"), HasSubstr("--layers entry #1: '-' is not an integer"));
  EXPECT_THAT(list_error("--3"), HasSubstr("--layers entry #1: '--3' is not an integer"));
}

TEST(ParseIntList, AboveMaximum) {
  EXPECT_THAT(list_error("784,65537"), HasSubstr("--layers entry #2: '65537' is out of range [1, 65536]"));
}

TEST(ParseIntList, BeyondIntRange) {
  // Must be rejected, not wrapped by the conversion to int.
  const std::string msg = input_error([] { parse_int_list("1,2147483648", "--batch", 1, INT_MAX); });
  EXPECT_THAT(msg, HasSubstr("--batch entry #2: '2147483648' is out of range [1, 2147483647]"));
  EXPECT_THAT(input_error([] { parse_int_list("4294967297", "--batch", 1, INT_MAX); }), HasSubstr("out of range"));
  EXPECT_THAT(input_error([] { parse_int_list("-2147483649", "--n", INT_MIN, INT_MAX); }),
              HasSubstr("--n entry #1: '-2147483649' is out of range [-2147483648, 2147483647]"));
}

TEST(ParseIntList, Overflow) {
  EXPECT_THAT(list_error("1,99999999999999999999"), HasSubstr("--layers entry #2: '99999999999999999999' is out of range [1, 65536]"));
}

TEST(ParseInt, GoodValues) {
  EXPECT_EQ(parse_int("8", "--threads", 1, 64), 8);
  EXPECT_EQ(parse_int("0", "--seed", 0, INT64_MAX), 0);
  EXPECT_EQ(parse_int("9223372036854775807", "--seed", 0, INT64_MAX), INT64_MAX);
  EXPECT_EQ(parse_int("-42", "--offset", -100, 100), -42);
  EXPECT_EQ(parse_int("-9223372036854775807", "--offset", -INT64_MAX, 0), -INT64_MAX);
}

TEST(ParseInt, BadValuesNameTheOption) {
  EXPECT_THAT(input_error([] { parse_int("", "--threads", 1, 64); }), HasSubstr("--threads: empty value"));
  EXPECT_THAT(input_error([] { parse_int("x", "--threads", 1, 64); }), HasSubstr("--threads: 'x' is not an integer"));
  EXPECT_THAT(input_error([] { parse_int("65", "--threads", 1, 64); }), HasSubstr("--threads: '65' is out of range [1, 64]"));
  EXPECT_THAT(input_error([] { parse_int("0", "--threads", 1, 64); }), HasSubstr("--threads: '0' is out of range [1, 64]"));
  EXPECT_THAT(input_error([] { parse_int("9223372036854775808", "--seed", 0, INT64_MAX); }), HasSubstr("--seed: '9223372036854775808' is out of range"));
  EXPECT_THAT(input_error([] { parse_int("99999999999999999999", "--seed", 0, INT64_MAX); }), HasSubstr("is out of range"));
  EXPECT_THAT(input_error([] { parse_int("1e3", "--seed", 0, INT64_MAX); }), HasSubstr("'1e3' is not an integer"));
}

TEST(ParseValidateWidths, AcceptsGoodWidths) {
  EXPECT_NO_THROW(validate_widths({784, 512, 512, 10}));
  EXPECT_NO_THROW(validate_widths({1, 1}));
  EXPECT_NO_THROW(validate_widths({kMaxWidth, 1}));
}

TEST(ParseValidateWidths, SingleWidth) {
  EXPECT_THAT(input_error([] { validate_widths({784}); }), HasSubstr("layers: need at least two widths (input and output), got 1"));
  EXPECT_THAT(input_error([] { validate_widths({}); }), HasSubstr("got 0"));
}

TEST(ParseValidateWidths, Zero) {
  EXPECT_THAT(input_error([] { validate_widths({784, 0, 10}); }), HasSubstr("layers: width #2 is 0, must be in [1, 65536]"));
}

TEST(ParseValidateWidths, Negative) {
  EXPECT_THAT(input_error([] { validate_widths({-3, 10}); }), HasSubstr("layers: width #1 is -3, must be in [1, 65536]"));
}

TEST(ParseValidateWidths, TooLarge) {
  EXPECT_THAT(input_error([] { validate_widths({784, 512, kMaxWidth + 1}); }), HasSubstr("layers: width #3 is 65537, must be in [1, 65536]"));
}
