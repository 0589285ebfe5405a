// Policy files with mistakes: each is refused with a message that says where (line and column for JSON
// syntax, the JSON path for everything else) and what.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

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

TEST(PolicyFile, TheBuiltInPolicyIsValid) {
  const Policy policy = Policy::builtin();
  EXPECT_EQ(policy.rules().size(), 5u);
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
  EXPECT_THAT(error_of(R"({"version": 2, "rules": []})"), HasSubstr("/version"));
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
  std::filesystem::remove(path);
  EXPECT_THROW(Policy::load_file("/nonexistent/policy.json"), PolicyError);
}

}  // namespace
}  // namespace kabar::authz
