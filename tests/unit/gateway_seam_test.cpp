// The replay seam, tested with the real store, hub and replay reader and a session whose transport
// just records what it would send: while events keep being committed, a client that subscribes from a
// position gets every later event of its channel exactly once, in order.
#include "seam_fixture.h"

namespace kabar::seam_test {

// items_per_write > 1 is how SSE writes (a backlog goes out in one gathered write).
void SeamTest::expect_exact_seam_while_publishing(std::size_t items_per_write) {
  for (int n = 0; n < 300; ++n) append("c", n);
  const std::int64_t cursor = append("c", 300);
  std::atomic<bool> stop{false};
  std::thread publisher([&] {
    for (int n = 301; n < 1500; ++n) {
      append(n % 3 == 0 ? "other" : "c", n);
    }
    stop = true;
  });
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_, /*hold_writes=*/false, items_per_write);
    s->subscribe_from({"c"}, store_->epoch() + ":" + std::to_string(cursor));
    return s;
  });
  publisher.join();
  std::vector<int> expected;
  for (int n = 301; n < 1500; ++n) {
    if (n % 3 != 0) expected.push_back(n);
  }
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() >= expected.size(); }));
  std::this_thread::sleep_for(50ms);  // anything extra (a duplicate) would show up now
  const auto events = of_type(session->frames(), "event");
  std::vector<int> got;
  for (const auto& event : events) got.push_back(nlohmann::json::parse(event["data"].dump())["n"].get<int>());
  EXPECT_EQ(got, expected);
  on_io([&] { session->detach(); return 0; });
}

TEST_F(SeamTest, SubscribingFromAPositionWhileEventsFlowDeliversEachLaterEventOnceInOrder) {
  expect_exact_seam_while_publishing(1);
}

TEST_F(SeamTest, GatheredWritesKeepTheSeamExact) { expect_exact_seam_while_publishing(64); }

// A topic subscription made while events pour in on five channels (three whose topics match, one that
// does not, and a matching channel that also gets events of another topic): from a live start, every
// matching event committed after the subscription once and in seq order, channels that appear
// meanwhile included; nothing of the other topics.
TEST_F(SeamTest, TopicSubscriptionWhileEventsFlowIsExactAndFollowsNewChannels) {
  for (int n = 0; n < 50; ++n) append("b.1", n, 0, "b/1/x");
  std::atomic<bool> stop{false};
  std::vector<std::int64_t> matching_seqs;
  std::mutex seqs_mutex;
  std::thread publisher([&] {
    for (int n = 0; n < 600 && !stop; ++n) {
      const int branch = 1 + n % 5;  // b.4 and b.5 have their first events during the test
      if (branch == 5) {
        append("b.3", n, 0, "b/3/y");  // channel b.3 from another topic: not selected
        continue;
      }
      const std::int64_t seq = append("b." + std::to_string(branch), n, 0, "b/" + std::to_string(branch) + "/x");
      std::lock_guard lock(seqs_mutex);
      matching_seqs.push_back(seq);
    }
  });
  std::this_thread::sleep_for(2ms);
  std::int64_t head = 0;
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    head = store_->head_seq();
    s->subscribe_topics_from({"b/+/x"}, "");
    return s;
  });
  publisher.join();
  const std::string last = "b." + std::to_string(1 + 598 % 5) + "-598";  // the last matching event
  ASSERT_TRUE(wait_for([&] {
    const auto events = of_type(session->frames(), "event");
    return !events.empty() && events.back()["id"] == last;
  }));
  std::this_thread::sleep_for(100ms);
  std::vector<std::int64_t> got;
  for (const auto& frame : of_type(session->frames(), "event")) {
    EXPECT_EQ(frame["topic"].get<std::string>().substr(frame["topic"].get<std::string>().size() - 2), "/x");
    got.push_back(std::stoll(frame["position"].get<std::string>().substr(store_->epoch().size() + 1)));
  }
  // The head read on the I/O thread may be a few events behind `head` here: compare from the first sent.
  ASSERT_FALSE(got.empty());
  std::vector<std::int64_t> tail;
  for (std::int64_t seq : matching_seqs) {
    if (seq >= got.front()) tail.push_back(seq);
  }
  EXPECT_EQ(got, tail);
  EXPECT_GT(got.front(), head);  // nothing from before the subscription
  on_io([&] { session->detach(); return 0; });
}

TEST_F(SeamTest, TopicSubscriptionFromEarliestReplaysMatchingTopicsOnly) {
  for (int n = 0; n < 30; ++n) append("b." + std::to_string(n % 3), n, 0, "b/" + std::to_string(n % 3) + "/x");
  for (int n = 0; n < 10; ++n) append("b.1", 100 + n, 0, "kabar/c/b.1");
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_topics_from({"b/+/x"}, "earliest");
    return s;
  });
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 30; }));
  append("b.1", 200, 0, "kabar/c/b.1");
  append("b.7", 201, 0, "b/7/x");  // a new channel, live
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 31; }));
  std::this_thread::sleep_for(50ms);
  const auto events = of_type(session->frames(), "event");
  ASSERT_EQ(events.size(), 31u);
  for (int n = 0; n < 30; ++n) EXPECT_EQ(events[n]["data"]["n"], n);
  EXPECT_EQ(events[30]["channel"], "b.7");
  on_io([&] { session->detach(); return 0; });
}

TEST_F(SeamTest, LiveSubscriptionGetsOnlyEventsCommittedAfterIt) {
  append("c", 0);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "");
    return s;
  });
  append("c", 1);
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 1; }));
  EXPECT_EQ(of_type(session->frames(), "event")[0]["data"]["n"], 1);
  on_io([&] { session->detach(); return 0; });
}

TEST_F(SeamTest, EarliestReplaysEverythingRetained) {
  for (int n = 0; n < 100; ++n) append("c", n);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "earliest");
    return s;
  });
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 100; }));
  on_io([&] { session->detach(); return 0; });
}

TEST_F(SeamTest, PositionFromAnotherStoreGetsEpochChangedResetThenLiveEvents) {
  append("c", 0);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "ffffffffffff:1");
    return s;
  });
  append("c", 1);
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 1; }));
  const auto resets = of_type(session->frames(), "reset");
  ASSERT_EQ(resets.size(), 1u);
  EXPECT_EQ(resets[0]["reason"], "epoch_changed");
  EXPECT_EQ(of_type(session->frames(), "event")[0]["data"]["n"], 1);
  on_io([&] { session->detach(); return 0; });
}

// A position of another node (another epoch) with the id of its event: resumed after that event here,
// with no reset, also when this store has not got the event yet when the client arrives (its bridge a
// moment behind the other node's).
TEST_F(SeamTest, PositionOfAnotherNodeResumesAfterItsEventById) {
  for (int n = 0; n < 5; ++n) append("c", n);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "0123456789ab:999:c-2");
    return s;
  });
  append("c", 5);
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 3; }));
  std::this_thread::sleep_for(50ms);
  const auto events = of_type(session->frames(), "event");
  ASSERT_EQ(events.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(events[static_cast<std::size_t>(i)]["data"]["n"], i + 3);
  EXPECT_EQ(of_type(session->frames(), "reset").size(), 0u);
  EXPECT_EQ(stats_.resumes_from_other_node.load(), 1u);
  on_io([&] { session->detach(); return 0; });
}

TEST_F(SeamTest, PositionOfAnotherNodeWhoseEventArrivesMomentsLaterStillResumesWithoutAReset) {
  append("c", 0);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "0123456789ab:999:c-1");
    return s;
  });
  std::this_thread::sleep_for(300ms);
  append("c", 1);  // the client's last event reaches this node after the client did
  append("c", 2);
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 1; }));
  std::this_thread::sleep_for(50ms);
  const auto events = of_type(session->frames(), "event");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["data"]["n"], 2);
  EXPECT_EQ(of_type(session->frames(), "reset").size(), 0u);
  on_io([&] { session->detach(); return 0; });
}

TEST_F(SeamTest, PositionOfAnotherNodeWhoseEventThisStoreLacksGetsEpochChangedAfterLooking) {
  append("c", 0);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "0123456789ab:999:never-stored");
    return s;
  });
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "reset").size() == 1; }));
  EXPECT_EQ(of_type(session->frames(), "reset")[0]["reason"], "epoch_changed");
  append("c", 1);  // live from the head the subscription was made at
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 1; }));
  EXPECT_EQ(of_type(session->frames(), "event")[0]["data"]["n"], 1);
  on_io([&] { session->detach(); return 0; });
}

TEST_F(PrunedSeamTest, CursorOlderThanRetainedHistoryGetsHistoryPrunedResetThenOnlyNewerEvents) {
  const std::int64_t old_cursor = append("c", 0);
  for (int n = 1; n < 50; ++n) append("c", n);
  store_->prune_now();
  ASSERT_GT(store_->channel_bounds("c").pruned_through, old_cursor);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, store_->epoch() + ":" + std::to_string(old_cursor));
    return s;
  });
  // Published once the reset is out: an event committed before the replay read the head would be
  // covered by the reset's position (the client refetches it), so it would never arrive as an event.
  const bool reset_seen = wait_for([&] { return of_type(session->frames(), "reset").size() == 1; });
  append("c", 50);
  const bool event_seen = wait_for([&] { return of_type(session->frames(), "event").size() == 1; });
  if (!reset_seen || !event_seen) on_io([&] { session->detach(); return 0; });  // no crash at teardown
  ASSERT_TRUE(reset_seen);
  ASSERT_TRUE(event_seen);
  std::this_thread::sleep_for(50ms);
  const auto frames = session->frames();
  ASSERT_EQ(of_type(frames, "reset").size(), 1u);
  EXPECT_EQ(of_type(frames, "reset")[0]["reason"], "history_pruned");
  // After a reset the client refetches its state; it must not then get stale history, only what is new.
  ASSERT_EQ(of_type(frames, "event").size(), 1u);
  EXPECT_EQ(of_type(frames, "event")[0]["data"]["n"], 50);
  on_io([&] { session->detach(); return 0; });
}

TEST_F(SeamTest, GarbagePositionGetsBadPositionReset) {
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "not-a-position");
    return s;
  });
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "reset").size() == 1; }));
  EXPECT_EQ(of_type(session->frames(), "reset")[0]["reason"], "bad_position");
  on_io([&] { session->detach(); return 0; });
}

TEST_F(SeamTest, ClientThatStopsReadingIsEvictedWithoutDelayingOthers) {
  context_->limits.queue_max_frames = 8;
  auto [slow, healthy] = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_, /*hold_writes=*/true);
    auto h = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "");
    h->subscribe_from({"c"}, "");
    return std::make_pair(s, h);
  });
  // The healthy client takes each event before the next is published: on a loaded machine the I/O thread
  // may lag the publisher by more than 8 events, and then any client's queue would overflow, not only the
  // one that stopped reading.
  for (int n = 0; n < 50; ++n) {
    append("c", n);
    ASSERT_TRUE(wait_for([&] { return of_type(healthy->frames(), "event").size() == static_cast<std::size_t>(n + 1); }))
        << "the healthy client did not get event " << n;
  }
  EXPECT_TRUE(slow->evicted());
  EXPECT_EQ(stats_.evicted_slow.load(), 1u);
  on_io([&] { slow->detach(); healthy->detach(); return 0; });
}

}  // namespace kabar::seam_test
