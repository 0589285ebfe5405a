// The WebSocket UTF-8 validator (gateway/websocket/utf8.h) against the categories of Markus Kuhn's
// UTF-8 decoder stress test, the code point boundaries of each sequence length, and feeding one byte at
// a time, the way fragments and reads cut text.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/websocket/utf8.h"

namespace kabar::websocket {
namespace {
using namespace std::string_literals;

// Validates `bytes` one byte per feed(); the index of the byte that made feed() fail, or -1.
int first_failing_byte(const std::string& bytes) {
  Utf8Validator validator;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (!validator.feed(bytes.substr(i, 1))) return static_cast<int>(i);
  }
  return -1;
}

bool valid_byte_by_byte(const std::string& bytes) {
  Utf8Validator validator;
  for (char c : bytes) {
    if (!validator.feed(std::string_view(&c, 1))) return false;
  }
  return validator.complete();
}

void expect_valid(const std::vector<std::string>& cases) {
  for (const auto& bytes : cases) {
    EXPECT_TRUE(is_valid_utf8(bytes)) << testing::PrintToString(bytes);
    EXPECT_TRUE(valid_byte_by_byte(bytes)) << testing::PrintToString(bytes);
  }
}

void expect_invalid(const std::vector<std::string>& cases) {
  for (const auto& bytes : cases) {
    EXPECT_FALSE(is_valid_utf8(bytes)) << testing::PrintToString(bytes);
    EXPECT_FALSE(valid_byte_by_byte(bytes)) << testing::PrintToString(bytes);
    // The same inside longer ASCII text, which the validator skips eight bytes at a time.
    EXPECT_FALSE(is_valid_utf8("0123456789" + bytes + "abcdefghij")) << testing::PrintToString(bytes);
  }
}

TEST(Utf8Validator, AcceptsCorrectText) {
  expect_valid({"", "plain ASCII", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",  // Kuhn 1: "κόσμε"
                "{\"channel\":\"caf\xc3\xa9\"} \xf0\x9f\x98\x80"});
}

TEST(Utf8Validator, AcceptsTheFirstAndLastCodePointOfEachLength) {
  expect_valid({"\x00"s, "\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xef\xbf\xbf", "\xf0\x90\x80\x80",
                "\xf4\x8f\xbf\xbf"});
  // Kuhn 2.3: other boundaries; U+FFFE and U+FFFF are noncharacters but valid UTF-8 (Autobahn 6.3).
  expect_valid({"\xed\x9f\xbf", "\xee\x80\x80", "\xef\xbf\xbd", "\xef\xbf\xbe"});
}

TEST(Utf8Validator, RefusesAboveU10FFFFAndFiveAndSixByteForms) {
  expect_invalid({"\xf4\x90\x80\x80", "\xf7\xbf\xbf\xbf", "\xf5\x80\x80\x80", "\xf8\x88\x80\x80\x80",
                  "\xfb\xbf\xbf\xbf\xbf", "\xfc\x84\x80\x80\x80\x80", "\xfd\xbf\xbf\xbf\xbf\xbf"});
}

TEST(Utf8Validator, RefusesUnexpectedContinuationBytes) {  // Kuhn 3.1
  for (int b = 0x80; b <= 0xbf; ++b) {
    expect_invalid({std::string(1, static_cast<char>(b)), static_cast<char>(b) + "\x80"s});
  }
  expect_invalid({"\x80\xbf", "\x80\xbf\x80", "a\xbf"});
}

TEST(Utf8Validator, RefusesLonelyStartBytes) {  // Kuhn 3.2: a start byte followed by a space
  for (int b = 0xc0; b <= 0xfd; ++b) expect_invalid({std::string(1, static_cast<char>(b)) + " "});
}

TEST(Utf8Validator, RefusesTruncatedSequences) {  // Kuhn 3.3 and 3.4
  expect_invalid({"\xc2", "\xdf", "\xe0\xa0", "\xef\xbf", "\xf0\x90\x80", "\xf4\x8f\xbf",
                  "\xc2\xe0\xa0\xef\xbf\xf0\x90\x80"});
}

TEST(Utf8Validator, RefusesFeAndFf) {  // Kuhn 3.5
  expect_invalid({"\xfe", "\xff", "\xfe\xfe\xff\xff"});
}

TEST(Utf8Validator, RefusesOverlongForms) {  // Kuhn 4
  expect_invalid({"\xc0\xaf", "\xe0\x80\xaf", "\xf0\x80\x80\xaf", "\xf8\x80\x80\x80\xaf",
                  "\xfc\x80\x80\x80\x80\xaf", "\xc1\xbf", "\xe0\x9f\xbf", "\xf0\x8f\xbf\xbf", "\xc0\x80",
                  "\xe0\x80\x80", "\xf0\x80\x80\x80"});
}

TEST(Utf8Validator, RefusesSurrogates) {  // Kuhn 5.1 and 5.2: U+D800..DFFF, alone or paired
  expect_invalid({"\xed\xa0\x80", "\xed\xad\xbf", "\xed\xae\x80", "\xed\xaf\xbf", "\xed\xb0\x80",
                  "\xed\xbe\x80", "\xed\xbf\xbf", "\xed\xa0\x80\xed\xb0\x80", "\xed\xaf\xbf\xed\xbf\xbf"});
}

TEST(Utf8Validator, FailsOnTheFirstByteThatCannotBeValid) {
  EXPECT_EQ(first_failing_byte("ab\xed\xa0\x80"), 3);    // A0 after ED: a surrogate
  EXPECT_EQ(first_failing_byte("\xe0\x80\xaf"), 1);      // 80 after E0: overlong
  EXPECT_EQ(first_failing_byte("\xf4\x90\x80\x80"), 1);  // 90 after F4: above U+10FFFF
  EXPECT_EQ(first_failing_byte("\xf0\x9f\x98\x28"), 3);  // '(' cannot end a 4-byte sequence
  EXPECT_EQ(first_failing_byte("ok\xff"), 2);
  EXPECT_EQ(first_failing_byte("\xf0\x9f\x98"), -1);  // not valid yet, but could still be
}

TEST(Utf8Validator, KeepsSequencesCutBetweenFeeds) {
  const std::string text = "\xe2\x82\xac\xf0\x9f\x98\x80\xc3\xbc.";
  for (std::size_t cut = 0; cut <= text.size(); ++cut) {
    Utf8Validator validator;
    EXPECT_TRUE(validator.feed(text.substr(0, cut)));
    EXPECT_TRUE(validator.feed(text.substr(cut)));
    EXPECT_TRUE(validator.complete()) << cut;
  }
  EXPECT_TRUE(valid_byte_by_byte(text));
}

TEST(Utf8Validator, StaysFailedUntilReset) {
  Utf8Validator validator;
  EXPECT_FALSE(validator.feed("\xff"));
  EXPECT_FALSE(validator.feed("valid text"));
  validator.reset();
  EXPECT_TRUE(validator.feed("valid text"));
  EXPECT_TRUE(validator.complete());
  EXPECT_TRUE(validator.feed("\xe2\x82"));
  EXPECT_FALSE(validator.complete());
}

TEST(Utf8Validator, FindsAnInvalidByteAtAnyOffsetInAsciiText) {
  for (std::size_t at = 0; at < 40; ++at) {
    std::string text(40, 'a');
    text[at] = '\xff';
    EXPECT_FALSE(is_valid_utf8(text)) << at;
    EXPECT_TRUE(is_valid_utf8(std::string(at, 'a') + "\xc3\xa9" + std::string(40 - at, 'a'))) << at;
  }
}

}  // namespace
}  // namespace kabar::websocket
