// ClusterOccupancy (gateway/pusher/cluster_occupancy.h): the cluster's occupancy from every node's
// snapshot, the webhooks that take receivers from what they were told to what is, and which node sends
// them. Pure: no broker, no threads (ClusterLink feeds it; gateway_pusher_relay_test.cpp covers that).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "gateway/pusher/cluster_occupancy.h"

namespace kabar {
namespace {

std::vector<std::string> names(const std::vector<AppWebhook>& webhooks) {
  std::vector<std::string> out;
  for (const auto& [app, event] : webhooks)
    out.push_back(app + " " + event.name + " " + event.channel +
                  (event.user_id.empty() ? "" : " " + event.user_id));
  return out;
}

NodeOccupancy node(std::int64_t since, std::map<std::string, std::size_t> subscriptions,
                   std::map<std::string, std::set<std::string>> members = {}) {
  NodeOccupancy occupancy;
  occupancy.since_ms = since;
  if (!subscriptions.empty()) occupancy.subscriptions["app"] = std::move(subscriptions);
  if (!members.empty()) occupancy.members["app"] = std::move(members);
  return occupancy;
}

TEST(ClusterOccupancyMerge, AChannelIsOccupiedWhenAnyNodeHasASubscriberAndMembersAreUnited) {
  const NodeOccupancy a = node(1, {{"orders", 2}, {"presence-room", 1}}, {{"presence-room", {"1"}}});
  const NodeOccupancy b = node(2, {{"presence-room", 2}, {"empty", 0}}, {{"presence-room", {"1", "2"}}});
  const OccupancyView view = merge_occupancy({&a, &b});
  ASSERT_EQ(view.at("app").size(), 2u);  // "empty" has no subscriber
  EXPECT_TRUE(view.at("app").at("orders").empty());
  EXPECT_EQ(view.at("app").at("presence-room"), (std::set<std::string>{"1", "2"}));
}

TEST(ClusterOccupancyTransitions, OccupiedThenMembersAddedAndMembersRemovedThenVacated) {
  OccupancyView before = {{"app", {{"presence-room", {"1", "2"}}, {"gone", {}}}}};
  OccupancyView after = {{"app", {{"presence-room", {"2", "3"}}, {"new", {}}}}};
  EXPECT_EQ(
      names(occupancy_transitions(before, after)),
      (std::vector<std::string>{"app channel_vacated gone", "app channel_occupied new",
                                "app member_added presence-room 3", "app member_removed presence-room 1"}));
  EXPECT_EQ(names(occupancy_transitions({}, {{"app", {{"presence-x", {"9"}}}}})),
            (std::vector<std::string>{"app channel_occupied presence-x", "app member_added presence-x 9"}));
  EXPECT_EQ(names(occupancy_transitions({{"app", {{"presence-x", {"9"}}}}}, {})),
            (std::vector<std::string>{"app member_removed presence-x 9", "app channel_vacated presence-x"}));
  EXPECT_TRUE(occupancy_transitions(after, after).empty());
}

TEST(ClusterOccupancyTransitions, AppsAreApart) {
  EXPECT_EQ(names(occupancy_transitions({{"one", {{"c", {}}}}}, {{"two", {{"c", {}}}}})),
            (std::vector<std::string>{"one channel_vacated c", "two channel_occupied c"}));
}

TEST(ClusterOccupancyView, RoundTripsThroughJson) {
  const OccupancyView view = {{"app", {{"presence-room", {"1", "2"}}, {"orders", {}}}}, {"b", {{"x", {}}}}};
  EXPECT_EQ(parse_occupancy_view(occupancy_view_json(view)), view);
  EXPECT_TRUE(parse_occupancy_view("not json").empty());
  EXPECT_TRUE(parse_occupancy_view("").empty());
}

TEST(ClusterOccupancyLeader, TheOldestSettledNodeLeadsAndTheNameBreaksATie) {
  ClusterOccupancy mine("node-b", 100);
  EXPECT_FALSE(mine.leads()) << "not settled: it has not heard the others yet";
  mine.set_settled(true);
  EXPECT_TRUE(mine.leads());
  mine.set_node("node-c", node(50, {}));  // older, whatever its name
  EXPECT_FALSE(mine.leads());
  mine.drop_node("node-c");
  mine.set_node("node-a", node(100, {}));  // as old: the smaller name
  EXPECT_FALSE(mine.leads());
  mine.set_node("node-a", node(101, {}));  // restarted: younger now
  EXPECT_TRUE(mine.leads());
  mine.set_node("node-b", node(1, {}));  // our own snapshot from before a restart is not another node
  EXPECT_TRUE(mine.leads());
}

TEST(ClusterOccupancyReconcile, OnlyTheLeaderSendsAndEachChangeOnce) {
  ClusterOccupancy first("a", 1);
  ClusterOccupancy second("b", 2);
  for (auto* occupancy : {&first, &second}) occupancy->set_settled(true);
  const NodeOccupancy on_a = node(1, {{"orders", 1}});
  const NodeOccupancy on_b = node(2, {{"orders", 1}});
  first.set_node("b", on_b);
  second.set_node("a", on_a);
  auto sent_a = first.reconcile(on_a);
  auto sent_b = second.reconcile(on_b);
  EXPECT_TRUE(sent_a.leads);
  EXPECT_FALSE(sent_b.leads);
  EXPECT_EQ(names(sent_a.webhooks), (std::vector<std::string>{"app channel_occupied orders"}));
  EXPECT_TRUE(sent_b.webhooks.empty());
  EXPECT_FALSE(sent_a.announced_json.empty());
  // Again with nothing new: nothing sent, nothing to announce.
  EXPECT_TRUE(first.reconcile(on_a).webhooks.empty());
  EXPECT_TRUE(first.reconcile(on_a).announced_json.empty());
  // One node leaves the channel: still occupied on the other.
  first.set_node("b", node(2, {}));
  EXPECT_TRUE(first.reconcile(on_a).webhooks.empty());
  EXPECT_EQ(names(first.reconcile(node(1, {})).webhooks),
            (std::vector<std::string>{"app channel_vacated orders"}));
}

TEST(ClusterOccupancyReconcile, TheNextNodeTakesOverFromWhatTheLeaderAnnounced) {
  ClusterOccupancy leader("a", 1);
  ClusterOccupancy next("b", 2);
  leader.set_settled(true);
  next.set_settled(true);
  const NodeOccupancy on_a = node(1, {{"presence-room", 1}}, {{"presence-room", {"ana"}}});
  leader.set_node("b", node(2, {}));
  next.set_node("a", on_a);
  const auto told = leader.reconcile(on_a);
  ASSERT_FALSE(told.announced_json.empty());
  next.set_announced(parse_occupancy_view(told.announced_json));  // through the retained topic
  EXPECT_TRUE(next.reconcile(node(2, {})).webhooks.empty());      // not its turn
  next.drop_node("a");  // a is killed; its will empties its snapshot
  EXPECT_EQ(names(next.reconcile(node(2, {})).webhooks),
            (std::vector<std::string>{"app member_removed presence-room ana",
                                      "app channel_vacated presence-room"}));
}

TEST(ClusterOccupancyReconcile, WhileLeadingItsOwnAnnouncementIsNotTakenBack) {
  ClusterOccupancy mine("a", 1);
  mine.set_settled(true);
  mine.reconcile(node(1, {{"orders", 1}}));
  mine.set_announced({});  // an older retained announcement arriving late changes nothing
  EXPECT_TRUE(mine.reconcile(node(1, {{"orders", 1}})).webhooks.empty());
}

}  // namespace
}  // namespace kabar
