// since=latest on a stream (StreamSession) and in the replay reader, with the real store, hub and
// replay reader (seam_fixture.h): the newest stored event of each channel as of the subscription, then
// every later event once, through the same seam as any replay.
#include "seam_fixture.h"

namespace kabar::seam_test {
namespace {

std::vector<int> numbers(const std::vector<nlohmann::json>& events) {
  std::vector<int> out;
  for (const auto& event : events) out.push_back(event["data"]["n"].get<int>());
  return out;
}

TEST(StartPointParse, ReadsEveryFormAClientMaySend) {
  EXPECT_EQ(StartPoint::parse("").kind, StartPoint::Kind::Live);
  EXPECT_EQ(StartPoint::parse("earliest").kind, StartPoint::Kind::Earliest);
  EXPECT_EQ(StartPoint::parse("latest").kind, StartPoint::Kind::Latest);
  const StartPoint after = StartPoint::parse("3f9a2c41d0b7:1042");
  EXPECT_EQ(after.kind, StartPoint::Kind::After);
  EXPECT_EQ(after.after, (Position{"3f9a2c41d0b7", 1042}));
  for (const char* garbage : {"Latest", "latest ", "newest", "3f9a:-1", "latest:"}) {
    EXPECT_EQ(StartPoint::parse(garbage).kind, StartPoint::Kind::BadPosition) << garbage;
  }
}

TEST_F(SeamTest, LatestDeliversTheNewestEventThenLiveEvents) {
  for (int n = 0; n < 100; ++n) append(n % 2 ? "c" : "other", n);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "latest");
    return s;
  });
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 1; }));
  append("c", 100);
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 2; }));
  std::this_thread::sleep_for(50ms);  // anything extra would show up now
  on_io([&] {
    session->detach();
    return 0;
  });
  EXPECT_EQ(numbers(of_type(session->frames(), "event")), (std::vector<int>{99, 100}));
  EXPECT_TRUE(of_type(session->frames(), "reset").empty());
}

TEST_F(SeamTest, LatestOnAnEmptyChannelSendsNothingAndNoResetThenLiveEvents) {
  append("other", 0);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"empty"}, "latest");
    return s;
  });
  std::this_thread::sleep_for(100ms);
  append("empty", 1);
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 1; }));
  std::this_thread::sleep_for(50ms);
  on_io([&] {
    session->detach();
    return 0;
  });
  EXPECT_EQ(session->frames().size(), 1u) << "no reset, no other frame";
  EXPECT_EQ(numbers(of_type(session->frames(), "event")), std::vector<int>{1});
}

TEST_F(SeamTest, LatestOverSeveralChannelsSendsTheNewestOfEachInPositionOrder) {
  append("b", 0);
  append("a", 1);
  append("a", 2);
  append("b", 3);
  append("other", 4);
  append("a", 5);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"a", "b", "never"}, "latest");
    return s;
  });
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 2; }));
  append("b", 6);
  append("a", 7);
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() == 4; }));
  std::this_thread::sleep_for(50ms);
  on_io([&] {
    session->detach();
    return 0;
  });
  EXPECT_EQ(session->frames().size(), 4u) << "no reset, no other frame";
  EXPECT_EQ(numbers(of_type(session->frames(), "event")), (std::vector<int>{3, 5, 6, 7}));
}

// The seam: events committed while the subscription is made and its first page is read arrive once,
// in order, right after the newest event as of the subscription; nothing older than that one comes.
TEST_F(SeamTest, LatestWhileEventsFlowHasNoGapAndNoDuplicateAtTheSeam) {
  for (int n = 0; n < 200; ++n) append("c", n);
  std::atomic<bool> started{false};
  std::thread publisher([&] {
    for (int n = 200; n < 1500; ++n) {
      append(n % 3 == 0 ? "other" : "c", n);
      if (n == 300) started = true;
    }
  });
  while (!started) std::this_thread::sleep_for(1ms);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "latest");
    return s;
  });
  publisher.join();
  ASSERT_TRUE(wait_for([&] {
    const auto events = of_type(session->frames(), "event");
    return !events.empty() && events.back()["data"]["n"] == 1499;
  }));
  std::this_thread::sleep_for(50ms);
  on_io([&] {
    session->detach();
    return 0;
  });
  const std::vector<int> got = numbers(of_type(session->frames(), "event"));
  ASSERT_FALSE(got.empty());
  EXPECT_GE(got.front(), 299) << "the newest event at the subscription, which came after 300 was stored";
  std::vector<int> expected;
  for (int n = got.front(); n < 1500; ++n) {
    if (n % 3 != 0) expected.push_back(n);
  }
  EXPECT_EQ(got, expected) << "from the newest event on: every event of the channel once, in order";
  EXPECT_TRUE(of_type(session->frames(), "reset").empty());
}

// The reader resolves a latest cursor against the head it is given, not its own (newer) one: starting
// just before an event committed after the subscription's head would skip the events in between.
TEST_F(SeamTest, ReaderResolvesLatestAgainstTheGivenHeadAndSaysWhereItStarted) {
  append("c", 0);
  const std::int64_t newest = append("c", 1);
  append("other", 2);
  const std::int64_t head = store_->head_seq();
  const std::int64_t after_head = append("c", 3);
  append("c", 4);
  const ReplayPage page = replay_->read_page_now(
      {ChannelCursor{"c", head, true, /*latest=*/true}, ChannelCursor{"empty", head, true, /*latest=*/true}},
      PageLimit{});
  ASSERT_TRUE(page.error.empty()) << page.error;
  std::vector<std::int64_t> seqs;
  for (const auto& event : page.events) seqs.push_back(event.seq);
  EXPECT_EQ(seqs, (std::vector<std::int64_t>{newest, after_head, after_head + 1}));
  ASSERT_EQ(page.starts.size(), 2u);
  EXPECT_EQ(page.starts[0].channel, "c");
  EXPECT_EQ(page.starts[0].after, newest - 1);
  EXPECT_EQ(page.starts[1].channel, "empty");
  EXPECT_EQ(page.starts[1].after, head) << "an empty channel starts at the head, without a reset";
  EXPECT_TRUE(page.pruned.empty());
  EXPECT_FALSE(page.full);
  EXPECT_EQ(page.through, after_head + 1);
}

// A page of a shared cursor cut by its limit goes on after the last event it read, even when that event
// belonged to a pruned channel and was left out (/api/history's `position` relies on it).
TEST_F(PrunedSeamTest, PageThroughCountsEventsOfPrunedChannelsLeftOut) {
  const std::int64_t old = append("p", 0);
  for (int n = 1; n < 30; ++n) append("p", n);  // keeps 10 once pruned
  store_->prune_now();
  const ReplayPage page =
      replay_->read_page_now({ChannelCursor{"p", old, true}, ChannelCursor{"q", old, true}}, PageLimit{5});
  EXPECT_EQ(page.pruned, std::vector<std::string>{"p"});
  EXPECT_TRUE(page.events.empty());
  EXPECT_TRUE(page.full);
  EXPECT_GT(page.through, old);
}

}  // namespace
}  // namespace kabar::seam_test
