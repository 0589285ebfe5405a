// The replay seam, tested with the real store, hub and replay reader and a session whose transport
// just records what it would send: while events keep being committed, a client that subscribes from a
// position gets every later event of its channel exactly once, in order.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "gateway/http/stream_session.h"

namespace kabar {
namespace {
using namespace std::chrono_literals;

class RecordingSession : public StreamSession {
 public:
  RecordingSession(ServerContext& context, bool hold_writes = false, std::size_t items_per_write = 1)
      : StreamSession(context, 0), hold_writes_(hold_writes), items_per_write_(items_per_write) {}

  void subscribe_from(const std::vector<std::string>& channels, const std::string& since) {
    subscribe(channels, StartPoint::parse(since), true);
  }
  void heartbeat() override {}
  void shutdown() override {}
  using StreamSession::detach;

  std::vector<nlohmann::json> frames() {
    std::lock_guard lock(mutex_);
    return frames_;
  }
  bool evicted() const { return evicted_; }

 private:
  const std::string& frame_payload(const Frame& frame) const override { return frame.json; }
  std::string control_payload(const std::string& json, const std::string&) const override { return json; }
  void start_write(const std::vector<boost::asio::const_buffer>& payloads) override {
    {
      std::lock_guard lock(mutex_);
      for (const auto& payload : payloads) {
        frames_.push_back(nlohmann::json::parse(std::string_view(static_cast<const char*>(payload.data()), payload.size())));
      }
    }
    if (hold_writes_) return;  // a client that never reads: the write never completes
    boost::asio::post(context_.hub.shard_context(0), [self = shared_from_this(), this] {
      on_write_complete({});
    });
  }
  std::size_t max_items_per_write() const override { return items_per_write_; }
  void close_slow_consumer() override { evicted_ = true; }
  void close_now() override {}

  bool hold_writes_;
  std::size_t items_per_write_;
  std::atomic<bool> evicted_{false};
  std::mutex mutex_;
  std::vector<nlohmann::json> frames_;
};

class SeamTest : public ::testing::Test {
 protected:
  void SetUp() override { open_store(0); }

  void open_store(std::size_t keep_per_channel) {
    dir_ = std::filesystem::temp_directory_path() /
           ("kabar-seam-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    StoreOptions options;
    options.data_dir = dir_;
    options.retention_max_per_channel = keep_per_channel;
    options.retention_max_age = 0s;
    store_ = std::make_unique<EventStore>(options);
    hub_ = std::make_unique<Hub>(std::vector<boost::asio::io_context*>{&io_}, store_->epoch());
    replay_ = std::make_unique<ReplayReader>(*store_, 1);
    SessionLimits limits;
    limits.replay_page = 37;  // small pages: many seams inside one catch-up
    context_ = std::make_unique<ServerContext>(*hub_, *replay_, *store_, limits, stats_);
    context_->sessions_by_shard.resize(1);
    store_->set_commit_listener([this](const std::vector<StoredEvent>& batch) { hub_->publish(batch); });
    io_thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }

  void TearDown() override {
    io_.stop();
    io_thread_.join();
    replay_->stop();
    store_->close();
    std::filesystem::remove_all(dir_);
  }

  std::int64_t append(const std::string& channel, int n) {
    Envelope envelope;
    envelope.id = channel + "-" + std::to_string(n);
    envelope.event = "test.event";
    envelope.channel = channel;
    envelope.data = "{\"n\":" + std::to_string(n) + "}";
    envelope.time_ms = 1;
    return store_->append(envelope).seq;
  }

  template <class F>
  auto on_io(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }

  static std::vector<nlohmann::json> of_type(const std::vector<nlohmann::json>& frames, const std::string& type) {
    std::vector<nlohmann::json> out;
    for (const auto& frame : frames) {
      if (frame["type"] == type) out.push_back(frame);
    }
    return out;
  }

  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  std::filesystem::path dir_;
  boost::asio::io_context io_;
  std::thread io_thread_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<ReplayReader> replay_;
  GatewayStats stats_;
  std::unique_ptr<ServerContext> context_;

  void expect_exact_seam_while_publishing(std::size_t items_per_write);
};

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

class PrunedSeamTest : public SeamTest {
 protected:
  void SetUp() override { open_store(10); }
};

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

}  // namespace
}  // namespace kabar
