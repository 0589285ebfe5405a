// Hub (gateway/hub/hub.h): frames first, writes after. Subscribers get every frame of the batches the
// shard has waiting, then one on_batch_end() each; they may leave from inside either call.
#include "gateway/hub/hub.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <functional>
#include <string>
#include <vector>

namespace kabar {
namespace {

StoredEvent event(std::int64_t seq, const std::string& channel, const std::string& topic = {}) {
  StoredEvent stored;
  stored.envelope.topic = topic;
  stored.seq = seq;
  stored.envelope.id = "e" + std::to_string(seq);
  stored.envelope.event = "x";
  stored.envelope.channel = channel;
  stored.envelope.data = "{}";
  return stored;
}

// Records what the hub calls, in order ("f<seq>" for a frame, "end" for on_batch_end).
struct Recorder : Subscriber {
  std::vector<std::string> calls;
  std::function<void()> on_frame_hook, on_end_hook;
  void on_frame(const FramePtr& frame) override {
    calls.push_back("f" + std::to_string(frame->seq));
    if (on_frame_hook) on_frame_hook();
  }
  void on_batch_end() override {
    calls.push_back("end");
    if (on_end_hook) on_end_hook();
  }
};

class HubTest : public ::testing::Test {
 protected:
  boost::asio::io_context io_;
  Hub hub_{{&io_}, "epoch0"};
};

TEST_F(HubTest, BatchesWaitingOnTheShardAreWrittenAfterTheLastOfThem) {
  Recorder a;
  hub_.subscribe(0, "c", &a);
  hub_.publish({event(1, "c"), event(2, "c")});
  hub_.publish({event(3, "c")});
  io_.run();
  EXPECT_EQ(a.calls, (std::vector<std::string>{"f1", "f2", "f3", "end"}));
}

TEST_F(HubTest, ALoneEventIsWrittenAtOnce) {
  Recorder a;
  hub_.subscribe(0, "c", &a);
  hub_.publish({event(1, "c")});
  io_.run();
  io_.restart();
  hub_.publish({event(2, "c")});
  io_.run();
  EXPECT_EQ(a.calls, (std::vector<std::string>{"f1", "end", "f2", "end"}));
}

TEST_F(HubTest, OnlySubscribersOfChannelsWithFramesAreFlushed) {
  Recorder a, b;
  hub_.subscribe(0, "c", &a);
  hub_.subscribe(0, "other", &b);
  hub_.publish({event(1, "c")});
  io_.run();
  EXPECT_EQ(a.calls, (std::vector<std::string>{"f1", "end"}));
  EXPECT_TRUE(b.calls.empty());
}

TEST_F(HubTest, ASubscriberMayLeaveFromInsideOnFrameWithoutHurtingTheOthers) {
  Recorder a, b, c;
  for (Recorder* r : {&a, &b, &c}) hub_.subscribe(0, "ch", r);
  b.on_frame_hook = [&] { hub_.unsubscribe(0, "ch", &b); };
  hub_.publish({event(1, "ch"), event(2, "ch")});
  io_.run();
  EXPECT_EQ(a.calls, (std::vector<std::string>{"f1", "f2", "end"}));
  EXPECT_EQ(b.calls, (std::vector<std::string>{"f1"}));
  EXPECT_EQ(c.calls, (std::vector<std::string>{"f1", "f2", "end"}));
  EXPECT_EQ(hub_.subscriber_count(0, "ch"), 2u);
}

TEST_F(HubTest, ASubscriberMayLeaveFromInsideOnBatchEnd) {
  Recorder a, b;
  hub_.subscribe(0, "ch", &a);
  hub_.subscribe(0, "ch", &b);
  a.on_end_hook = [&] { hub_.unsubscribe(0, "ch", &a); };
  hub_.publish({event(1, "ch")});
  io_.run();
  EXPECT_EQ(b.calls, (std::vector<std::string>{"f1", "end"}));
  EXPECT_EQ(hub_.subscriber_count(0, "ch"), 1u);
  io_.restart();
  hub_.publish({event(2, "ch")});
  io_.run();
  EXPECT_EQ(a.calls, (std::vector<std::string>{"f1", "end"}));
  EXPECT_EQ(b.calls, (std::vector<std::string>{"f1", "end", "f2", "end"}));
}

// The operator's page: every channel of a shard with its subscribers, not counting one that left mid-batch.
TEST_F(HubTest, ChannelSubscribersListsEveryChannelWithItsCount) {
  Recorder a, b, c;
  hub_.subscribe(0, "one", &a);
  hub_.subscribe(0, "two", &a);
  hub_.subscribe(0, "two", &b);
  hub_.subscribe(0, "two", &c);
  b.on_frame_hook = [&] {
    hub_.unsubscribe(0, "two", &b);
    auto listed = hub_.channel_subscribers(0);  // a hole in the list while the batch is handed out
    std::sort(listed.begin(), listed.end());
    EXPECT_EQ(listed, (std::vector<std::pair<std::string, std::size_t>>{{"one", 1}, {"two", 2}}));
  };
  hub_.publish({event(1, "two")});
  io_.run();
  auto listed = hub_.channel_subscribers(0);
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed, (std::vector<std::pair<std::string, std::size_t>>{{"one", 1}, {"two", 2}}));
}

TEST_F(HubTest, TheLastSubscriberLeavingDuringDeliveryRemovesTheChannel) {
  Recorder a;
  hub_.subscribe(0, "ch", &a);
  a.on_frame_hook = [&] { hub_.unsubscribe(0, "ch", &a); };
  hub_.publish({event(1, "ch"), event(2, "ch")});
  io_.run();
  EXPECT_EQ(a.calls, (std::vector<std::string>{"f1"}));
  EXPECT_EQ(hub_.subscriber_count(0, "ch"), 0u);
}

TEST_F(HubTest, OneWhoJoinsDuringDeliveryGetsTheNextFrameNotTheCurrentOne) {
  Recorder a, late;
  hub_.subscribe(0, "ch", &a);
  a.on_frame_hook = [&] {
    hub_.subscribe(0, "ch", &late);
    a.on_frame_hook = nullptr;
  };
  hub_.publish({event(1, "ch"), event(2, "ch")});
  io_.run();
  EXPECT_EQ(a.calls, (std::vector<std::string>{"f1", "f2", "end"}));
  EXPECT_EQ(late.calls, (std::vector<std::string>{"f2", "end"}));
}

// Topic subscriptions: every frame whose topic matches the filter, whatever its channel; frames without
// a topic (not from MQTT) match nothing; a frame reaches a subscriber of its channel and of a matching
// filter twice (the session drops the second by seq), and the channel is flushed.
TEST_F(HubTest, TopicSubscribersGetEveryFrameWhoseTopicMatches) {
  Recorder a;
  hub_.subscribe_topic(0, "cabang/+/omset", &a);
  hub_.publish({event(1, "private-cabang.1", "cabang/1/omset"), event(2, "private-cabang.1.admin", "cabang/1/transaksi"),
                event(3, "private-cabang.9", "cabang/9/omset"), event(4, "private-cabang.9")});
  io_.run();
  EXPECT_EQ(a.calls, (std::vector<std::string>{"f1", "f3"}));  // no end: it holds no channel of them

  Recorder b;
  hub_.subscribe(0, "private-cabang.1", &b);
  hub_.subscribe(0, "private-cabang.1", &a);
  io_.restart();
  hub_.publish({event(5, "private-cabang.1", "cabang/1/omset")});
  io_.run();
  EXPECT_EQ(a.calls, (std::vector<std::string>{"f1", "f3", "f5", "f5", "end"}));
  EXPECT_EQ(b.calls, (std::vector<std::string>{"f5", "end"}));

  hub_.unsubscribe_topic(0, "cabang/+/omset", &a);
  hub_.unsubscribe(0, "private-cabang.1", &a);
  io_.restart();
  hub_.publish({event(6, "private-cabang.1", "cabang/1/omset")});
  io_.run();
  EXPECT_EQ(a.calls.size(), 5u);
}

TEST_F(HubTest, ATopicSubscriberMayLeaveFromInsideOnFrame) {
  Recorder a;
  Recorder b;
  a.on_frame_hook = [&] { hub_.unsubscribe_topic(0, "#", &a); };
  hub_.subscribe_topic(0, "#", &a);
  hub_.subscribe_topic(0, "#", &b);
  hub_.publish({event(1, "c", "x/y"), event(2, "c", "x/z")});
  io_.run();
  EXPECT_EQ(a.calls, (std::vector<std::string>{"f1"}));
  EXPECT_EQ(b.calls, (std::vector<std::string>{"f1", "f2"}));
}

}  // namespace
}  // namespace kabar
