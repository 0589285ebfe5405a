// Where the config document comes from (gateway/app/config_sources.cpp): KABAR_* variables named after
// the settings and typed like their defaults, the merge of a file or flags over the defaults, and a
// file that is not JSON reported with its line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "gateway/app/config_parts.h"

namespace kabar {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using namespace config_detail;

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const ConfigError& error) {
    return error.what();
  }
  return "";
}

TEST(ConfigSources, EveryScalarSettingHasOneVariableTypedLikeItsDefault) {
  json document = default_config_document();
  apply_environment(document, {{"KABAR_HTTP_PORT", "9000"},
                               {"KABAR_STORE_FSYNC", "yes"},
                               {"KABAR_AUTH_JWT_ISSUER", "https://id.example"},
                               {"KABAR_BIN", "/usr/bin/kabar"}});  // not a setting: ignored
  EXPECT_EQ(document["http"]["port"], 9000);
  EXPECT_TRUE(document["http"]["port"].is_number_integer());
  EXPECT_EQ(document["store"]["fsync"], true);
  EXPECT_EQ(document["auth"]["jwt"]["issuer"], "https://id.example");
  EXPECT_FALSE(document.contains("bin"));
}

TEST(ConfigSources, AVariableThatDoesNotFitItsSettingNamesItself) {
  json document = default_config_document();
  EXPECT_EQ(error_of([&] { apply_environment(document, {{"KABAR_HTTP_PORT", "80x"}}); }),
            "KABAR_HTTP_PORT=80x: expected a whole number");
  EXPECT_EQ(error_of([&] { apply_environment(document, {{"KABAR_STORE_FSYNC", "maybe"}}); }),
            "KABAR_STORE_FSYNC=maybe: expected true or false");
}

TEST(ConfigSources, ObjectsMergeKeyByKeyAndArraysReplace) {
  json base = {{"http", {{"port", 8080}, {"allowed_origins", {"*"}}}}, {"log", {{"level", "info"}}}};
  merge_into(base, {{"http", {{"allowed_origins", {"https://a.example"}}}}, {"schemas_dir", "s"}});
  EXPECT_EQ(base, (json{{"http", {{"port", 8080}, {"allowed_origins", {"https://a.example"}}}},
                        {"log", {{"level", "info"}}},
                        {"schemas_dir", "s"}}));
}

TEST(ConfigSources, AFileThatIsNotJsonIsReportedWithItsLine) {
  const fs::path file =
      fs::temp_directory_path() / ("kabar-config-sources-" + std::to_string(::getpid()) + ".json");
  std::ofstream(file) << "{\n  \"http\": {\n    \"port\": 80,\n  }\n}\n";
  const std::string error = error_of([&] { read_file_document(file); });
  fs::remove(file);
  EXPECT_NE(error.find("config file " + file.string() + ", line 4: not valid JSON"), std::string::npos)
      << error;
  EXPECT_NE(error_of([] { read_file_document("/nonexistent/kabar.json"); }).find("cannot read config file"),
            std::string::npos);
}

}  // namespace
}  // namespace kabar
