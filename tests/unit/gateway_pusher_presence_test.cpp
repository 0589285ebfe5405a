// Presence and per-app state: members are distinct users, member_added only on a user's first
// connection and member_removed only on the last (§2.4, §2.6, checklist item 6), across nodes too;
// origins and connection quotas of an app.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway/pusher/app_registry.h"
#include "gateway/pusher/presence.h"
#include "gateway/pusher/pusher_app.h"

namespace kabar {
namespace {
using nlohmann::json;

TEST(PusherPresence, FirstJoinAndLastLeaveAreAnnounced) {
  Presence presence;
  EXPECT_TRUE(presence.join("", "1", R"("1")", R"({"name":"Ana"})"));
  EXPECT_FALSE(presence.join("", "1", R"("1")", R"({"name":"Ana"})"));  // a second tab
  EXPECT_TRUE(presence.join("", "2", R"("2")", R"({"name":"Budi"})"));
  EXPECT_EQ(presence.user_count(), 2u);
  EXPECT_FALSE(presence.leave("", "1"));  // one tab of Ana is still open
  EXPECT_TRUE(presence.leave("", "1"));
  EXPECT_FALSE(presence.leave("", "1"));  // already gone: nothing to announce
  EXPECT_EQ(presence.user_keys(), std::vector<std::string>{"2"});
}

TEST(PusherPresence, SnapshotCoversDistinctUsers) {
  Presence presence;
  presence.join("", "2", R"("2")", R"({"name":"Budi"})");
  presence.join("", "1", R"("1")", R"({"name":"Ana"})");
  presence.join("", "1", R"("1")", R"({"name":"Ana"})");
  presence.join("", "3", "3", "");
  const json snapshot = json::parse(presence.snapshot_json());
  EXPECT_EQ(snapshot["ids"], json::parse(R"(["1","2","3"])"));
  EXPECT_EQ(snapshot["hash"]["1"]["name"], "Ana");
  EXPECT_EQ(snapshot["hash"]["3"], json::object());
  EXPECT_EQ(snapshot["count"], 3);
  EXPECT_EQ(json::parse(Presence().snapshot_json()), json::parse(R"({"ids":[],"hash":{},"count":0})"));
}

TEST(PusherPresence, UsersOnTwoNodesAreOneMember) {
  Presence presence;
  EXPECT_TRUE(presence.join("", "1", R"("1")", ""));
  EXPECT_FALSE(presence.join("node-b", "1", R"("1")", ""));
  EXPECT_TRUE(presence.join("node-b", "2", R"("2")", ""));
  EXPECT_FALSE(presence.leave("", "1"));  // still on node-b
  const auto gone = presence.forget_node("node-b");
  ASSERT_EQ(gone.size(), 2u);
  EXPECT_TRUE(presence.empty());
}

TEST(PusherApp, PresenceChangesCarryIncreasingVersions) {
  PusherApp app(PusherAppConfig{"1", "k", "s"});
  const auto ana = app.join("presence-d", "", "1", R"("1")", R"({"name":"Ana"})");
  EXPECT_TRUE(ana.announced);
  const auto tab = app.join("presence-d", "", "1", R"("1")", R"({"name":"Ana"})");
  EXPECT_FALSE(tab.announced);
  EXPECT_EQ(tab.version, ana.version);  // nothing changed
  const auto budi = app.join("presence-d", "", "2", R"("2")", "");
  EXPECT_GT(budi.version, ana.version);
  EXPECT_EQ(json::parse(budi.snapshot_json)["count"], 2);
  EXPECT_FALSE(app.leave("presence-d", "", "1").announced);
  const auto left = app.leave("presence-d", "", "1");
  EXPECT_TRUE(left.announced);
  EXPECT_EQ(left.user_id_json, R"("1")");
  EXPECT_GT(left.version, budi.version);
  EXPECT_EQ(app.users("presence-d"), std::vector<std::string>{"2"});
}

TEST(PusherApp, OccupancyCountsSubscriptions) {
  PusherApp app(PusherAppConfig{"1", "k", "s"});
  EXPECT_TRUE(app.add_subscriber("dokumen.7"));
  EXPECT_FALSE(app.add_subscriber("dokumen.7"));
  EXPECT_TRUE(app.add_subscriber("presence-x"));
  EXPECT_EQ(app.channels("").size(), 2u);
  EXPECT_EQ(app.channels("presence-").size(), 1u);
  EXPECT_EQ(app.channel("dokumen.7")->subscriptions, 2u);
  EXPECT_FALSE(app.remove_subscriber("dokumen.7"));
  EXPECT_TRUE(app.remove_subscriber("dokumen.7"));
  EXPECT_FALSE(app.channel("dokumen.7").has_value());
  EXPECT_FALSE(app.remove_subscriber("never-held"));
}

TEST(PusherApp, ConnectionQuota) {
  PusherAppConfig config{"1", "k", "s"};
  config.max_connections = 2;
  PusherApp app(config);
  EXPECT_TRUE(app.try_open_connection());
  EXPECT_TRUE(app.try_open_connection());
  EXPECT_FALSE(app.try_open_connection());
  app.close_connection();
  EXPECT_TRUE(app.try_open_connection());
  EXPECT_EQ(app.connections(), 2u);

  PusherApp unlimited(PusherAppConfig{"2", "k2", "s"});
  for (int i = 0; i < 1000; ++i) EXPECT_TRUE(unlimited.try_open_connection());
}

TEST(PusherApp, AllowedOrigins) {
  PusherAppConfig config{"1", "k", "s"};
  EXPECT_TRUE(PusherApp(config).origin_allowed(""));  // default "*"
  config.allowed_origins = {"app.example.com", "*.kabar.test"};
  PusherApp app(config);
  EXPECT_TRUE(app.origin_allowed("https://app.example.com"));
  EXPECT_TRUE(app.origin_allowed("http://APP.example.com:8080"));
  EXPECT_TRUE(app.origin_allowed("https://a.b.kabar.test"));
  EXPECT_FALSE(app.origin_allowed("https://kabar.test.evil.com"));
  EXPECT_FALSE(app.origin_allowed("https://evil.com"));
  EXPECT_FALSE(app.origin_allowed(""));
}

TEST(PusherApps, FoundByKeyAndById) {
  AppRegistry apps({{"local", "local-key", "local-secret"}, {"2", "other-key", "x"}});
  EXPECT_EQ(apps.by_key("local-key")->id(), "local");
  EXPECT_EQ(apps.by_id("2")->key(), "other-key");
  EXPECT_EQ(apps.by_key("local"), nullptr);
  EXPECT_EQ(apps.by_id("local-key"), nullptr);
}

}  // namespace
}  // namespace kabar
