#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "authz/pattern.h"

namespace kabar::authz {
namespace {

using ::testing::HasSubstr;

std::string bound(const Bindings& bindings) {
  std::string text;
  for (const auto& b : bindings) text += (text.empty() ? "" : ",") + b.placeholder + "=" + b.value;
  return text;
}

bool channel_matches(const char* pattern, const char* channel, std::string* bindings = nullptr) {
  Bindings out;
  const bool matched = ChannelPattern::parse(pattern).match(channel, out);
  if (bindings) *bindings = bound(out);
  return matched;
}

bool topic_covers(const char* pattern, const char* filter, std::string* bindings = nullptr) {
  Bindings out;
  const bool covered = TopicPattern::parse(pattern).covers(filter, out);
  if (bindings) *bindings = bound(out);
  return covered;
}

TEST(ChannelPattern, PlaceholderTakesAWholeSegment) {
  std::string bindings;
  EXPECT_TRUE(channel_matches("private-cabang.{cabang}", "private-cabang.3", &bindings));
  EXPECT_EQ(bindings, "cabang=3");
  EXPECT_FALSE(channel_matches("private-cabang.{cabang}", "private-cabang.3.admin"));
  EXPECT_FALSE(channel_matches("private-cabang.{cabang}", "private-cabang."));
  EXPECT_FALSE(channel_matches("private-cabang.{cabang}", "private-cabang"));
  EXPECT_TRUE(channel_matches("private-cabang.{cabang}.admin", "private-cabang.12.admin", &bindings));
  EXPECT_EQ(bindings, "cabang=12");
  EXPECT_FALSE(channel_matches("private-cabang.{cabang}.admin", "private-cabang.12.adminx"));
}

TEST(ChannelPattern, PlaceholderAfterALiteralPrefix) {
  std::string bindings;
  EXPECT_TRUE(channel_matches("private-App.Models.User.{id}", "private-App.Models.User.5", &bindings));
  EXPECT_EQ(bindings, "id=5");
  EXPECT_TRUE(channel_matches("private-user-{id}", "private-user-77", &bindings));
  EXPECT_EQ(bindings, "id=77");
  EXPECT_FALSE(channel_matches("private-user-{id}", "private-user-"));
}

TEST(ChannelPattern, TrailingStarMatchesTheRest) {
  EXPECT_TRUE(channel_matches("*", "anything.at.all"));
  EXPECT_TRUE(channel_matches("private-*", "private-cabang.3.admin"));
  EXPECT_FALSE(channel_matches("private-*", "presence-x"));
  EXPECT_TRUE(channel_matches("private-cabang.*", "private-cabang.3.admin"));
  EXPECT_FALSE(channel_matches("private-cabang.*", "private-cabang"));
}

TEST(ChannelPattern, RejectsBadPatterns) {
  EXPECT_THROW(ChannelPattern::parse(""), PatternError);
  EXPECT_THROW(ChannelPattern::parse("a*.b"), PatternError);
  EXPECT_THROW(ChannelPattern::parse("{a}b"), PatternError);
  EXPECT_THROW(ChannelPattern::parse("a.{B}"), PatternError);
  EXPECT_THROW(ChannelPattern::parse("a..b"), PatternError);
  EXPECT_THROW(ChannelPattern::parse("a/b"), PatternError);
  try {
    ChannelPattern::parse("x.{cabang");
    FAIL();
  } catch (const PatternError& error) {
    EXPECT_THAT(error.what(), HasSubstr("x.{cabang"));
  }
}

TEST(TopicPattern, CoversConcreteTopics) {
  std::string bindings;
  EXPECT_TRUE(topic_covers("cabang/{cabang}/omset", "cabang/3/omset", &bindings));
  EXPECT_EQ(bindings, "cabang=3");
  EXPECT_FALSE(topic_covers("cabang/{cabang}/omset", "cabang/3/transaksi"));
  EXPECT_FALSE(topic_covers("cabang/{cabang}/omset", "cabang/3/omset/x"));
  EXPECT_TRUE(topic_covers("cabang/{cabang}/#", "cabang/3/omset/x"));
  EXPECT_TRUE(topic_covers("cabang/{cabang}/#", "cabang/3"));  // '#' includes its parent level
  EXPECT_TRUE(topic_covers("#", "a/b/c"));
  EXPECT_TRUE(topic_covers("dokumen/+/updated", "dokumen/42/updated"));
}

TEST(TopicPattern, CoversFiltersOnlyWhenEverythingTheyMatchIsCovered) {
  std::string bindings;
  EXPECT_TRUE(topic_covers("cabang/{cabang}/omset", "cabang/+/omset", &bindings));
  EXPECT_EQ(bindings, "cabang=+");  // the condition decides whether every value is fine
  EXPECT_FALSE(topic_covers("cabang/{cabang}/omset", "cabang/3/#"));
  EXPECT_FALSE(topic_covers("cabang/{cabang}/omset", "cabang/#"));
  EXPECT_FALSE(topic_covers("cabang/3/omset", "cabang/+/omset"));
  EXPECT_FALSE(topic_covers("cabang/+/omset", "#"));
  EXPECT_TRUE(topic_covers("cabang/#", "cabang/+/omset"));
  EXPECT_TRUE(topic_covers("#", "#"));
  EXPECT_TRUE(topic_covers("dokumen/+/updated", "dokumen/+/updated"));
}

TEST(TopicPattern, WildcardsDoNotReachSystemTopics) {
  EXPECT_FALSE(topic_covers("#", "$SYS/broker/clients"));
  EXPECT_FALSE(topic_covers("+/broker/clients", "$SYS/broker/clients"));
  EXPECT_TRUE(topic_covers("$SYS/#", "$SYS/broker/clients"));
}

TEST(TopicPattern, RejectsBadPatterns) {
  EXPECT_THROW(TopicPattern::parse(""), PatternError);
  EXPECT_THROW(TopicPattern::parse("a/#/b"), PatternError);
  EXPECT_THROW(TopicPattern::parse("a/b+"), PatternError);
  EXPECT_THROW(TopicPattern::parse("a/x{id}"), PatternError);
  EXPECT_THROW(TopicPattern::parse("a/{Id}"), PatternError);
}

TEST(Names, ChannelAndTopicValidity) {
  EXPECT_TRUE(is_channel_name("private-cabang.3"));
  EXPECT_FALSE(is_channel_name(""));
  EXPECT_FALSE(is_channel_name(std::string(165, 'a')));
  EXPECT_FALSE(is_channel_name("a/b"));
  EXPECT_TRUE(is_topic("cabang/3/omset", false));
  EXPECT_FALSE(is_topic("cabang/+/omset", false));
  EXPECT_TRUE(is_topic("cabang/+/omset", true));
  EXPECT_FALSE(is_topic("cabang/#/x", true));
  EXPECT_FALSE(is_topic("cabang/a+", true));
  EXPECT_FALSE(is_topic(std::string("a\0b", 3), true));
  EXPECT_FALSE(is_topic("", true));
}

}  // namespace
}  // namespace kabar::authz
