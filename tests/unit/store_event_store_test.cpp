// EventStore against real SQLite files: order, idempotency, epochs, reopen, replay, group commit,
// concurrent readers, dead letters, close.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "gateway/store/event_store.h"

namespace kabar {
namespace {

namespace fs = std::filesystem;

// A fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("kabar-store-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             std::to_string(std::random_device{}()));
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

Envelope make_event(const std::string& id, const std::string& channel, const std::string& data = "{}") {
  Envelope envelope;
  envelope.id = id;
  envelope.event = "test.happened";
  envelope.channel = channel;
  envelope.data = data;
  envelope.time_ms = 1700000000000;
  return envelope;
}

class EventStoreTest : public ::testing::Test {
 protected:
  StoreOptions options() const {
    StoreOptions options;
    options.data_dir = dir_.path();
    options.retention_interval = std::chrono::milliseconds(0);  // retention only when a test asks
    return options;
  }
  std::unique_ptr<EventStore> open() { return std::make_unique<EventStore>(options()); }

  TempDir dir_;
};

std::vector<std::int64_t> seqs_of(const std::vector<StoredEvent>& events) {
  std::vector<std::int64_t> seqs;
  for (const auto& event : events) seqs.push_back(event.seq);
  return seqs;
}

TEST_F(EventStoreTest, AssignsStrictlyIncreasingSeqAcrossChannels) {
  auto store = open();
  std::int64_t previous = 0;
  for (int i = 0; i < 20; ++i) {
    const auto result = store->append(make_event("e" + std::to_string(i), i % 2 ? "odd" : "even"));
    EXPECT_FALSE(result.duplicate);
    EXPECT_GT(result.seq, previous);
    previous = result.seq;
  }
  EXPECT_EQ(store->head_seq(), previous);
  EXPECT_EQ(store->stats().appended, 20u);
}

TEST_F(EventStoreTest, StoresEveryEnvelopeFieldVerbatim) {
  auto store = open();
  Envelope envelope = make_event("id-1", "private-cabang.3", R"({"omset":12500,"note":"kasir \"3\" — ✓"})");
  envelope.socket_id = "123.456";
  envelope.topic = "cabang/3/omset";
  envelope.time_ms = 1763798400000;
  const auto seq = store->append(envelope).seq;

  const auto events = store->read_after({"private-cabang.3"}, 0, 10);
  ASSERT_EQ(events.size(), 1u);
  const Envelope& stored = events[0].envelope;
  EXPECT_EQ(events[0].seq, seq);
  EXPECT_EQ(stored.id, envelope.id);
  EXPECT_EQ(stored.event, envelope.event);
  EXPECT_EQ(stored.channel, envelope.channel);
  EXPECT_EQ(stored.data, envelope.data);
  EXPECT_EQ(stored.socket_id, envelope.socket_id);
  EXPECT_EQ(stored.time_ms, envelope.time_ms);
  EXPECT_EQ(stored.topic, envelope.topic);
  EXPECT_EQ(stored.app, "");  // no app: stored as NULL, read back as empty
}

TEST_F(EventStoreTest, KeepsTheAppOfAnEvent) {
  auto store = open();
  Envelope tagged = make_event("a-1", "dokumen.1");
  tagged.app = "shop-a";
  store->append(tagged);
  store->append(make_event("all-1", "dokumen.1"));

  const auto events = store->read_after({"dokumen.1"}, 0, 10);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].envelope.app, "shop-a");
  EXPECT_EQ(events[1].envelope.app, "");
  store->close();
  EXPECT_EQ(open()->read_after({"dokumen.1"}, 0, 10)[0].envelope.app, "shop-a");  // durable
}

TEST_F(EventStoreTest, LatestForAnAppSkipsOtherAppsEvents) {
  auto store = open();
  const auto shared = store->append(make_event("all-1", "cache-x")).seq;
  Envelope a = make_event("a-1", "cache-x");
  a.app = "shop-a";
  const auto own = store->append(a).seq;
  Envelope b = make_event("b-1", "cache-x");
  b.app = "shop-b";
  const auto newest = store->append(b).seq;

  EXPECT_EQ(store->latest("cache-x")->seq, newest);  // no app: any event
  EXPECT_EQ(store->latest("cache-x", "shop-b")->seq, newest);
  EXPECT_EQ(store->latest("cache-x", "shop-a")->seq, own);
  EXPECT_EQ(store->latest("cache-x", "shop-c")->seq, shared);
  EXPECT_FALSE(store->latest("elsewhere", "shop-a").has_value());
}

TEST_F(EventStoreTest, SameIdTwiceStoresOneRowAndReturnsTheOriginalSeq) {
  auto store = open();
  std::atomic<int> delivered{0};
  store->set_commit_listener([&](const std::vector<StoredEvent>& events) { delivered += events.size(); });

  const auto first = store->append(make_event("dup", "ch", R"({"v":1})"));
  store->append(make_event("other", "ch"));
  const auto second = store->append(make_event("dup", "ch", R"({"v":2})"));

  EXPECT_FALSE(first.duplicate);
  EXPECT_TRUE(second.duplicate);
  EXPECT_EQ(second.seq, first.seq);
  const auto events = store->read_after({"ch"}, 0, 10);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].envelope.data, R"({"v":1})");  // the first write wins
  EXPECT_EQ(delivered.load(), 2);                    // the duplicate is not delivered again
  EXPECT_EQ(store->stats().duplicates, 1u);
}

TEST_F(EventStoreTest, SameIdTwiceInOneBatchIsStoredOnce) {
  auto store = open();
  std::vector<std::int64_t> delivered;
  store->set_commit_listener([&](const std::vector<StoredEvent>& events) {
    for (const auto& event : events) delivered.push_back(event.seq);
  });
  std::vector<std::future<AppendResult>> results;
  for (int i = 0; i < 50; ++i) results.push_back(store->append_async(make_event("same", "ch")));
  const auto original = results[0].get();
  EXPECT_FALSE(original.duplicate);
  for (std::size_t i = 1; i < results.size(); ++i) {
    const auto answer = results[i].get();
    EXPECT_TRUE(answer.duplicate);
    EXPECT_EQ(answer.seq, original.seq);
  }
  store->close();  // the listener has run for everything committed
  EXPECT_EQ(delivered, std::vector<std::int64_t>{original.seq});
  EXPECT_EQ(store->read_after({"ch"}, 0, 100).size(), 1u);
}

TEST_F(EventStoreTest, DuplicateIsRecognisedAfterReopen) {
  std::int64_t seq = 0;
  {
    auto store = open();
    seq = store->append(make_event("persisted", "ch")).seq;
  }
  auto store = open();
  const auto again = store->append(make_event("persisted", "ch"));
  EXPECT_TRUE(again.duplicate);
  EXPECT_EQ(again.seq, seq);
}

Envelope derived(const std::string& id, const std::string& channel, bool redelivery = false) {
  Envelope envelope = make_event(id, channel);
  envelope.derived_id = true;
  envelope.redelivery = redelivery;
  return envelope;
}

// A message without an id, published again, is another event: "<id>.<n>" with n counting the stored ones,
// so two nodes that stored the same messages name them alike. A broker redelivery of one stored moments
// ago is the same event.
TEST_F(EventStoreTest, RepeatsOfAMessageWithoutAnIdAreNewEventsButARedeliveryIsNot) {
  auto store = open();
  const auto first = store->append(derived("hAAA", "c"));
  const auto other = store->append(derived("hBBB", "c"));
  const auto again = store->append(derived("hAAA", "c"));
  const auto third = store->append(derived("hAAA", "c"));
  EXPECT_FALSE(first.duplicate);
  EXPECT_FALSE(other.duplicate);
  EXPECT_FALSE(again.duplicate);
  EXPECT_FALSE(third.duplicate);
  const auto redelivered = store->append(derived("hAAA", "c", /*redelivery=*/true));
  EXPECT_TRUE(redelivered.duplicate);
  const auto events = store->read_after({"c"}, 0, 10);
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].envelope.id, "hAAA");
  EXPECT_EQ(events[1].envelope.id, "hBBB");
  EXPECT_EQ(events[2].envelope.id, "hAAA.1");
  EXPECT_EQ(events[3].envelope.id, "hAAA.2");
  // A publisher's id stays an idempotency key.
  EXPECT_TRUE(store->append(make_event("hBBB", "c")).duplicate);
  // The same in one batch.
  std::vector<std::future<AppendResult>> batch;
  for (int i = 0; i < 3; ++i) batch.push_back(store->append_async(derived("hCCC", "d")));
  for (auto& result : batch) EXPECT_FALSE(result.get().duplicate);
  std::vector<std::string> ids;
  for (const auto& event : store->read_after({"d"}, 0, 10)) ids.push_back(event.envelope.id);
  EXPECT_EQ(ids, (std::vector<std::string>{"hCCC", "hCCC.1", "hCCC.2"}));
}

TEST_F(EventStoreTest, PositionsCarryTheIdOfTheirEventAndIdsLeadBackToTheirSeq) {
  auto store = open();
  const auto a = store->append(make_event("ev-a", "c"));
  const auto b = store->append(make_event("ev-b", "d"));
  EXPECT_EQ(store->position_at(a.seq).to_string(), store->epoch() + ":" + std::to_string(a.seq) + ":ev-a");
  EXPECT_EQ(store->position_at(b.seq).anchor, "ev-b");
  EXPECT_EQ(store->position_at(0).anchor, "");
  EXPECT_EQ(store->seq_of("ev-b"), b.seq);
  EXPECT_EQ(store->seq_of("nope"), std::nullopt);
  store.reset();
  auto reopened = open();  // the head's anchor is known again after a restart
  EXPECT_EQ(reopened->position_at(b.seq).anchor, "ev-b");
}

TEST_F(EventStoreTest, EpochIsStableAcrossReopenAndDiffersForAFreshDirectory) {
  std::string epoch;
  {
    auto store = open();
    epoch = store->epoch();
  }
  EXPECT_EQ(epoch.size(), 12u);
  EXPECT_EQ(epoch.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(open()->epoch(), epoch);

  TempDir other;
  StoreOptions fresh = options();
  fresh.data_dir = other.path();
  EXPECT_NE(EventStore(fresh).epoch(), epoch);
}

TEST_F(EventStoreTest, ReopenKeepsEventsAndContinuesSeq) {
  std::int64_t last = 0;
  {
    auto store = open();
    for (int i = 0; i < 5; ++i) last = store->append(make_event("a" + std::to_string(i), "ch")).seq;
  }
  auto store = open();
  EXPECT_EQ(store->head_seq(), last);
  EXPECT_EQ(store->read_after({"ch"}, 0, 100).size(), 5u);
  EXPECT_EQ(store->channel_bounds("ch").last_seq, last);
  EXPECT_GT(store->append(make_event("b", "ch")).seq, last);
}

TEST_F(EventStoreTest, ReadAfterReturnsExactlyTheEventsAfterTheCursor) {
  auto store = open();
  std::vector<std::int64_t> a_seqs;
  for (int i = 0; i < 10; ++i) {
    const auto seq = store->append(make_event("e" + std::to_string(i), i % 3 == 0 ? "b" : "a")).seq;
    if (i % 3 != 0) a_seqs.push_back(seq);
  }
  const std::int64_t cursor = a_seqs[2];
  const auto events = store->read_after({"a"}, cursor, 100);
  EXPECT_EQ(seqs_of(events), std::vector<std::int64_t>(a_seqs.begin() + 3, a_seqs.end()));
  for (const auto& event : events) EXPECT_EQ(event.envelope.channel, "a");
  EXPECT_TRUE(store->read_after({"a"}, a_seqs.back(), 100).empty());
  EXPECT_TRUE(store->read_after({"unknown"}, 0, 100).empty());
  EXPECT_TRUE(store->read_after({"a"}, 0, 0).empty());
}

// Pages through `channels` with `limit` per call, as a reconnecting client would.
std::vector<std::int64_t> page_through(EventStore& store, const std::vector<std::string>& channels,
                                       std::size_t limit) {
  std::vector<std::int64_t> seen;
  std::int64_t cursor = 0;
  for (;;) {
    const auto page = store.read_after(channels, cursor, limit);
    if (page.empty()) return seen;
    EXPECT_LE(page.size(), limit);
    for (const auto& event : page) seen.push_back(event.seq);
    cursor = page.back().seq;
  }
}

TEST_F(EventStoreTest, PagingWithALimitGivesEveryEventOnceInOrder) {
  auto store = open();
  std::vector<std::int64_t> expected;
  for (int i = 0; i < 40; ++i) {
    const std::string channel = i % 4 == 3 ? "other" : "ch" + std::to_string(i % 3);
    const auto seq = store->append(make_event("e" + std::to_string(i), channel)).seq;
    if (channel != "other") expected.push_back(seq);
  }
  EXPECT_EQ(page_through(*store, {"ch0", "ch1", "ch2"}, 7), expected);
  EXPECT_EQ(page_through(*store, {"ch2", "ch0", "ch1", "ch0"}, 1),
            expected);  // order and repeats don't matter
}

TEST_F(EventStoreTest, PagingOverManyChannelsGivesEveryEventOnceInOrder) {
  auto store = open();
  std::vector<std::string> channels;
  for (int c = 0; c < 150; ++c)
    channels.push_back("dokumen." + std::to_string(c));  // > one statement's worth
  std::vector<std::future<AppendResult>> pending;
  for (int i = 0; i < 600; ++i) {
    pending.push_back(store->append_async(make_event("e" + std::to_string(i), channels[(i * 7) % 150])));
  }
  std::vector<std::int64_t> expected;
  for (auto& result : pending) expected.push_back(result.get().seq);
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(page_through(*store, channels, 33), expected);
}

TEST_F(EventStoreTest, LatestAndBoundsDescribeAChannel) {
  auto store = open();
  EXPECT_FALSE(store->latest("ch").has_value());
  EXPECT_EQ(store->channel_bounds("ch").last_seq, 0);
  EXPECT_EQ(store->channel_bounds("ch").pruned_through, 0);

  store->append(make_event("1", "ch", "1"));
  const auto last = store->append(make_event("2", "ch", "2")).seq;
  store->append(make_event("3", "elsewhere", "3"));

  const auto latest = store->latest("ch");
  ASSERT_TRUE(latest.has_value());
  EXPECT_EQ(latest->seq, last);
  EXPECT_EQ(latest->envelope.data, "2");
  EXPECT_EQ(store->channel_bounds("ch").last_seq, last);
  EXPECT_EQ(store->channel_bounds("ch").pruned_through, 0);
}

// since=latest starts just before the newest event of a channel as of a head read earlier: an event
// committed after that head must not count, or the events between the head and it would be skipped.
TEST_F(EventStoreTest, LatestSeqIsTheNewestEventOfTheChannelAtOrBelowTheGivenHead) {
  auto store = open();
  EXPECT_FALSE(store->latest_seq("ch", 1000).has_value()) << "an empty channel has no latest event";

  const auto first = store->append(make_event("1", "ch")).seq;
  store->append(make_event("2", "elsewhere"));
  const auto second = store->append(make_event("3", "ch")).seq;
  const auto head = store->head_seq();
  const auto later = store->append(make_event("4", "ch")).seq;  // after `head`: not the latest at `head`

  EXPECT_EQ(store->latest_seq("ch", head), second);
  EXPECT_EQ(store->latest_seq("ch", second), second) << "the bound is inclusive";
  EXPECT_EQ(store->latest_seq("ch", second - 1), first);
  EXPECT_FALSE(store->latest_seq("ch", first - 1).has_value());
  EXPECT_EQ(store->latest_seq("ch", store->head_seq()), later);
  EXPECT_FALSE(store->latest_seq("nothing.here", store->head_seq()).has_value());
}

TEST_F(EventStoreTest, ConcurrentAppendsAreGroupCommittedAndDeliveredInSeqOrder) {
  auto store = open();
  std::mutex delivered_mutex;
  std::vector<std::int64_t> delivered;
  store->set_commit_listener([&](const std::vector<StoredEvent>& events) {
    std::lock_guard lock(delivered_mutex);
    for (const auto& event : events) delivered.push_back(event.seq);
  });

  constexpr int kThreads = 8;
  constexpr int kPerThread = 300;
  std::vector<std::vector<std::int64_t>> answered(kThreads);
  std::vector<std::thread> appenders;
  for (int t = 0; t < kThreads; ++t) {
    appenders.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const auto result =
            store->append(make_event(std::to_string(t) + "-" + std::to_string(i), "ch" + std::to_string(t)));
        answered[t].push_back(result.seq);
      }
    });
  }
  // A burst from one thread as well, which queues faster than one commit per event.
  std::vector<std::future<AppendResult>> burst;
  for (int i = 0; i < 1000; ++i)
    burst.push_back(store->append_async(make_event("burst-" + std::to_string(i), "burst")));
  for (auto& result : burst) EXPECT_FALSE(result.get().duplicate);
  for (auto& appender : appenders) appender.join();
  store->close();

  constexpr std::size_t kTotal = kThreads * kPerThread + 1000;
  std::set<std::int64_t> all;
  for (const auto& seqs : answered) {
    EXPECT_EQ(seqs.size(), static_cast<std::size_t>(kPerThread));
    EXPECT_TRUE(std::is_sorted(seqs.begin(), seqs.end()));  // one thread's appends keep their order
    all.insert(seqs.begin(), seqs.end());
  }
  ASSERT_EQ(delivered.size(), kTotal);
  EXPECT_TRUE(std::adjacent_find(delivered.begin(), delivered.end(), std::greater_equal<>()) ==
              delivered.end())
      << "the listener must see strictly increasing seq";
  const auto stats = store->stats();
  EXPECT_EQ(stats.appended, kTotal);
  EXPECT_LT(stats.commits, kTotal);
  EXPECT_EQ(stats.head_seq, delivered.back());
}

TEST_F(EventStoreTest, ListenerSeesOnlyCommittedEvents) {
  auto store = open();
  std::vector<std::int64_t> visible_to_readers;
  store->set_commit_listener([&](const std::vector<StoredEvent>& events) {
    // Called after the commit: a reader on another connection already sees the events.
    const auto stored = store->read_after({"ch"}, events.front().seq - 1, events.size());
    for (const auto& event : stored) visible_to_readers.push_back(event.seq);
  });
  const auto seq = store->append(make_event("x", "ch")).seq;
  store->close();
  EXPECT_EQ(visible_to_readers, std::vector<std::int64_t>{seq});
}

TEST_F(EventStoreTest, ReaderSeesEveryEventOnceWhileTheWriterAppends) {
  auto store = open();
  constexpr int kEvents = 3000;
  std::thread writer([&] {
    std::vector<std::future<AppendResult>> pending;
    for (int i = 0; i < kEvents; ++i) {
      pending.push_back(store->append_async(make_event("w" + std::to_string(i), i % 5 ? "live" : "noise")));
      if (pending.size() == 100) {
        for (auto& result : pending) result.get();
        pending.clear();
      }
    }
    for (auto& result : pending) result.get();
  });

  std::vector<std::int64_t> seen;
  std::int64_t cursor = 0;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (seen.size() < kEvents * 4 / 5 && std::chrono::steady_clock::now() < deadline) {
    for (const auto& event : store->read_after({"live"}, cursor, 64)) {
      EXPECT_GT(event.seq, cursor);
      seen.push_back(event.seq);
      cursor = event.seq;
    }
  }
  writer.join();
  EXPECT_EQ(seen, seqs_of(store->read_after({"live"}, 0, kEvents)));
}

TEST_F(EventStoreTest, DeadLettersRoundTripNewestFirst) {
  {
    auto store = open();
    store->record_dead_letter("dokumen/1/updated", "not json", "bad_json: unexpected 'n'");
    store->record_dead_letter("cabang/3/omset", R"({"omset":"x"})", "schema: /omset must be integer");
    store->record_dead_letter("t", "p", "r");
    EXPECT_EQ(store->stats().dead_letters, 3u);
  }
  auto store = open();  // durable like events
  const auto letters = store->dead_letters(2);
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(letters[0].topic, "t");
  EXPECT_EQ(letters[1].topic, "cabang/3/omset");
  EXPECT_EQ(letters[1].payload, R"({"omset":"x"})");
  EXPECT_EQ(letters[1].reason, "schema: /omset must be integer");
  EXPECT_GT(letters[0].id, letters[1].id);
  EXPECT_GT(letters[1].time_ms, 0);
  EXPECT_EQ(store->dead_letters(100).size(), 3u);
}

TEST_F(EventStoreTest, CloseCommitsWhatIsQueuedThenRefusesAppends) {
  std::vector<std::future<AppendResult>> pending;
  {
    auto store = open();
    for (int i = 0; i < 500; ++i)
      pending.push_back(store->append_async(make_event("q" + std::to_string(i), "ch")));
    store->close();
    for (auto& result : pending) EXPECT_GT(result.get().seq, 0);
    EXPECT_THROW(store->append(make_event("late", "ch")), StoreError);
    EXPECT_THROW(store->append_async(make_event("late", "ch")), StoreError);
    store->close();                                              // idempotent
    EXPECT_EQ(store->read_after({"ch"}, 0, 1000).size(), 500u);  // reads still work until destruction
  }
  EXPECT_EQ(open()->read_after({"ch"}, 0, 1000).size(), 500u);
}

TEST_F(EventStoreTest, RefusesEventsWithoutIdOrChannel) {
  auto store = open();
  EXPECT_THROW(store->append(make_event("", "ch")), StoreError);
  EXPECT_THROW(store->append(make_event("id", "")), StoreError);
  EXPECT_EQ(store->head_seq(), 0);
}

TEST_F(EventStoreTest, SeveralStoresInOneProcessKeepTheirOwnData) {
  TempDir other_dir;
  StoreOptions other_options = options();
  other_options.data_dir = other_dir.path();
  auto first = open();
  EventStore second(other_options);
  first->append(make_event("1", "ch", "first"));
  second.append(make_event("1", "ch", "second"));
  EXPECT_EQ(first->read_after({"ch"}, 0, 10).at(0).envelope.data, "first");
  EXPECT_EQ(second.read_after({"ch"}, 0, 10).at(0).envelope.data, "second");
}

}  // namespace
}  // namespace kabar
