// Finding a JSON pointer's line and column in the text, so a policy mistake found after parsing can be
// told by its line: nested containers, strings that hold brackets, quotes and escapes, repeated keys,
// pointer escapes, wrong pointers, hostile nesting.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "authz/json_locator.h"
#include "authz/policy.h"

namespace kabar::authz {
namespace {

using ::testing::HasSubstr;

}  // namespace

// Readable failures: "line 4, column 31" rather than the bytes of the struct.
void PrintTo(const TextPosition& position, std::ostream* out) {
  *out << "line " << position.line << ", column " << position.column;
}

namespace {

TextPosition at(std::string_view text, std::string_view pointer) {
  const auto location = locate_pointer(text, pointer);
  EXPECT_TRUE(location) << pointer << ": " << location.problem;
  return location.position.value_or(TextPosition{0, 0});
}

std::string problem(std::string_view text, std::string_view pointer) {
  const auto location = locate_pointer(text, pointer);
  EXPECT_FALSE(location) << pointer;
  return location.problem;
}

const std::string kPolicy =
    "{\n"                                                     // 1
    "  \"version\": 1,\n"                                     // 2
    "  \"rules\": [\n"                                        // 3
    "    {\"name\": \"a\", \"actions\": [\"read\"],\n"        // 4
    "     \"channels\": [\"x\", \"y\"]},\n"                   // 5
    "    {\n"                                                 // 6
    "      \"name\": \"b\",\n"                                // 7
    "      \"where\": {\"cabang\": {\"in_claim\": \"c\"}}\n"  // 8
    "    }\n"                                                 // 9
    "  ]\n"                                                   // 10
    "}\n";

TEST(JsonLocator, FindsMembersAtTheirKeyAndElementsAtTheirStart) {
  EXPECT_EQ(at(kPolicy, ""), (TextPosition{1, 1}));
  EXPECT_EQ(at(kPolicy, "/version"), (TextPosition{2, 3}));
  EXPECT_EQ(at(kPolicy, "/rules"), (TextPosition{3, 3}));
  EXPECT_EQ(at(kPolicy, "/rules/0"), (TextPosition{4, 5}));
  EXPECT_EQ(at(kPolicy, "/rules/0/actions/0"), (TextPosition{4, 31}));
  EXPECT_EQ(at(kPolicy, "/rules/0/channels"), (TextPosition{5, 6}));
  EXPECT_EQ(at(kPolicy, "/rules/0/channels/1"), (TextPosition{5, 24}));
  EXPECT_EQ(at(kPolicy, "/rules/1"), (TextPosition{6, 5}));
  EXPECT_EQ(at(kPolicy, "/rules/1/name"), (TextPosition{7, 7}));
  EXPECT_EQ(at(kPolicy, "/rules/1/where/cabang/in_claim"), (TextPosition{8, 28}));
}

TEST(JsonLocator, EveryPointerOfTheBuiltInPolicyIsFound) {
  const std::string_view text = Policy::builtin_text();
  const auto document = nlohmann::json::parse(text);
  const auto leaves = document.flatten();
  for (const auto& [pointer, value] : leaves.items()) {
    EXPECT_TRUE(locate_pointer(text, pointer)) << pointer << ": " << locate_pointer(text, pointer).problem;
    // The parent containers too.
    for (auto slash = pointer.rfind('/'); slash != 0 && slash != std::string::npos;
         slash = pointer.rfind('/', slash - 1)) {
      EXPECT_TRUE(locate_pointer(text, pointer.substr(0, slash))) << pointer.substr(0, slash);
    }
  }
}

TEST(JsonLocator, StringsMayHoldBracketsQuotesAndEscapes) {
  const std::string text = R"({"a": "}]{[\"\\", "b\"q": ["\"]", {"}": 1}], "c": 2})";
  EXPECT_EQ(at(text, "/c"), (TextPosition{1, 46}));
  EXPECT_EQ(at(text, "/b\"q/1"), (TextPosition{1, 35}));
  EXPECT_EQ(at(text, "/b\"q/1/}"), (TextPosition{1, 36}));
}

TEST(JsonLocator, KeysAreComparedDecoded) {
  EXPECT_EQ(at(R"({"x": 0, "caf\u00e9": 1})", "/café"), (TextPosition{1, 10}));
  EXPECT_EQ(at(R"({"\ud83d\ude00": 1})", "/\xF0\x9F\x98\x80"), (TextPosition{1, 2}));
  EXPECT_EQ(at(R"({"a\/b\n": 1})", "/a~1b\n"), (TextPosition{1, 2}));
  EXPECT_EQ(at(R"({"m~n": 1, "a/b": 2})", "/m~0n"), (TextPosition{1, 2}));
  EXPECT_EQ(at(R"({"m~n": 1, "a/b": 2})", "/a~1b"), (TextPosition{1, 12}));
  EXPECT_EQ(at(R"({"": 1})", "/"), (TextPosition{1, 2}));
  EXPECT_EQ(pointer_token("a/b~c"), "a~1b~0c");
}

TEST(JsonLocator, ColumnsCountCharactersNotBytes) {
  EXPECT_EQ(at("{\"é\": 1, \"b\": 2}", "/b"), (TextPosition{1, 10}));
  EXPECT_EQ(position_at("ab\ncé\nd", 6), (TextPosition{2, 3}));
  EXPECT_EQ(position_at("ab", 99), (TextPosition{1, 3}));
  EXPECT_EQ(at("\r\n\t [1,\r\n  2]", "/1"), (TextPosition{3, 3}));
}

TEST(JsonLocator, ARepeatedKeyIsFoundWhereNlohmannTakesIt) {
  const std::string text = "{\"a\": 1,\n \"a\": {\"b\": 2}}";
  ASSERT_EQ(nlohmann::json::parse(text)["a"]["b"], 2);
  EXPECT_EQ(at(text, "/a"), (TextPosition{2, 2}));
  EXPECT_EQ(at(text, "/a/b"), (TextPosition{2, 8}));
}

TEST(JsonLocator, WrongPointersSayWhy) {
  EXPECT_THAT(problem(kPolicy, "/rules/5"), HasSubstr("/rules: no element 5"));
  EXPECT_THAT(problem(kPolicy, "/rulez"), HasSubstr("(root): no member 'rulez'"));
  EXPECT_THAT(problem(kPolicy, "/rules/01"), HasSubstr("'01' is not an array index"));
  EXPECT_THAT(problem(kPolicy, "/rules/-"), HasSubstr("not an array index"));
  EXPECT_THAT(problem(kPolicy, "/version/0"), HasSubstr("/version: not an object or an array"));
  EXPECT_THAT(problem(kPolicy, "rules"), HasSubstr("not a JSON pointer"));
  EXPECT_THAT(problem(kPolicy, "/a~2"), HasSubstr("not a JSON pointer"));
  EXPECT_THAT(problem("{}", "/a"), HasSubstr("no member 'a'"));
  EXPECT_THAT(problem("[]", "/0"), HasSubstr("no element 0"));
  EXPECT_THAT(problem("  \n", ""), HasSubstr("empty"));
}

TEST(JsonLocator, BrokenTextIsAProblemNotACrash) {
  for (const char* text : {R"({"a": )", R"({"a" 1})", R"({"a": "x)", R"([1 2])", R"({"a": [1, {"b": )",
                           R"({"\u12": 1})", R"({"\ud800": 1})", "{\"a\": 1,"}) {
    EXPECT_FALSE(locate_pointer(text, "/a/1/b")) << text;
  }
}

TEST(JsonLocator, DeepNestingDoesNotExhaustTheStack) {
  constexpr std::size_t kDepth = 1'000'000;
  const std::string text =
      "{\"deep\": " + std::string(kDepth, '[') + std::string(kDepth, ']') + ",\n\"b\": 1}";
  EXPECT_EQ(at(text, "/b"), (TextPosition{2, 1}));
  EXPECT_EQ(at(text, "/deep/0/0/0"), (TextPosition{1, 13}));
}

TEST(JsonLocator, UnreadableTextStopsAtItsPlace) {
  EXPECT_EQ(unreadable_at("{\n  \"a\": 1,,\n}"), (TextPosition{2, 10}));
  // nlohmann says where a syntax error is, but not where a number overflows a double: at its last digit.
  EXPECT_EQ(unreadable_at("{\n\"a\": [1,\n   1e999]}"), (TextPosition{3, 8}));
  EXPECT_EQ(unreadable_at(""), (TextPosition{1, 1}));
  EXPECT_EQ(unreadable_at("{\"a\": [1, 2]}"), std::nullopt);
}

}  // namespace
}  // namespace kabar::authz
