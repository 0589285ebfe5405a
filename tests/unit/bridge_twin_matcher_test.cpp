#include <gtest/gtest.h>

#include <set>

#include "bridge/event_id.h"
#include "bridge/twin_matcher.h"

namespace kabar {
namespace {

using Clock = TwinMatcher::Clock;
using namespace std::chrono_literals;

// Feeds a message as the bridge does: a twin copy is dropped, anything else is passed on and recorded.
// Returns true when it was passed on.
bool receive(TwinMatcher& matcher, int twin, const std::string& topic, const std::string& payload,
             Clock::time_point now) {
  if (matcher.claim_twin_copy(twin, topic, payload, now)) return false;
  matcher.record(twin, topic, payload, now);
  return true;
}

class TwinMatcherTest : public ::testing::Test {
 protected:
  Clock::time_point t0_ = Clock::now();
};

TEST_F(TwinMatcherTest, SecondCopyIsDroppedEitherWayRound) {
  TwinMatcher m;
  EXPECT_TRUE(receive(m, 0, "t", "x", t0_));
  EXPECT_FALSE(receive(m, 1, "t", "x", t0_));
  EXPECT_TRUE(receive(m, 1, "t", "y", t0_));
  EXPECT_FALSE(receive(m, 0, "t", "y", t0_));
  EXPECT_EQ(m.size(), 0u);
}

TEST_F(TwinMatcherTest, IdenticalPayloadsPublishedTwiceCountTwice) {
  TwinMatcher m;
  int passed = 0;
  for (int i = 0; i < 2; ++i) passed += receive(m, 0, "t", "same", t0_);
  for (int i = 0; i < 2; ++i) passed += receive(m, 1, "t", "same", t0_);
  EXPECT_EQ(passed, 2);
  // Interleaved the same.
  passed = 0;
  passed += receive(m, 0, "t", "same", t0_);
  passed += receive(m, 1, "t", "same", t0_);
  passed += receive(m, 1, "t", "same", t0_);
  passed += receive(m, 0, "t", "same", t0_);
  EXPECT_EQ(passed, 2);
  EXPECT_EQ(m.size(), 0u);
}

TEST_F(TwinMatcherTest, OwnFifoIsNotMatched) {
  TwinMatcher m;
  EXPECT_TRUE(receive(m, 0, "t", "x", t0_));
  EXPECT_TRUE(receive(m, 0, "t", "x", t0_));  // a second publish, not a twin copy
  EXPECT_EQ(m.size(), 2u);
}

TEST_F(TwinMatcherTest, TopicsAreIndependent) {
  TwinMatcher m;
  EXPECT_TRUE(receive(m, 0, "a", "x", t0_));
  EXPECT_TRUE(receive(m, 1, "b", "x", t0_));  // same payload, other topic: a different message
  EXPECT_FALSE(receive(m, 1, "a", "x", t0_));
  EXPECT_FALSE(receive(m, 0, "b", "x", t0_));
}

TEST_F(TwinMatcherTest, StreamsInterleavedArbitrarily) {
  TwinMatcher m;
  // Twin 0 runs three messages ahead, then twin 1 catches up and overtakes.
  int passed = 0;
  for (const char* p : {"1", "2", "3"}) passed += receive(m, 0, "t", p, t0_);
  for (const char* p : {"1", "2", "3", "4", "5"}) passed += receive(m, 1, "t", p, t0_);
  for (const char* p : {"4", "5"}) passed += receive(m, 0, "t", p, t0_);
  EXPECT_EQ(passed, 5);
  EXPECT_EQ(m.size(), 0u);
}

TEST_F(TwinMatcherTest, MessagesOnlyOneTwinGotAreSkipped) {
  TwinMatcher m;
  // "early" reached twin 0 before twin 1 had subscribed; twin 1 never receives it.
  int passed = 0;
  for (const char* p : {"early", "1", "2"}) passed += receive(m, 0, "t", p, t0_);
  for (const char* p : {"1", "2"}) passed += receive(m, 1, "t", p, t0_);
  EXPECT_EQ(passed, 3);
  EXPECT_EQ(m.size(), 0u);
  EXPECT_EQ(m.dropped(), 1u);
}

TEST_F(TwinMatcherTest, EntriesExpireByAge) {
  TwinMatcher m(TwinMatcher::Limits{100, 5min});
  EXPECT_TRUE(receive(m, 0, "t", "x", t0_));
  EXPECT_TRUE(receive(m, 0, "u", "y", t0_ + 4min));
  // Too late to be recognised: treated as new (at-least-once for payloads without an id).
  EXPECT_TRUE(receive(m, 1, "t", "x", t0_ + 6min));
  EXPECT_FALSE(receive(m, 1, "u", "y", t0_ + 6min));
  EXPECT_EQ(m.dropped(), 1u);
}

TEST_F(TwinMatcherTest, BoundedInCount) {
  TwinMatcher m(TwinMatcher::Limits{3, 5min});
  for (int i = 0; i < 10; ++i) receive(m, 0, "t" + std::to_string(i % 4), std::to_string(i), t0_);
  EXPECT_EQ(m.size(), 3u);
  EXPECT_EQ(m.dropped(), 7u);
  // The newest three are still recognised.
  EXPECT_FALSE(receive(m, 1, "t3", "7", t0_));
  EXPECT_FALSE(receive(m, 1, "t0", "8", t0_));
  EXPECT_FALSE(receive(m, 1, "t1", "9", t0_));
  EXPECT_EQ(m.size(), 0u);
}

TEST_F(TwinMatcherTest, ManyTopicsSurviveRehashing) {
  TwinMatcher m;
  for (int i = 0; i < 5000; ++i) receive(m, 0, "topic/" + std::to_string(i), "p", t0_);
  for (int i = 0; i < 5000; ++i) EXPECT_FALSE(receive(m, 1, "topic/" + std::to_string(i), "p", t0_));
  EXPECT_EQ(m.size(), 0u);
}

TEST(RecentIds, RemembersTheLastN) {
  RecentIds ids(2);
  ids.insert("a");
  ids.insert("b");
  EXPECT_TRUE(ids.contains("a"));
  ids.insert("b");  // already there: does not push "a" out
  EXPECT_TRUE(ids.contains("a"));
  ids.insert("c");
  EXPECT_FALSE(ids.contains("a"));
  EXPECT_TRUE(ids.contains("b"));
  EXPECT_TRUE(ids.contains("c"));
}

TEST(EventIdGenerator, ShapeAndOrder) {
  EventIdGenerator generator;
  std::set<std::string> seen;
  std::string last;
  for (int i = 0; i < 10000; ++i) {
    const std::string id = generator.next(1763798400000 + i / 100);  // 100 ids per millisecond
    ASSERT_EQ(id.size(), 27u);
    ASSERT_EQ(id[0], 'k');
    ASSERT_EQ(id.find_first_not_of("k0123456789ABCDEFGHJKMNPQRSTVWXYZ"), std::string::npos) << id;
    ASSERT_GT(id, last);
    last = id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 10000u);
}

TEST(EventIdGenerator, ClockGoingBackStillIncreases) {
  EventIdGenerator generator;
  const std::string a = generator.next(2000);
  const std::string b = generator.next(1000);
  EXPECT_GT(b, a);
}

TEST(EventIdGenerator, TimePrefixSorts) {
  EventIdGenerator g1;
  EventIdGenerator g2;
  EXPECT_LT(g1.next(1000).substr(0, 11), g2.next(1001).substr(0, 11));
  EXPECT_EQ(EventIdGenerator().next(0).substr(0, 11), "k0000000000");
}

}  // namespace
}  // namespace kabar
