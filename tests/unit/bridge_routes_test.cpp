#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "bridge/routes.h"

namespace kabar {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

std::string route_error(std::vector<Route> routes) {
  try {
    RouteTable table(std::move(routes));
  } catch (const RouteError& e) {
    return e.what();
  }
  return "";
}

TEST(RouteTable, FillsPlaceholdersIntoTheChannel) {
  RouteTable table({{"dokumen/{id}/updated", "dokumen.{id}", "dokumen.updated", ""}});
  const auto match = table.match("dokumen/42/updated");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->channel, "dokumen.42");
  EXPECT_EQ(match->route->event, "dokumen.updated");
}

TEST(RouteTable, SeveralPlaceholdersInAnyOrder) {
  RouteTable table({{"t/{tenant}/room/{room}", "presence-{room}.{tenant}", "e", ""}});
  const auto match = table.match("t/acme/room/lobby");
  ASSERT_TRUE(match);
  EXPECT_EQ(match->channel, "presence-lobby.acme");
}

TEST(RouteTable, LiteralLevelsMustMatchExactly) {
  RouteTable table({{"dokumen/{id}/updated", "dokumen.{id}", "e", ""}});
  EXPECT_FALSE(table.match("dokumen/42/deleted"));
  EXPECT_FALSE(table.match("dokumen/42"));
  EXPECT_FALSE(table.match("dokumen/42/updated/extra"));
  EXPECT_FALSE(table.match("Dokumen/42/updated"));
  EXPECT_FALSE(table.match("/dokumen/42/updated"));
  EXPECT_FALSE(table.match(""));
}

TEST(RouteTable, EmptyPlaceholderLevelDoesNotMatch) {
  RouteTable table({{"dokumen/{id}/updated", "dokumen.{id}", "e", ""}});
  EXPECT_FALSE(table.match("dokumen//updated"));
}

TEST(RouteTable, InvalidFilledChannelIsNoMatch) {
  RouteTable table({{"kabar/c/{channel}", "{channel}", "", ""}});
  EXPECT_FALSE(table.match("kabar/c/has space"));
  EXPECT_FALSE(table.match("kabar/c/" + std::string(165, 'x')));
  EXPECT_TRUE(table.match("kabar/c/" + std::string(164, 'x')));
}

TEST(RouteTable, FirstMatchingRouteWins) {
  RouteTable table({{"a/special", "special", "s", ""}, {"a/{x}", "general.{x}", "g", ""}});
  EXPECT_EQ(table.match("a/special")->channel, "special");
  EXPECT_EQ(table.match("a/other")->channel, "general.other");
}

TEST(RouteTable, FirstMatchDecidesEvenWhenItsChannelIsInvalid) {
  RouteTable table({{"a/{x}", "first.{x}", "s", ""}, {"{y}/{x}", "second", "g", ""}});
  EXPECT_FALSE(table.match("a/b c"));
}

TEST(RouteTable, SubscriptionsReplacePlaceholdersWithPlus) {
  RouteTable table({{"dokumen/{id}/updated", "dokumen.{id}", "e", ""},
                    {"kabar/c/{channel}", "{channel}", "", ""},
                    {"fixed/topic", "fixed", "e", ""},
                    {"{a}/{b}", "x.{a}.{b}", "e", ""}});
  EXPECT_THAT(table.subscriptions(), ElementsAre("dokumen/+/updated", "kabar/c/+", "fixed/topic", "+/+"));
}

TEST(RouteTable, RejectsWildcardsInPatterns) {
  EXPECT_THAT(route_error({{"dokumen/+/updated", "dokumen", "e", ""}}), HasSubstr("'+' and '#'"));
  EXPECT_THAT(route_error({{"dokumen/#", "dokumen", "e", ""}}), HasSubstr("'+' and '#'"));
}

TEST(RouteTable, ErrorsNameTheRoute) {
  const std::string error =
      route_error({{"ok/{id}", "ok.{id}", "e", ""}, {"cabang/{id}/omset", "c.{nope}", "e", ""}});
  EXPECT_THAT(error, HasSubstr("route 2"));
  EXPECT_THAT(error, HasSubstr("cabang/{id}/omset"));
  EXPECT_THAT(error, HasSubstr("{nope}"));
}

TEST(RouteTable, PlaceholdersMustBeWholeLevels) {
  EXPECT_THAT(route_error({{"dokumen/doc-{id}", "d.{id}", "e", ""}}), HasSubstr("whole topic level"));
  EXPECT_THAT(route_error({{"dokumen/{id}x", "d.{id}", "e", ""}}), HasSubstr("whole topic level"));
  EXPECT_THAT(route_error({{"dokumen/{id", "d", "e", ""}}), HasSubstr("whole topic level"));
  EXPECT_THAT(route_error({{"dokumen/{}", "d", "e", ""}}), HasSubstr("placeholder"));
  EXPECT_THAT(route_error({{"dokumen/{a-b}", "d", "e", ""}}), HasSubstr("bad placeholder name"));
  EXPECT_THAT(route_error({{"x/{id}/{id}", "d.{id}", "e", ""}}), HasSubstr("twice"));
}

TEST(RouteTable, ChannelTemplateRules) {
  EXPECT_THAT(route_error({{"a/{id}", "", "e", ""}}), HasSubstr("channel template is empty"));
  EXPECT_THAT(route_error({{"a/{id}", "a/{id}", "e", ""}}), HasSubstr("'/'"));
  EXPECT_THAT(route_error({{"a/{id}", "a.{id", "e", ""}}), HasSubstr("unbalanced '{'"));
  EXPECT_THAT(route_error({{"a/{id}", "a.id}", "e", ""}}), HasSubstr("unbalanced '}'"));
  EXPECT_THAT(route_error({{"a/{id}", "a.{other}", "e", ""}}), HasSubstr("does not define"));
  EXPECT_THAT(route_error({{"a/{id}", std::string(170, 'x'), "e", ""}}), HasSubstr("longer"));
}

TEST(RouteTable, OtherRouteErrors) {
  EXPECT_THAT(route_error({{"", "x", "e", ""}}), HasSubstr("empty"));
  EXPECT_THAT(route_error({{"a/{id}", "a.{id}", std::string(201, 'e'), ""}}), HasSubstr("event name"));
  EXPECT_THAT(route_error({{"a/{id}", "a.{id}", "e", ""}, {"a/{other}", "b.{other}", "e", ""}}),
              HasSubstr("same topics"));
  EXPECT_THAT(route_error({{"a/b", "a", "e", ""}, {"a/b", "b", "e", ""}}), HasSubstr("same topics"));
}

TEST(RouteTable, EmptyTableMatchesNothing) {
  RouteTable table({});
  EXPECT_FALSE(table.match("a"));
  EXPECT_TRUE(table.subscriptions().empty());
}

TEST(BuiltinRoutes, MapTheAppsTopics) {
  RouteTable table(RouteTable::builtin());
  struct Case {
    const char* topic;
    const char* channel;
    const char* event;
    const char* schema;
  };
  const Case cases[] = {
      {"dokumen/42/updated", "dokumen.42", "dokumen.updated", "dokumen.updated"},
      {"cabang/3/omset", "private-cabang.3", "omset.updated", "omset.updated"},
      {"cabang/3/transaksi", "private-cabang.3.admin", "transaksi.created", "transaksi.created"},
      {"cabang/3/pesanan-siap", "private-cabang.3.pesanan", "pesanan.siap", "pesanan.siap"},
      {"kabar/c/presence-room.1", "presence-room.1", "", ""},
  };
  for (const auto& c : cases) {
    const auto match = table.match(c.topic);
    ASSERT_TRUE(match) << c.topic;
    EXPECT_EQ(match->channel, c.channel);
    EXPECT_EQ(match->route->event, c.event);
    EXPECT_EQ(match->route->schema, c.schema);
  }
  EXPECT_THAT(table.subscriptions(), ElementsAre("dokumen/+/updated", "cabang/+/omset", "cabang/+/transaksi",
                                                 "cabang/+/pesanan-siap", "kabar/c/+"));
}

TEST(BuiltinRoutes, UnknownTopicsDoNotMatch) {
  RouteTable table(RouteTable::builtin());
  EXPECT_FALSE(table.match("cabang/3/stok"));
  EXPECT_FALSE(table.match("kabar/c"));
  EXPECT_FALSE(table.match("kabar/c/a/b"));
}

}  // namespace
}  // namespace kabar

// The reverse of match(): where the Pusher REST API re-publishes an event of a channel, so that MQTT
// clients allowed to read that route's topics receive it (docs/bridge.md "From a channel back to a topic").
namespace kabar {
namespace {

TEST(RouteTableTopicForChannel, BuiltInBranchChannelsGoToTheirRouteTopics) {
  RouteTable table(RouteTable::builtin());
  EXPECT_EQ(table.topic_for_channel("private-cabang.3"), "cabang/3/omset");
  EXPECT_EQ(table.topic_for_channel("private-cabang.4.admin"), "cabang/4/transaksi");
  EXPECT_EQ(table.topic_for_channel("private-cabang.12.pesanan"), "cabang/12/pesanan-siap");
  EXPECT_EQ(table.topic_for_channel("dokumen.7"), "dokumen/7/updated");
}

TEST(RouteTableTopicForChannel, OtherChannelsFallToTheGenericRoute) {
  RouteTable table(RouteTable::builtin());
  EXPECT_EQ(table.topic_for_channel("orders.1"), "kabar/c/orders.1");
  EXPECT_EQ(table.topic_for_channel("presence-dokumen.7"), "kabar/c/presence-dokumen.7");
  // The branch route yields it too ({id} = "3.x"), and its topic routes back: more specific than
  // the generic route, so it wins (the policy reads branch "3.x", i.e. no cashier's branch).
  EXPECT_EQ(table.topic_for_channel("private-cabang.3.x"), "cabang/3.x/omset");
}

TEST(RouteTableTopicForChannel, TheMostSpecificTemplateWinsOverAnEarlierRouteThatAlsoFits) {
  // "private-cabang.{id}" comes first and yields "private-cabang.4.admin" with {id} = "4.admin", and
  // cabang/4.admin/omset routes back to it; the admin route's template says more of the channel.
  RouteTable table(RouteTable::builtin());
  EXPECT_EQ(table.topic_for_channel("private-cabang.4.admin"), "cabang/4/transaksi");
  RouteTable same_length({{"x/{a}", "c.{a}", "e", ""}, {"y/{b}", "c.{b}", "e", ""}});
  EXPECT_EQ(same_length.topic_for_channel("c.1"), "x/1");  // a tie: the first route
}

TEST(RouteTableTopicForChannel, NoRouteNoTopic) {
  RouteTable table({{"cabang/{id}/omset", "private-cabang.{id}", "omset.updated", ""}});
  EXPECT_FALSE(table.topic_for_channel("orders.1"));
  EXPECT_FALSE(table.topic_for_channel("bad channel!"));
  EXPECT_FALSE(table.topic_for_channel("private-cabang."));  // a placeholder binds at least one character
}

TEST(RouteTableTopicForChannel, AnEarlierRouteThatTakesTheTopicMeansNoTopicFromThisOne) {
  // Forward routing sends a/x to the first route ("one.x"), so the second cannot reach "two.a.x" that way.
  RouteTable table({{"a/{p}", "one.{p}", "e", ""}, {"{t}/{p}", "two.{t}.{p}", "e", ""}});
  EXPECT_EQ(table.topic_for_channel("one.x"), "a/x");
  EXPECT_FALSE(table.topic_for_channel("two.a.x"));
  EXPECT_EQ(table.topic_for_channel("two.b.x"), "b/x");
}

TEST(RouteTableTopicForChannel, APatternPlaceholderTheTemplateDoesNotUseMeansNoTopic) {
  RouteTable table({{"a/{p}/{q}", "c.{p}", "e", ""}});
  EXPECT_FALSE(table.topic_for_channel("c.x"));
}

TEST(RouteTableTopicForChannel, AnAmbiguousTemplateTriesEverySplitUntilForwardRoutingAgrees) {
  RouteTable table({{"t/{tenant}/room/{room}", "presence-{room}.{tenant}", "e", ""}});
  const auto topic = table.topic_for_channel("presence-lobby.acme.eu");
  ASSERT_TRUE(topic);
  EXPECT_EQ(*topic, "t/acme.eu/room/lobby");  // the first split that routes back
  const auto back = table.match(*topic);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->channel, "presence-lobby.acme.eu");
}

TEST(RouteTableTopicForChannel, APlaceholderUsedTwiceMustAgree) {
  RouteTable table({{"room/{id}", "chat.{id}.{id}", "e", ""}});
  EXPECT_EQ(table.topic_for_channel("chat.7.7"), "room/7");
  EXPECT_FALSE(table.topic_for_channel("chat.7.8"));
}

TEST(RouteTableTopicForChannel, EveryBuiltInTopicRoutesBackToItsChannel) {
  RouteTable table(RouteTable::builtin());
  for (const std::string channel : {"private-cabang.1", "private-cabang.99.admin", "dokumen.abc", "x.y"}) {
    const auto topic = table.topic_for_channel(channel);
    ASSERT_TRUE(topic) << channel;
    const auto back = table.match(*topic);
    ASSERT_TRUE(back) << *topic;
    EXPECT_EQ(back->channel, channel);
  }
}

}  // namespace
}  // namespace kabar
