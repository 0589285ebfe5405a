// The session-to-session path of the Pusher door: ChannelDirectory (which sessions of which shard hold
// a channel of an app, and relaying to them) and ClusterLink's handling of what other nodes send
// (presence snapshots turned into joins and leaves, client events relayed), without a broker:
// apply_snapshot and apply_client_event are called directly, as Paho's thread would.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "gateway/pusher/app_registry.h"
#include "gateway/pusher/channel_directory.h"
#include "gateway/pusher/cluster_link.h"

namespace kabar {
namespace {
using nlohmann::json;

// Stands in for a PusherSession: remembers what it was handed.
class Recorder : public RelayTarget {
 public:
  void deliver(const RelayedFrame& frame) override { frames.push_back(frame); }
  std::vector<RelayedFrame> frames;
};

// Two I/O shards, run by hand.
struct Shards {
  boost::asio::io_context a, b;
  std::vector<boost::asio::io_context*> list() { return {&a, &b}; }
  void run() {
    a.restart();
    a.run();
    b.restart();
    b.run();
  }
};

RelayedFramePtr frame_for(const std::string& app, const std::string& channel, const std::string& text) {
  auto frame = std::make_shared<RelayedFrame>();
  frame->app_id = app;
  frame->channel = channel;
  frame->text = text;
  return frame;
}

// ---- ChannelDirectory ----

TEST(PusherChannelDirectory, RelaysToTheHoldersOfTheChannelOnEveryShard) {
  Shards shards;
  ChannelDirectory directory(shards.list());
  Recorder on_a, on_b, elsewhere;
  directory.add(0, "app", "private-chat", &on_a);
  directory.add(1, "app", "private-chat", &on_b);
  directory.add(1, "app", "private-other", &elsewhere);
  directory.relay(frame_for("app", "private-chat", "hello"));
  EXPECT_TRUE(on_a.frames.empty()) << "nothing runs before the shard does";
  shards.run();
  ASSERT_EQ(on_a.frames.size(), 1u);
  EXPECT_EQ(on_a.frames[0].text, "hello");
  ASSERT_EQ(on_b.frames.size(), 1u);
  EXPECT_TRUE(elsewhere.frames.empty());
}

TEST(PusherChannelDirectory, AppsAreIsolated) {
  Shards shards;
  ChannelDirectory directory(shards.list());
  Recorder of_app, of_other_app;
  directory.add(0, "app", "private-chat", &of_app);
  directory.add(0, "other", "private-chat", &of_other_app);
  directory.relay(frame_for("app", "private-chat", "x"));
  shards.run();
  EXPECT_EQ(of_app.frames.size(), 1u);
  EXPECT_TRUE(of_other_app.frames.empty());
}

TEST(PusherChannelDirectory, AddingTwiceHoldsOnceAndRemoveStopsDelivery) {
  Shards shards;
  ChannelDirectory directory(shards.list());
  Recorder session;
  directory.add(0, "app", "c", &session);
  directory.add(0, "app", "c", &session);
  EXPECT_EQ(directory.count(0, "app", "c"), 1u);
  EXPECT_EQ(directory.count(1, "app", "c"), 0u);
  directory.relay(frame_for("app", "c", "1"));
  shards.run();
  EXPECT_EQ(session.frames.size(), 1u);
  directory.remove(0, "app", "c", &session);
  EXPECT_EQ(directory.count(0, "app", "c"), 0u);
  directory.remove(0, "app", "c", &session);  // already gone: harmless
  directory.relay(frame_for("app", "c", "2"));
  shards.run();
  EXPECT_EQ(session.frames.size(), 1u);
}

TEST(PusherChannelDirectory, ARelayedFrameCarriesWhomToSkip) {
  Shards shards;
  ChannelDirectory directory(shards.list());
  Recorder session;
  directory.add(1, "app", "presence-r", &session);
  auto frame = std::make_shared<RelayedFrame>(*frame_for("app", "presence-r", "m"));
  frame->except_socket_id = "1.2";
  frame->presence_version = 7;
  directory.relay(frame);
  shards.run();
  ASSERT_EQ(session.frames.size(), 1u);
  // The directory hands everything on; the session's delivery filter decides (delivery_filter.h).
  EXPECT_EQ(session.frames[0].except_socket_id, "1.2");
  EXPECT_EQ(session.frames[0].presence_version, 7u);
}

// ---- ClusterLink: what other nodes send ----

// A link that never connects (it is not started): what other nodes send is applied by hand.
ClusterOptions link_options() {
  ClusterOptions options;
  options.server_uri = "tcp://127.0.0.1:1";
  options.client_id = "test-link";
  options.node = "node-a";
  return options;
}

struct Cluster {
  Shards shards;
  AppRegistry apps{std::vector<PusherAppConfig>{PusherAppConfig{"app", "key", "secret"}}};
  ChannelDirectory directory{shards.list()};
  ClusterOccupancy occupancy{"node-a", 1000};
  std::vector<std::pair<std::string, WebhookEvent>> webhooks;  // what the link had sent (app, event)
  ClusterLink link{
      link_options(), apps, directory, occupancy,
      [this](const PusherApp& app, WebhookEvent event) { webhooks.emplace_back(app.id(), event); }};
  Recorder room;  // a local subscriber of presence-room

  Cluster() { directory.add(0, "app", "presence-room", &room); }
  PusherApp& app() { return *apps.by_id("app"); }
  // The member events the local subscriber got since the last call, as [event, user_id].
  std::vector<std::pair<std::string, std::string>> announced() {
    shards.run();
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& frame : room.frames) {
      const json parsed = json::parse(frame.text);
      out.emplace_back(parsed["event"], json::parse(parsed["data"].get<std::string>())["user_id"].dump());
    }
    room.frames.clear();
    return out;
  }
};

std::string snapshot(const std::string& users_json) {
  return R"({"apps":{"app":{"presence-room":)" + users_json + "}}}";
}

using Announced = std::vector<std::pair<std::string, std::string>>;

TEST(PusherClusterLink, ASnapshotOfAnotherNodeJoinsItsMembers) {
  Cluster cluster;
  cluster.link.apply_snapshot("node-b", snapshot(R"({"1":{"id":"1","info":{"name":"Ana"}}})"));
  EXPECT_EQ(cluster.announced(), (Announced{{"pusher_internal:member_added", R"("1")"}}));
  EXPECT_EQ(cluster.app().users("presence-room"), std::vector<std::string>{"1"});
  const json members = json::parse(cluster.app().presence_snapshot("presence-room"));
  EXPECT_EQ(members["hash"]["1"]["name"], "Ana");
}

TEST(PusherClusterLink, TheSameSnapshotAgainChangesNothing) {
  Cluster cluster;
  const std::string state = snapshot(R"({"1":{"id":"1"}})");
  cluster.link.apply_snapshot("node-b", state);
  cluster.announced();
  cluster.link.apply_snapshot("node-b", state);
  EXPECT_TRUE(cluster.announced().empty());
}

TEST(PusherClusterLink, TheDifferenceBetweenSnapshotsIsAnnounced) {
  Cluster cluster;
  cluster.link.apply_snapshot("node-b", snapshot(R"({"1":{"id":"1"},"2":{"id":2}})"));
  cluster.announced();
  cluster.link.apply_snapshot("node-b", snapshot(R"({"2":{"id":2},"3":{"id":"3"}})"));
  EXPECT_EQ(cluster.announced(), (Announced{{"pusher_internal:member_removed", R"("1")"},
                                            {"pusher_internal:member_added", R"("3")"}}));
  EXPECT_EQ(cluster.app().users("presence-room"), (std::vector<std::string>{"2", "3"}));
}

TEST(PusherClusterLink, AnEmptyPayloadMeansTheNodeIsGone) {
  Cluster cluster;
  cluster.link.apply_snapshot("node-b", snapshot(R"({"1":{"id":"1"},"2":{"id":"2"}})"));
  cluster.announced();
  cluster.link.apply_snapshot("node-b", "");
  EXPECT_EQ(cluster.announced(), (Announced{{"pusher_internal:member_removed", R"("1")"},
                                            {"pusher_internal:member_removed", R"("2")"}}));
  EXPECT_TRUE(cluster.app().users("presence-room").empty());
}

TEST(PusherClusterLink, AUserAlsoPresentHereIsNeitherAddedNorRemoved) {
  Cluster cluster;
  cluster.app().join("presence-room", "", "1", R"("1")", "");
  cluster.link.apply_snapshot("node-b", snapshot(R"({"1":{"id":"1"}})"));
  EXPECT_TRUE(cluster.announced().empty());
  cluster.link.apply_snapshot("node-b", "");
  EXPECT_TRUE(cluster.announced().empty());
  EXPECT_EQ(cluster.app().users("presence-room"), std::vector<std::string>{"1"});
}

TEST(PusherClusterLink, OneUserOnTwoOtherNodesLeavesWithTheLastOfThem) {
  Cluster cluster;
  cluster.link.apply_snapshot("node-b", snapshot(R"({"1":{"id":"1"}})"));
  cluster.link.apply_snapshot("node-c", snapshot(R"({"1":{"id":"1"}})"));
  EXPECT_EQ(cluster.announced().size(), 1u);
  cluster.link.apply_snapshot("node-b", "");
  EXPECT_TRUE(cluster.announced().empty());
  cluster.link.apply_snapshot("node-c", "");
  EXPECT_EQ(cluster.announced(), (Announced{{"pusher_internal:member_removed", R"("1")"}}));
}

TEST(PusherClusterLink, MemberEventsCarryIncreasingPresenceVersions) {
  Cluster cluster;
  cluster.link.apply_snapshot("node-b", snapshot(R"({"1":{"id":"1"}})"));
  cluster.link.apply_snapshot("node-b", snapshot(R"({"1":{"id":"1"},"2":{"id":"2"}})"));
  cluster.shards.run();
  ASSERT_EQ(cluster.room.frames.size(), 2u);
  EXPECT_GT(cluster.room.frames[0].presence_version, 0u);
  EXPECT_GT(cluster.room.frames[1].presence_version, cluster.room.frames[0].presence_version);
  EXPECT_TRUE(cluster.room.frames[0].except_socket_id.empty());  // no local socket caused it
}

TEST(PusherClusterLink, MalformedPartsOfASnapshotAreSkipped) {
  Cluster cluster;
  // Unknown app, a channel that is not an object, a member without "id": only user 5 joins.
  cluster.link.apply_snapshot(
      "node-b",
      R"({"apps":{"nope":{"presence-room":{"9":{"id":"9"}}},"app":{"presence-x":[],"presence-room":{"4":{"info":{}},"5":{"id":"5"}}}}})");
  EXPECT_EQ(cluster.announced(), (Announced{{"pusher_internal:member_added", R"("5")"}}));
  // Not a snapshot at all: the node is taken to have no members.
  cluster.link.apply_snapshot("node-b", "not json");
  EXPECT_EQ(cluster.announced(), (Announced{{"pusher_internal:member_removed", R"("5")"}}));
}

TEST(PusherClusterLink, ThisNodesSnapshotIsWhatAnotherNodeApplies) {
  Cluster here;
  here.app().join("presence-room", "", "1", R"("1")", R"({"name":"Ana"})");
  here.app().join("presence-room", "", "2", "2", "");
  here.app().join("presence-room", "node-z", "9", R"("9")", "");  // remote members are not ours to share
  const std::string mine = ClusterLink::snapshot_json(here.apps, 77);
  EXPECT_EQ(
      json::parse(mine),
      json::parse(R"({"apps":{"app":{"presence-room":{"1":{"id":"1","info":{"name":"Ana"}},"2":{"id":2}}}},)"
                  R"("subscriptions":{},"since":77})"));

  Cluster there;
  there.link.apply_snapshot("node-here", mine);
  EXPECT_EQ(there.announced(),
            (Announced{{"pusher_internal:member_added", R"("1")"}, {"pusher_internal:member_added", "2"}}));
  EXPECT_EQ(json::parse(there.app().presence_snapshot("presence-room")),
            json::parse(R"({"ids":["1","2"],"hash":{"1":{"name":"Ana"},"2":{}},"count":2})"));
}

TEST(PusherClusterLink, NoMembersIsAnEmptySnapshot) {
  Cluster cluster;
  EXPECT_EQ(ClusterLink::snapshot_json(cluster.apps, 5), R"({"apps":{},"since":5,"subscriptions":{}})");
}

// ---- ClusterLink: client events of other nodes ----

TEST(PusherClusterLink, AClientEventOfAnotherNodeIsRelayedHereWithItsSender) {
  Cluster cluster;
  Recorder chat;
  cluster.directory.add(1, "app", "private-chat", &chat);
  const json payload = {{"app", "app"}, {"channel", "private-chat"}, {"except", "3.4"}, {"text", "whisper"}};
  cluster.link.apply_client_event("node-b", payload.dump());
  cluster.shards.run();
  ASSERT_EQ(chat.frames.size(), 1u);
  EXPECT_EQ(chat.frames[0].text, "whisper");
  EXPECT_EQ(chat.frames[0].except_socket_id, "3.4");
}

TEST(PusherClusterLink, OwnUnknownAppAndMalformedClientEventsAreIgnored) {
  Cluster cluster;
  Recorder chat;
  cluster.directory.add(0, "app", "private-chat", &chat);
  const json good = {{"app", "app"}, {"channel", "private-chat"}, {"except", "1.1"}, {"text", "w"}};
  cluster.link.apply_client_event("node-a", good.dump());  // our own, back from the broker
  json other_app = good;
  other_app["app"] = "nope";
  cluster.link.apply_client_event("node-b", other_app.dump());
  json no_text = good;
  no_text.erase("text");
  cluster.link.apply_client_event("node-b", no_text.dump());
  cluster.link.apply_client_event("node-b", "not json");
  cluster.shards.run();
  EXPECT_TRUE(chat.frames.empty());
}

TEST(PusherClusterLink, TopicsNameTheNode) {
  EXPECT_EQ(ClusterLink::presence_topic("n1"), "kabar/pusher/presence/n1");
  EXPECT_EQ(ClusterLink::client_topic("n1"), "kabar/pusher/client/n1");
}

}  // namespace
}  // namespace kabar

namespace kabar {
namespace {

// ---- ClusterLink: the cluster's occupancy, from snapshots (cluster_occupancy.h has the pure rules) ----

std::vector<std::string> webhook_names(Cluster& cluster) {
  std::vector<std::string> names;
  for (const auto& [app, event] : cluster.webhooks)
    names.push_back(event.name + " " + event.channel + (event.user_id.empty() ? "" : " " + event.user_id));
  cluster.webhooks.clear();
  return names;
}

TEST(PusherClusterLinkOccupancy, SnapshotsShareSubscriptionsAndTheStartTime) {
  Cluster cluster;
  cluster.app().add_subscriber("orders");
  cluster.app().add_subscriber("orders");
  cluster.app().join("presence-room", "", "1", R"("1")", "");
  cluster.app().add_subscriber("presence-room");
  const json snapshot = json::parse(ClusterLink::snapshot_json(cluster.apps, 1234));
  EXPECT_EQ(snapshot["since"], 1234);
  EXPECT_EQ(snapshot["subscriptions"]["app"]["orders"], 2);
  EXPECT_EQ(snapshot["subscriptions"]["app"]["presence-room"], 1);
  EXPECT_EQ(snapshot["apps"]["app"]["presence-room"]["1"]["id"], "1");
}

// The operator's page shows every node's open connections per door, from the snapshots.
TEST(PusherClusterLinkOccupancy, SnapshotsShareConnectionsPerDoorForTheOperatorsPage) {
  Cluster cluster;
  const std::map<std::string, std::uint64_t> doors = {{"pusher", 1}, {"sse", 4}, {"ws", 2}};
  const std::string mine = ClusterLink::snapshot_json(cluster.apps, 1234, doors);
  EXPECT_EQ(json::parse(mine)["connections"], json::parse(R"({"pusher":1,"sse":4,"ws":2})"));
  Cluster there;
  there.link.apply_snapshot("node-b", mine);
  there.link.apply_snapshot("node-c", R"({"apps":{},"subscriptions":{},"since":9})");  // an older version
  const auto nodes = there.occupancy.other_nodes();
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes.at("node-b").connections, doors);
  EXPECT_EQ(nodes.at("node-b").since_ms, 1234);
  EXPECT_TRUE(nodes.at("node-c").connections.empty());
  there.link.apply_snapshot("node-b", R"({"since":1234,"connections":{"ws":"many","sse":-1,"pusher":3}})");
  EXPECT_EQ(there.occupancy.other_nodes().at("node-b").connections,
            (std::map<std::string, std::uint64_t>{{"pusher", 3}}));
  there.link.apply_snapshot("node-b", "");
  EXPECT_EQ(there.occupancy.other_nodes().count("node-b"), 0u);
}

TEST(PusherClusterLinkOccupancy, AnotherNodesSubscriptionsCountForTheRestQueries) {
  Cluster cluster;
  cluster.link.apply_snapshot("node-b", R"({"apps":{},"subscriptions":{"app":{"orders":3}},"since":5})");
  EXPECT_EQ(cluster.occupancy.remote_subscriptions("app"),
            (std::map<std::string, std::size_t>{{"orders", 3}}));
  cluster.link.apply_snapshot("node-b", "");
  EXPECT_TRUE(cluster.occupancy.remote_subscriptions("app").empty());
}

TEST(PusherClusterLinkOccupancy, TheLeaderSendsTheClustersWebhooksFromTheUnionOfSnapshots) {
  Cluster cluster;  // node-a started at 1000
  cluster.occupancy.set_settled(true);
  cluster.app().add_subscriber("orders");
  cluster.link.apply_snapshot("node-b",
                              R"({"apps":{},"subscriptions":{"app":{"orders":1,"other":1}},"since":2000})");
  cluster.link.reconcile();
  EXPECT_EQ(webhook_names(cluster),
            (std::vector<std::string>{"channel_occupied orders", "channel_occupied other"}));
  cluster.app().remove_subscriber("orders");  // still occupied on node-b
  EXPECT_TRUE(cluster.link.reconcile().empty());
  EXPECT_TRUE(webhook_names(cluster).empty());
  cluster.link.apply_snapshot("node-b", "");  // node-b died
  EXPECT_FALSE(cluster.link.reconcile().empty());
  EXPECT_EQ(webhook_names(cluster),
            (std::vector<std::string>{"channel_vacated orders", "channel_vacated other"}));
}

TEST(PusherClusterLinkOccupancy, AnOlderNodeLeadsAndThisOneSendsNothing) {
  Cluster cluster;
  cluster.occupancy.set_settled(true);
  cluster.link.apply_snapshot("node-z", R"({"apps":{},"subscriptions":{},"since":10})");
  cluster.app().add_subscriber("orders");
  EXPECT_TRUE(cluster.link.reconcile().empty());
  EXPECT_TRUE(webhook_names(cluster).empty());
}

TEST(PusherClusterLinkOccupancy, TakingOverContinuesFromWhatTheDeadLeaderAnnounced) {
  Cluster cluster;
  cluster.occupancy.set_settled(true);
  const std::string members = R"({"app":{"presence-room":{"7":{"id":"7"}}}})";
  cluster.link.apply_snapshot(
      "node-old", R"({"apps":)" + members + R"(,"subscriptions":{"app":{"presence-room":1}},"since":1})");
  // The old leader told receivers about user 7 (its own member) and nothing else.
  cluster.occupancy.set_announced(parse_occupancy_view(R"({"apps":{"app":{"presence-room":["7"]}}})"));
  cluster.app().add_subscriber("orders");  // joined here while the leader was already dead, not yet known
  cluster.link.apply_snapshot("node-old", "");  // its will
  EXPECT_FALSE(cluster.link.reconcile().empty());
  EXPECT_EQ(webhook_names(cluster),
            (std::vector<std::string>{"channel_occupied orders", "member_removed presence-room 7",
                                      "channel_vacated presence-room"}));
}

}  // namespace
}  // namespace kabar
