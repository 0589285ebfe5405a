#include <gtest/gtest.h>

#include "core/position.h"

namespace kabar {
namespace {

TEST(Position, ParsesEpochAndSeq) {
  const auto position = parse_position("3f9a2c41d0b7:1042");
  ASSERT_TRUE(position.has_value());
  EXPECT_EQ(position->epoch, "3f9a2c41d0b7");
  EXPECT_EQ(position->seq, 1042);
}

TEST(Position, RoundTripsThroughToString) {
  const Position position{"3f9a2c41d0b7", 7};
  EXPECT_EQ(position.to_string(), "3f9a2c41d0b7:7");
  EXPECT_EQ(parse_position(position.to_string()), position);
}

TEST(Position, AcceptsSeqZeroAndTheLargestSeq) {
  EXPECT_EQ(parse_position("abc:0")->seq, 0);
  EXPECT_EQ(parse_position("abc:9223372036854775807")->seq, INT64_MAX);
}

TEST(Position, CarriesTheIdOfItsEventAsAnAnchor) {
  const auto position = parse_position("3f9a2c41d0b7:1042:inv-77.a:b_C");
  ASSERT_TRUE(position.has_value());
  EXPECT_EQ(position->epoch, "3f9a2c41d0b7");
  EXPECT_EQ(position->seq, 1042);
  EXPECT_EQ(position->anchor, "inv-77.a:b_C");  // an id may hold ':' itself
  const Position anchored{"e", 5, "hABC"};
  EXPECT_EQ(anchored.to_string(), "e:5:hABC");
  EXPECT_EQ(parse_position(anchored.to_string()), anchored);
  EXPECT_EQ(parse_position("e:5")->anchor, "");
  EXPECT_TRUE(parse_position("e:5:" + std::string(128, 'x')).has_value());
}

TEST(Position, RefusesMalformedText) {
  const std::string long_anchor = "e:5:" + std::string(129, 'x');
  EXPECT_FALSE(parse_position(long_anchor).has_value());
  for (const char* text :
       {"", ":", ":5", "abc", "abc:", "abc:-1", "abc:+1", "abc:1x", "abc: 1", "abc:1 ",
        "abc:9223372036854775808", "abc:99999999999999999999", "a:b:1", "ab c:1", "ab\"c:1", "abc:1:",
        "abc:1:a b", "abc:1:a\"b", "abc:1:a/b", "abc::x"}) {
    EXPECT_FALSE(parse_position(text).has_value()) << '"' << text << '"';
  }
}

}  // namespace
}  // namespace kabar
