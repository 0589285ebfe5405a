// Replay under faults, with the real store, hub and replay reader (seam_fixture.h).
#include "seam_fixture.h"

namespace kabar::seam_test {
namespace {

std::int64_t seq_of(const nlohmann::json& frame) {
  const std::string position = frame["position"];
  return std::stoll(position.substr(position.find(':') + 1));
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

}  // namespace
}  // namespace kabar::seam_test
