// Replay under faults, with the real store, hub and replay reader (seam_fixture.h): retention running
// during a replay, an SQLite error while reading history, a client that does not read while large
// events are replayed.
#include "seam_fixture.h"

namespace kabar::seam_test {
namespace {

std::int64_t seq_of(const nlohmann::json& frame) {
  const std::string position = frame["position"];
  return std::stoll(position.substr(position.find(':') + 1));
}

std::vector<int> numbers(const std::vector<nlohmann::json>& events) {
  std::vector<int> out;
  for (const auto& event : events) out.push_back(event["data"]["n"].get<int>());
  return out;
}

// The race that PrunedSeamTest.CursorOlderThanRetainedHistory... (gateway_seam_test.cpp) avoids, made
// deterministic (the seam test publishes after the reset since ddcfe2e): an event of the channel is
// committed while the first page is read, so its live frame is dropped (the channel is catching up) and
// the reset's position covers it. The catch-up must then end. It used to read empty pages back to back,
// a replay thread and the shard busy, because the dropped seq stayed above a cursor that pages after
// the reset's floor never move.
TEST_F(PrunedSeamTest, FrameDroppedBeforeTheResetDoesNotKeepTheReplayReading) {
  const std::int64_t old_cursor = append("c", 0);
  for (int n = 1; n < 50; ++n) append("c", n);
  store_->prune_now();
  ASSERT_GT(store_->channel_bounds("c").pruned_through, old_cursor);
  std::atomic<int> reads{0};
  std::atomic<std::int64_t> covered_seq{0};
  replay_->before_read_for_tests = [&](const std::vector<ChannelCursor>&) {
    if (reads.fetch_add(1) == 0) covered_seq = append("c", 50);  // committed before the page reads the head
  };
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, store_->epoch() + ":" + std::to_string(old_cursor));
    return s;
  });
  const bool reset_seen = wait_for([&] { return of_type(session->frames(), "reset").size() == 1; });
  std::this_thread::sleep_for(300ms);  // a spinning catch-up reads hundreds of pages meanwhile
  const int settled = reads.load();
  std::this_thread::sleep_for(300ms);
  const int later = reads.load();
  append("c", 51);
  const bool event_seen = wait_for([&] { return of_type(session->frames(), "event").size() == 1; });
  on_io([&] { session->detach(); return 0; });
  ASSERT_TRUE(reset_seen);
  EXPECT_EQ(later, settled) << "the catch-up kept reading pages after the reset";
  EXPECT_LE(settled, 2) << "page reads for one short catch-up";
  const auto reset = of_type(session->frames(), "reset")[0];
  EXPECT_EQ(reset["reason"], "history_pruned");
  EXPECT_GE(seq_of(reset), covered_seq.load())
      << "the reset covers the event committed during the read";
  ASSERT_TRUE(event_seen);
  const auto events = of_type(session->frames(), "event");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["data"]["n"], 51);
}

// since=earliest: whatever is retained when the replay starts is what was asked for, but a retention
// pass that removes events after the replay's cursor while it runs is a gap like any other. It used to
// go unchecked for every page of an "earliest" replay: the client silently missed 37..89.
TEST_F(PrunedSeamTest, RetentionDuringAnEarliestReplayGetsAResetNotASilentGap) {
  for (int n = 0; n < 100; ++n) append("c", n);  // keeps 10 once pruned; retention has not run yet
  std::atomic<int> reads{0};
  replay_->before_read_for_tests = [&](const std::vector<ChannelCursor>&) {
    if (reads.fetch_add(1) == 1) store_->prune_now();  // between the first page (37 events) and the second
  };
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "earliest");
    return s;
  });
  // Either the reset, or (the defect) the 10 retained events right after the first page.
  const bool settled = wait_for([&] {
    return of_type(session->frames(), "reset").size() == 1 || of_type(session->frames(), "event").size() >= 47;
  });
  std::this_thread::sleep_for(100ms);
  append("c", 100);
  const bool live_seen = wait_for([&] {
    const auto events = of_type(session->frames(), "event");
    return !events.empty() && events.back()["data"]["n"] == 100;
  });
  on_io([&] { session->detach(); return 0; });
  ASSERT_TRUE(settled);
  ASSERT_TRUE(live_seen);
  const auto frames = session->frames();
  std::vector<int> before_reset;
  std::vector<int> after_reset;
  bool reset_seen = false;
  for (const auto& frame : frames) {
    if (frame["type"] == "reset") {
      EXPECT_EQ(frame["reason"], "history_pruned");
      reset_seen = true;
    } else if (frame["type"] == "event") {
      (reset_seen ? after_reset : before_reset).push_back(frame["data"]["n"].get<int>());
    }
  }
  std::vector<int> first_page(37);
  for (int n = 0; n < 37; ++n) first_page[n] = n;
  EXPECT_EQ(before_reset, first_page) << "the events before the gap, and nothing after it without a reset";
  EXPECT_TRUE(reset_seen) << "events 37..89 were pruned during the replay: the client must be told";
  EXPECT_EQ(after_reset, std::vector<int>{100});
}

// What was pruned before the replay started is not a gap for "earliest": no reset, exactly the rest.
TEST_F(PrunedSeamTest, EarliestAfterRetentionReplaysWhatIsRetainedWithoutAReset) {
  for (int n = 0; n < 100; ++n) append("other", n);
  for (int n = 0; n < 100; ++n) append("c", n);
  store_->prune_now();
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c", "other"}, "earliest");  // one cursor over two channels, as on /sse
    return s;
  });
  ASSERT_TRUE(wait_for([&] { return of_type(session->frames(), "event").size() >= 20; }));
  std::this_thread::sleep_for(100ms);
  on_io([&] { session->detach(); return 0; });
  const auto frames = session->frames();
  EXPECT_TRUE(of_type(frames, "reset").empty());
  std::vector<int> expected;
  for (int n = 90; n < 100; ++n) expected.push_back(n);
  for (int n = 90; n < 100; ++n) expected.push_back(n);
  EXPECT_EQ(numbers(of_type(frames, "event")), expected);
}

// An SQLite error while reading history (fd exhaustion, an I/O error, a corrupt page: here the reader
// throws the StoreError ReaderPool throws for them) used to escape into the replay thread pool and end
// the process. It must close that session with a clear error, be counted, and leave everyone else served.
TEST_F(SeamTest, ReadErrorDuringReplayClosesThatSessionAndNothingElse) {
  for (int n = 0; n < 10; ++n) append("c", n);
  std::atomic<bool> failing{true};
  replay_->before_read_for_tests = [&](const std::vector<ChannelCursor>&) {
    if (failing) throw StoreError("reading the event store 'kabar.db' failed: disk I/O error");
  };
  auto [broken, healthy] = on_io([&] {
    auto b = std::make_shared<RecordingSession>(*context_);
    auto h = std::make_shared<RecordingSession>(*context_);
    h->subscribe_from({"c"}, "");
    b->subscribe_from({"c"}, "earliest");
    return std::make_pair(b, h);
  });
  const bool closed = wait_for([&] { return broken->closed(); });
  failing = false;
  append("c", 10);
  const bool healthy_served = wait_for([&] { return of_type(healthy->frames(), "event").size() == 1; });
  auto later = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_);
    s->subscribe_from({"c"}, "earliest");
    return s;
  });
  const bool later_served = wait_for([&] { return of_type(later->frames(), "event").size() == 11; });
  on_io([&] { broken->detach(); healthy->detach(); later->detach(); return 0; });
  ASSERT_TRUE(closed) << "the session whose replay failed was not closed";
  const auto errors = of_type(broken->frames(), "error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["code"], "replay_failed");
  EXPECT_EQ(errors[0]["channel"], "c");
  EXPECT_TRUE(of_type(broken->frames(), "event").empty());
  EXPECT_EQ(stats_.replay_failures.load(), 1u);
  EXPECT_TRUE(healthy_served) << "a live subscriber of the same channel stopped getting events";
  EXPECT_FALSE(healthy->closed());
  EXPECT_TRUE(later_served) << "replay did not work again once the store could be read";
}

// A replay page is bounded in bytes as well as in frames: a client that does not read holds at most the
// send queue's byte bound however large the events (pages used to be 37 events here, ~600 KB).
TEST_F(SeamTest, ReplayOfLargeEventsStaysWithinTheQueueByteBound) {
  context_->limits.queue_max_bytes = 64 * 1024;
  for (int n = 0; n < 30; ++n) append("c", n, 16 * 1024);
  auto session = on_io([&] {
    auto s = std::make_shared<RecordingSession>(*context_, /*hold_writes=*/true);
    s->subscribe_from({"c"}, "earliest");
    return s;
  });
  ASSERT_TRUE(wait_for([&] { return stats_.replayed_events.load() > 0; }));
  std::this_thread::sleep_for(300ms);  // let the replay read whatever it would read
  const std::size_t queued = on_io([&] { return session->queued_bytes(); });
  const bool evicted = session->evicted();
  on_io([&] { session->detach(); return 0; });
  EXPECT_LE(queued, context_->limits.queue_max_bytes);
  EXPECT_FALSE(evicted) << "replay itself must not look like a slow consumer";
}

}  // namespace
}  // namespace kabar::seam_test
