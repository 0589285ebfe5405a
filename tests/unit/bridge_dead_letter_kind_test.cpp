// Every reason the parser gives a rejected message maps to one of the few codes of the `reason` label
// (kabar_dead_letters_by_reason_total), never to "other": the parser's own reasons, not copies of them.
#include <gtest/gtest.h>

#include "bridge/dead_letter_kind.h"
#include "bridge/message_parser.h"

namespace kabar {
namespace {

constexpr std::int64_t kNow = 1763798400000;

class DeadLetterKinds : public ::testing::Test {
 protected:
  DeadLetterKind kind_of(std::string_view topic, std::string_view payload) {
    const ParseResult result = parse_message(topic, payload, routes_, schemas_, limits_, kNow);
    EXPECT_FALSE(result.ok()) << payload;
    return dead_letter_kind(result.reason);
  }
  std::string name_of(std::string_view topic, std::string_view payload) {
    return dead_letter_kind_name(kind_of(topic, payload));
  }

  SchemaRegistry schemas_;
  RouteTable routes_{RouteTable::builtin()};
  ParseLimits limits_;
};

TEST_F(DeadLetterKinds, EachParserReasonHasItsCode) {
  EXPECT_EQ(name_of("cabang/3/stok", "{}"), "no_route");
  EXPECT_EQ(name_of("kabar/c/bad channel!", R"({"event":"e","data":1})"), "bad_channel");
  EXPECT_EQ(name_of("dokumen/1/updated", ""), "empty");
  limits_.max_payload_bytes = 100;
  EXPECT_EQ(name_of("dokumen/1/updated", std::string(200, ' ')), "too_large");
  limits_ = ParseLimits{};
  EXPECT_EQ(name_of("kabar/c/x", std::string(100, '[') + std::string(100, ']')), "too_deep");
  EXPECT_EQ(name_of("dokumen/1/updated", "hello"), "not_json");
  EXPECT_EQ(name_of("kabar/c/x", R"({"id":"has space","event":"e","data":1})"), "bad_envelope");
  EXPECT_EQ(name_of("kabar/c/x", R"({"data":{"a":1}})"), "no_event");
  EXPECT_EQ(name_of("cabang/3/omset", R"({"omset_total":"banyak"})"), "schema_mismatch");
}

TEST_F(DeadLetterKinds, UnknownTextIsOther) {
  EXPECT_EQ(dead_letter_kind("something new"), DeadLetterKind::Other);
  EXPECT_STREQ(dead_letter_kind_name(DeadLetterKind::Other), "other");
  EXPECT_EQ(dead_letter_kind("schema 'x' named by the route is not loaded"), DeadLetterKind::SchemaMissing);
}

}  // namespace
}  // namespace kabar
