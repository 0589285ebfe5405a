// MQTT filter matching as mosquitto does it: the browser doors' topic subscriptions rely on it.
#include "core/topic_filter.h"

#include <gtest/gtest.h>

namespace kabar {
namespace {

TEST(TopicFilter, PlusIsExactlyOneLevel) {
  EXPECT_TRUE(topic_matches("cabang/+/omset", "cabang/3/omset"));
  EXPECT_TRUE(topic_matches("cabang/+/omset", "cabang//omset"));  // an empty level is a level
  EXPECT_FALSE(topic_matches("cabang/+/omset", "cabang/3/4/omset"));
  EXPECT_FALSE(topic_matches("cabang/+/omset", "cabang/3/transaksi"));
  EXPECT_FALSE(topic_matches("cabang/+", "cabang"));
  EXPECT_TRUE(topic_matches("+", "cabang"));
  EXPECT_FALSE(topic_matches("+", "cabang/3"));
  EXPECT_TRUE(topic_matches("+/+", "/3"));
}

TEST(TopicFilter, HashIsTheRestAndItsParent) {
  EXPECT_TRUE(topic_matches("cabang/3/#", "cabang/3/omset"));
  EXPECT_TRUE(topic_matches("cabang/3/#", "cabang/3/order/ready"));
  EXPECT_TRUE(topic_matches("cabang/3/#", "cabang/3"));
  EXPECT_FALSE(topic_matches("cabang/3/#", "cabang/30/omset"));
  EXPECT_FALSE(topic_matches("cabang/3/#", "cabang"));
  EXPECT_TRUE(topic_matches("#", "anything/at/all"));
  EXPECT_TRUE(topic_matches("cabang/+/#", "cabang/3"));
}

TEST(TopicFilter, LiteralsMatchWholeLevels) {
  EXPECT_TRUE(topic_matches("cabang/3/omset", "cabang/3/omset"));
  EXPECT_FALSE(topic_matches("cabang/3/omset", "cabang/3/omset/x"));
  EXPECT_FALSE(topic_matches("cabang/3/omset/x", "cabang/3/omset"));
  EXPECT_FALSE(topic_matches("cabang/3", "cabang/30"));
  EXPECT_FALSE(topic_matches("cabang/3/omset", ""));
}

TEST(TopicFilter, WildcardsAtTheStartSkipDollarTopics) {
  EXPECT_FALSE(topic_matches("#", "$SYS/broker/uptime"));
  EXPECT_FALSE(topic_matches("+/broker/uptime", "$SYS/broker/uptime"));
  EXPECT_TRUE(topic_matches("$SYS/#", "$SYS/broker/uptime"));
}

TEST(TopicFilter, ValidFilters) {
  for (const char* good : {"a", "a/b", "+", "#", "a/+/c", "a/#", "+/+/#", "/", "a//b"})
    EXPECT_TRUE(is_topic_filter(good)) << good;
  for (const char* bad : {"", "a/b#", "a/#/c", "a+/b", "#/a", "a/++"}) EXPECT_FALSE(is_topic_filter(bad)) << bad;
  EXPECT_FALSE(is_topic_filter(std::string_view("a\0b", 3)));
}

}  // namespace
}  // namespace kabar
