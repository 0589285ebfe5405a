// Retention: by count per channel and by age, bounded steps, pruned_through bookkeeping, and seq that is
// never reused. Age is made deterministic by back-dating stored_ms through a second connection.
#include <SQLiteCpp/Database.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <future>
#include <random>
#include <thread>

#include "gateway/store/event_store.h"

namespace kabar {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("kabar-store-retention-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) +
             "-" + std::to_string(std::random_device{}()));
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Envelope make_event(const std::string& id, const std::string& channel) {
  Envelope envelope;
  envelope.id = id;
  envelope.event = "test.happened";
  envelope.channel = channel;
  envelope.data = "{}";
  return envelope;
}

std::vector<std::int64_t> seqs_of(const std::vector<StoredEvent>& events) {
  std::vector<std::int64_t> seqs;
  for (const auto& event : events) seqs.push_back(event.seq);
  return seqs;
}

class RetentionTest : public ::testing::Test {
 protected:
  StoreOptions options() const {
    StoreOptions options;
    options.data_dir = dir_.path();
    options.retention_interval = 0ms;  // only prune_now(), unless a test says otherwise
    options.retention_max_age = 0s;
    options.retention_max_per_channel = 0;
    return options;
  }

  // Appends `count` events to `channel` and returns their seqs.
  static std::vector<std::int64_t> append(EventStore& store, const std::string& channel, int count) {
    std::vector<std::future<AppendResult>> pending;
    for (int i = 0; i < count; ++i)
      pending.push_back(store.append_async(make_event(channel + "-" + std::to_string(i), channel)));
    std::vector<std::int64_t> seqs;
    for (auto& result : pending) seqs.push_back(result.get().seq);
    return seqs;
  }

  // Pretends the events with seq <= through_seq were stored `age` ago.
  void backdate(std::int64_t through_seq, std::chrono::hours age) {
    SQLite::Database db(dir_.path() / "kabar.db", SQLite::OPEN_READWRITE, 5000);
    SQLite::Statement update(db, "UPDATE events SET stored_ms = stored_ms - ?1 WHERE seq <= ?2");
    update.bind(1, static_cast<std::int64_t>(std::chrono::milliseconds(age).count()));
    update.bind(2, through_seq);
    update.exec();
  }

  TempDir dir_;
};

TEST_F(RetentionTest, KeepsOnlyTheNewestEventsPerChannel) {
  auto opts = options();
  opts.retention_max_per_channel = 3;
  EventStore store(opts);
  const auto a = append(store, "a", 10);
  const auto b = append(store, "b", 2);

  EXPECT_EQ(store.prune_now(), 7u);
  const auto kept = store.read_after({"a", "b"}, 0, 100);
  ASSERT_EQ(kept.size(), 5u);
  EXPECT_EQ(kept[0].seq, a[7]);
  EXPECT_EQ(store.channel_bounds("a").pruned_through, a[6]);
  EXPECT_EQ(store.channel_bounds("a").last_seq, a[9]);
  EXPECT_EQ(store.channel_bounds("b").pruned_through, 0);
  EXPECT_EQ(store.stats().pruned, 7u);
  EXPECT_EQ(store.prune_now(), 0u);  // nothing left to do
}

TEST_F(RetentionTest, AnOldCursorIsDetectableThroughChannelBounds) {
  auto opts = options();
  opts.retention_max_per_channel = 5;
  EventStore store(opts);
  const auto seqs = append(store, "dokumen.42", 20);
  store.prune_now();

  // A client last saw seqs[3]: its next events (seqs[4]...) are gone, and the bounds say so.
  const std::int64_t cursor = seqs[3];
  const auto bounds = store.channel_bounds("dokumen.42");
  EXPECT_GT(bounds.pruned_through, cursor);
  // A client that saw seqs[14] (the newest removed) misses nothing.
  EXPECT_EQ(bounds.pruned_through, seqs[14]);
  const auto replay = store.read_after({"dokumen.42"}, seqs[14], 100);
  ASSERT_EQ(replay.size(), 5u);
  EXPECT_EQ(replay.front().seq, seqs[15]);
}

TEST_F(RetentionTest, RemovesEventsStoredBeforeTheMaximumAge) {
  auto opts = options();
  opts.retention_max_age = 24h;
  std::vector<std::int64_t> a, b;
  {
    EventStore store(opts);
    a = append(store, "a", 4);
    b = append(store, "b", 4);
  }
  backdate(b[1], 48h);  // all of a and the first two of b are too old
  EventStore store(opts);
  EXPECT_EQ(store.prune_now(), 6u);
  EXPECT_TRUE(store.read_after({"a"}, 0, 100).empty());
  EXPECT_EQ(store.read_after({"b"}, 0, 100).size(), 2u);
  EXPECT_EQ(store.channel_bounds("a").pruned_through, a.back());
  EXPECT_EQ(store.channel_bounds("a").last_seq, a.back());  // still known, though nothing is held
  EXPECT_EQ(store.channel_bounds("b").pruned_through, b[1]);
}

TEST_F(RetentionTest, SeqIsNeverReusedAfterEverythingWasPruned) {
  auto opts = options();
  opts.retention_max_age = 1h;
  std::int64_t last = 0;
  {
    EventStore store(opts);
    last = append(store, "a", 5).back();
  }
  backdate(last, 2h);
  {
    EventStore store(opts);
    EXPECT_EQ(store.prune_now(), 5u);
    EXPECT_EQ(store.head_seq(), last);
  }
  EventStore store(opts);  // the log is empty now, but the counter is kept in meta
  EXPECT_EQ(store.head_seq(), last);
  EXPECT_GT(store.append(make_event("new", "a")).seq, last);
}

TEST_F(RetentionTest, LargeBacklogIsRemovedInBoundedStepsWhileAppendsContinue) {
  auto opts = options();
  opts.retention_max_per_channel = 1000;
  EventStore store(opts);
  append(store, "big", 5000);
  std::atomic<bool> pruning{true};
  std::vector<std::int64_t> during;  // appends answered while the pass runs (it takes several steps)
  std::thread appender([&] {
    for (int i = 0; pruning && i < 900; ++i) {
      during.push_back(store.append(make_event("during-" + std::to_string(i), "small")).seq);
    }
  });
  EXPECT_EQ(store.prune_now(), 4000u);
  pruning = false;
  appender.join();
  EXPECT_EQ(store.read_after({"big"}, 0, 10000).size(), 1000u);
  EXPECT_EQ(seqs_of(store.read_after({"small"}, 0, 10000)), during);
}

TEST_F(RetentionTest, WriterPrunesPeriodically) {
  auto opts = options();
  opts.retention_max_per_channel = 2;
  opts.retention_interval = 20ms;
  EventStore store(opts);
  append(store, "a", 6);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (store.stats().pruned < 4 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(store.stats().pruned, 4u);
  EXPECT_EQ(store.read_after({"a"}, 0, 100).size(), 2u);
}

TEST_F(RetentionTest, PeriodicRetentionIsNotStarvedBySteadyIngest) {
  auto opts = options();
  opts.retention_max_per_channel = 10;
  opts.retention_interval = 1ms;
  opts.commit_max_batch = 1;  // a long queue becomes many commits with no idle moment between them
  EventStore store(opts);

  // The listener holds the writer on its first commit while a backlog queues up behind it, then
  // notes how much retention has done by the time each later event is committed.
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<bool> first{true};
  std::uint64_t pruned_before_backlog_done = 0;
  store.set_commit_listener([&](const std::vector<StoredEvent>& events) {
    if (first.exchange(false)) released.wait();
    if (events.back().envelope.id != "last") pruned_before_backlog_done = store.stats().pruned;
  });
  std::vector<std::future<AppendResult>> backlog;
  backlog.push_back(store.append_async(make_event("first", "ch")));
  for (int i = 0; i < 2000; ++i)
    backlog.push_back(store.append_async(make_event("backlog-" + std::to_string(i), "ch")));
  backlog.push_back(store.append_async(make_event("last", "ch")));
  release.set_value();
  for (auto& result : backlog) result.get();

  EXPECT_GT(pruned_before_backlog_done, 0u) << "retention must run between commits, not only when idle";
}

TEST_F(RetentionTest, DeadLettersAreCappedByAge) {
  auto opts = options();
  opts.retention_max_age = 1h;
  {
    EventStore store(opts);
    store.record_dead_letter("old", "p", "r");
  }
  {
    SQLite::Database db(dir_.path() / "kabar.db", SQLite::OPEN_READWRITE);
    db.exec("UPDATE dead_letters SET time_ms = time_ms - 7200000");
  }
  EventStore store(opts);
  store.record_dead_letter("new", "p", "r");
  store.prune_now();
  const auto letters = store.dead_letters(10);
  ASSERT_EQ(letters.size(), 1u);
  EXPECT_EQ(letters[0].topic, "new");
}

}  // namespace
}  // namespace kabar
