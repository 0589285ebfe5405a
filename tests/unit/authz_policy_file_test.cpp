// Policy files with mistakes: each is refused with a message that says where (the line and column always,
// and the JSON path for everything past the syntax) and what.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <initializer_list>

#include "authz/policy.h"

namespace kabar::authz {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::string& text) {
  try {
    Policy::parse(text, "policy file p.json");
  } catch (const PolicyError& error) {
    return error.what();
  }
  return "(no error)";
}

// Lines joined with newlines, so a test reads its own line numbers: line 1 is the first.
std::string lines(std::initializer_list<const char*> each) {
  std::string text;
  for (const char* line : each) text += std::string(line) + "\n";
  return text;
}

TEST(PolicyFile, TheBuiltInPolicyIsValid) {
  const Policy policy = Policy::builtin();
  EXPECT_EQ(policy.rules().size(), 7u);
  EXPECT_EQ(policy.role_claim(), "role");
}

TEST(PolicyFile, SyntaxErrorsGiveLineAndColumn) {
  const std::string text = "{\n  \"version\": 1,\n  \"rules\": [\n    {\"name\": \"a\",, }\n  ]\n}\n";
  const std::string message = error_of(text);
  EXPECT_THAT(message, HasSubstr("policy file p.json, line 4, column"));
  EXPECT_THAT(message, HasSubstr("not valid JSON"));
  EXPECT_THAT(error_of("{\"version\": 1,\n\"rules\": [\n"), HasSubstr("line 3"));
  EXPECT_THAT(error_of(""), HasSubstr("line 1"));
}

TEST(PolicyFile, SchemaErrorsGiveTheJsonPath) {
  EXPECT_THAT(
      error_of(
          R"({"version": 1, "rules": [{"name": "a", "roles": ["x"], "actions": ["write"], "channels": ["c"]}]})"),
      HasSubstr("/rules/0/actions/0"));
  EXPECT_THAT(error_of(R"({"version": 2, "rules": []})"), HasSubstr("p.json, line 1, column 2: /version"));
  EXPECT_THAT(error_of(R"({"version": 1, "rules": [], "rulez": []})"), HasSubstr("rulez"));
  EXPECT_THAT(error_of(R"({"version": 1, "rules": [{"name": "a", "actions": ["read"], "channels": ["c"]}]})"),
              HasSubstr("/rules/0"));
  EXPECT_THAT(error_of(R"({"rules": []})"), HasSubstr("version"));
}

TEST(PolicyFile, UnknownRolesInRules) {
  const std::string message = error_of(
      R"({"version": 1, "roles": ["kasir", "admin"],
          "rules": [{"name": "a", "roles": ["kasr"], "actions": ["read"], "channels": ["c"]}]})");
  EXPECT_THAT(message, HasSubstr("/rules/0/roles/0: unknown role 'kasr' (the policy's roles: kasir, admin)"));
  EXPECT_THAT(message, HasSubstr("p.json, line 2, column 45: /rules/0/roles/0"));
}

TEST(PolicyFile, BadPatternsAndConditions) {
  EXPECT_THAT(error_of(R"({"version": 1, "rules": [{"name": "a", "roles": ["*"], "actions": ["read"],
                            "channels": ["ok", "bad*.x"]}]})"),
              HasSubstr("/rules/0/channels/1: channel pattern 'bad*.x'"));
  EXPECT_THAT(error_of(R"({"version": 1, "rules": [{"name": "a", "roles": ["*"], "actions": ["read"],
                            "topics": ["a/#/b"]}]})"),
              HasSubstr("/rules/0/topics/0"));
  EXPECT_THAT(error_of(R"({"version": 1, "rules": [{"name": "a", "roles": ["*"], "actions": ["read"],
                            "channels": ["private-cabang.{cabang}"], "where": {"cabng": {"in_claim": "cabang"}}}]})"),
              HasSubstr("/rules/0/where/cabng: no channel or topic pattern of rule 'a' has {cabng}"));
  EXPECT_THAT(error_of(R"({"version": 1, "rules": [
                            {"name": "a", "roles": ["*"], "actions": ["read"], "channels": ["x"]},
                            {"name": "a", "roles": ["*"], "actions": ["read"], "channels": ["y"]}]})"),
              HasSubstr("/rules/1/name"));
}

// Every kind of mistake past the syntax names the line (and column) of the place, then the pointer.
TEST(PolicyFile, EveryMistakeNamesItsLine) {
  const auto with_rule = [](const char* rule_line) {
    return error_of(lines({
        "{",
        "  \"version\": 1,",
        "  \"roles\": [\"kasir\", \"admin\"],",
        "  \"rules\": [",
        "    {\"name\": \"ok\", \"roles\": [\"kasir\"], \"actions\": [\"read\"], \"channels\": [\"c\"]},",
        rule_line,
        "  ]",
        "}",
    }));
  };
  // The schema: a value not in an enum, a type, a missing key, an unknown key, a bad `where`.
  EXPECT_THAT(with_rule(R"(    {"name": "a", "roles": ["*"], "actions": ["write"], "channels": ["c"]})"),
              HasSubstr("p.json, line 6, column 47: /rules/1/actions/0: Failed to match against any enum"));
  EXPECT_THAT(with_rule(R"(    {"name": "a", "roles": ["*"], "actions": ["read"], "channels": "c"})"),
              HasSubstr("line 6, column 56: /rules/1/channels: "));
  EXPECT_THAT(with_rule(R"(    {"name": "a", "actions": ["read"], "channels": ["c"]})"),
              HasSubstr("line 6, column 5: /rules/1: "));
  EXPECT_THAT(with_rule(R"(    {"name": "a", "roles": ["*"], "actions": ["read"], "chanels": ["c"]})"),
              HasSubstr("line 6, column 56: /rules/1/chanels: unknown key 'chanels'"));
  EXPECT_THAT(with_rule(R"(    {"name": "a", "roles": ["*"], "actions": ["read"], "channels": ["c.{x}"],
                                 "where": {"x": {"in_clam": "x"}}})"),
              HasSubstr("line 7, column 50: /rules/1/where/x/in_clam: unknown key 'in_clam'"));
  EXPECT_THAT(with_rule(R"(    {"name": "a", "roles": ["*"], "actions": ["read"], "channels": ["c.{x}"],
                                 "where": {"x": {}}})"),
              HasSubstr("line 7, column 44: /rules/1/where/x: Missing required property 'in_claim'"));
  EXPECT_THAT(with_rule(R"(    {"name": "a", "roles": ["*"], "actions": ["read"], "channels": ["c.{x}"],
                                 "where": {"X": {"in_claim": "x"}}})"),
              HasSubstr("line 7, column 44: /rules/1/where/X: 'X' is not a placeholder name"));
  // The checks past the schema: an unknown role, bad patterns, a condition on nothing, a repeated name.
  EXPECT_THAT(
      with_rule(R"(    {"name": "a", "roles": ["admin", "kasr"], "actions": ["read"], "channels": ["c"]})"),
      HasSubstr("line 6, column 38: /rules/1/roles/1: unknown role 'kasr' (the policy's roles: kasir, "
                "admin)"));
  EXPECT_THAT(
      with_rule(R"(    {"name": "a", "roles": ["*"], "actions": ["read"], "channels": ["ok", "a*.b"]})"),
      HasSubstr("line 6, column 75: /rules/1/channels/1: channel pattern 'a*.b': '*' may only end"));
  EXPECT_THAT(with_rule(R"(    {"name": "a", "roles": ["*"], "actions": ["read"], "topics": ["a/#/b"]})"),
              HasSubstr("line 6, column 67: /rules/1/topics/0: topic pattern 'a/#/b'"));
  EXPECT_THAT(
      with_rule(R"(    {"name": "a", "roles": ["*"], "actions": ["read"], "channels": ["c.{x}"],
                                 "where": {"cabng": {"in_claim": "cabang"}}})"),
      HasSubstr("line 7, column 44: /rules/1/where/cabng: no channel or topic pattern of rule 'a' has "
                "{cabng}"));
  EXPECT_THAT(with_rule(R"(    {"roles": ["*"], "actions": ["read"], "channels": ["c"],
                                 "name": "ok"})"),
              HasSubstr("line 7, column 34: /rules/1/name: a rule named 'ok' comes earlier"));
  EXPECT_THAT(
      with_rule(("    {\"name\": \"a\", \"roles\": [\"*\"], \"actions\": [\"read\"], \"channels\": [\"" +
                 std::string(5000, 'x') + "\"]}")
                    .c_str()),
      HasSubstr("line 6, column 69: /rules/1/channels/0: longer than 4096 characters"));
}

// A condition restricts only the patterns that bind its placeholder: a pattern of the same rule without
// it ("cabang/+/omset" beside "where cabang") would let every branch through, so the file is refused at
// that pattern, whichever list (channels or topics) it is in.
TEST(PolicyFile, AConditionEveryPatternOfTheRuleMustBind) {
  const auto with_rule = [](const char* rule_line) {
    return error_of(lines({
        "{",
        "  \"version\": 1,",
        "  \"rules\": [",
        rule_line,
        "  ]",
        "}",
    }));
  };
  EXPECT_THAT(
      with_rule(R"(    {"name": "k", "roles": ["*"], "actions": ["read"], "topics": ["cabang/+/omset"],
                                 "where": {"cabang": {"in_claim": "cabang"}}})"),
      HasSubstr("line 5, column 44: /rules/0/where/cabang: no channel or topic pattern of rule 'k' has {cabang}"));
  // The channels bind {cabang}, the topic does not.
  EXPECT_THAT(
      with_rule(R"(    {"name": "k", "roles": ["*"], "actions": ["read"], "channels": ["private-cabang.{cabang}"],
                                 "topics": ["cabang/{cabang}/omset", "cabang/+/transaksi"],
                                 "where": {"cabang": {"in_claim": "cabang"}}})"),
      HasSubstr("line 5, column 70: /rules/0/topics/1: topic pattern 'cabang/+/transaksi' of rule 'k' does not "
                "bind {cabang}, which its 'where' restricts: it would match every value"));
  // The topics bind it, a channel does not.
  EXPECT_THAT(
      with_rule(R"(    {"name": "k", "roles": ["*"], "actions": ["read"], "channels": ["private-cabang.{cabang}", "private-all"],
                                 "topics": ["cabang/{cabang}/omset"],
                                 "where": {"cabang": {"in_claim": "cabang"}}})"),
      HasSubstr("line 4, column 96: /rules/0/channels/1: channel pattern 'private-all' of rule 'k' does not bind "
                "{cabang}"));
  // Two conditions: each must be bound by every pattern.
  EXPECT_THAT(
      with_rule(R"(    {"name": "k", "roles": ["*"], "actions": ["read"], "channels": ["c.{a}.{b}", "c.{a}"],
                                 "where": {"a": {"in_claim": "a"}, "b": {"in_claim": "b"}}})"),
      HasSubstr("/rules/0/channels/1: channel pattern 'c.{a}' of rule 'k' does not bind {b}"));
  // Every pattern binding it is fine, in both lists, and so is a placeholder without a condition.
  EXPECT_EQ(with_rule(R"(    {"name": "k", "roles": ["*"], "actions": ["read"], "channels": ["private-cabang.{cabang}"],
                                 "topics": ["cabang/{cabang}/omset", "cabang/{cabang}/{x}"],
                                 "where": {"cabang": {"in_claim": "cabang"}}})"),
            "(no error)");
}

TEST(PolicyFile, TheShippedPoliciesLoad) {
  for (const char* file : {"authz/default-policy.json", "compose/policy.json"}) {
    EXPECT_NO_THROW(Policy::load_file(std::filesystem::path(KABAR_SOURCE_DIR) / file)) << file;
  }
}

TEST(PolicyFile, MistakesAtTheTopLevelNameTheirLine) {
  EXPECT_THAT(error_of(lines({"{", "  \"version\": 2,", "  \"rules\": []", "}"})),
              HasSubstr("p.json, line 2, column 3: /version: "));
  EXPECT_THAT(error_of(lines({"{", "  \"version\": 1,", "  \"rules\": [],", "  \"rulez\": []", "}"})),
              HasSubstr("p.json, line 4, column 3: /rulez: unknown key 'rulez'"));
  EXPECT_THAT(error_of(lines({"", "  {\"rules\": []}"})),
              HasSubstr("p.json, line 2, column 3: (root): Missing required property 'version'"));
  EXPECT_THAT(
      error_of(lines({"{", "  \"version\": 1,", "  \"roles\": [\"a\", \"a\"],", "  \"rules\": []", "}"})),
      HasSubstr("p.json, line 3, column 3: /roles: "));
  EXPECT_THAT(
      error_of(lines({"{", "  \"version\": 1,", "  \"public_channels\": \"all\",", "  \"rules\": []", "}"})),
      HasSubstr("p.json, line 3, column 3: /public_channels: "));
}

TEST(PolicyFile, ANumberTooLargeForADoubleNamesItsLine) {
  EXPECT_THAT(error_of(lines({"{", "  \"version\": 1,", "  \"rules\": [1e999]", "}"})),
              HasSubstr("p.json, line 3, column 17: not valid JSON: "));
}

TEST(PolicyFile, LoadFileNamesTheFile) {
  const auto path =
      std::filesystem::temp_directory_path() / ("kabar-policy-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << "{\n  \"version\": 1,\n  \"rules\": [\n    oops\n  ]\n}\n";
  try {
    Policy::load_file(path);
    FAIL();
  } catch (const PolicyError& error) {
    EXPECT_THAT(error.what(), HasSubstr("policy file " + path.string() + ", line 4"));
  }
  std::ofstream(path) << lines(
      {"{", "  \"version\": 1,", "  \"roles\": [\"kasir\"],", "  \"rules\": [",
       "    {\"name\": \"a\", \"roles\": [\"kasr\"], \"actions\": [\"read\"], \"topics\": [\"t\"]}", "  ]",
       "}"});
  try {
    Policy::load_file(path);
    FAIL();
  } catch (const PolicyError& error) {
    EXPECT_THAT(error.what(), HasSubstr("policy file " + path.string() +
                                        ", line 5, column 29: /rules/0/roles/0: "
                                        "unknown role 'kasr'"));
  }
  std::filesystem::remove(path);
  EXPECT_THROW(Policy::load_file("/nonexistent/policy.json"), PolicyError);
}

}  // namespace
}  // namespace kabar::authz
