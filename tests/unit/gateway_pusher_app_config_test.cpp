// Pusher app settings that would break stock clients are config errors, caught by load_config itself
// and not only by whatever config schema the caller's SchemaRegistry holds: an activity_timeout of 0
// makes pusher-js fail the handshake ("No activity timeout specified in handshake").
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "bridge/schema_registry.h"
#include "gateway/app/config.h"

namespace kabar {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;

class PusherAppConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("kabar-app-config-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_ / "schemas");
    // A config schema that admits anything: what is left to refuse, load_config refuses itself.
    std::ofstream(dir_ / "schemas" / "config.schema.json") << "{}";
  }
  void TearDown() override { fs::remove_all(dir_); }

  // load_config of a file whose only app has this activity_timeout; "" when it loads.
  std::string load_with(const json& activity_timeout, bool permissive_schema) {
    const fs::path file = dir_ / "kabar.json";
    json app = {{"id", "shop"}, {"key", "shop-key"}, {"secret", "shop-secret"}};
    app["activity_timeout"] = activity_timeout;
    std::ofstream(file) << json{{"apps", json::array({app})}}.dump();
    const SchemaRegistry schemas(permissive_schema ? dir_ / "schemas" : fs::path());
    ConfigSources sources;
    sources.file = file;
    try {
      const Config config = load_config(sources, schemas);
      EXPECT_EQ(config.apps.at(0).activity_timeout, activity_timeout.get<int>());
      return "";
    } catch (const ConfigError& error) {
      return error.what();
    }
  }

  fs::path dir_;
};

TEST_F(PusherAppConfigTest, ZeroActivityTimeoutIsAConfigErrorEvenPastTheSchema) {
  const std::string problem = load_with(0, /*permissive_schema=*/true);
  // load_config's own check (the schema's message would name /apps/0/activity_timeout instead).
  EXPECT_NE(problem.find(R"(apps: app "shop" has activity_timeout 0)"), std::string::npos) << problem;
}

TEST_F(PusherAppConfigTest, NegativeActivityTimeoutIsAConfigError) {
  const std::string problem = load_with(-30, /*permissive_schema=*/true);
  EXPECT_NE(problem.find(R"(apps: app "shop" has activity_timeout -30)"), std::string::npos) << problem;
}

TEST_F(PusherAppConfigTest, TheEmbeddedSchemaRefusesZeroToo) {
  EXPECT_NE(load_with(0, /*permissive_schema=*/false).find("activity_timeout"), std::string::npos);
}

TEST_F(PusherAppConfigTest, OneSecondAndUpLoad) {
  EXPECT_EQ(load_with(1, /*permissive_schema=*/true), "");
  EXPECT_EQ(load_with(120, /*permissive_schema=*/false), "");
}

}  // namespace
}  // namespace kabar
