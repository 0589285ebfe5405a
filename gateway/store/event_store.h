#pragma once
// EventStore: the durable, append-only event log (SQLite in WAL mode) and the single source of positions.
//
// Ownership and threads:
//  - One writer thread owns the write connection. append() may be called from any thread; it hands the
//    envelope to the writer and blocks until the group commit that contains it is durable (or it was a
//    duplicate). The writer drains everything queued, up to commit_max_batch, into one transaction, so
//    batches form naturally under load and an idle store commits at once (no added latency).
//  - After each commit the writer calls the commit listener with the newly inserted events, in seq
//    order. Nothing is delivered live before it is committed (architecture promise 3).
//  - read_after()/channel_bounds() may be called from any thread; each calling thread gets its own read
//    connection (WAL readers never block the writer).
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "core/envelope.h"
#include "core/histogram.h"
#include "core/position.h"

namespace SQLite {
class Database;
}

namespace kabar {

struct StoredEvent {
  std::int64_t seq = 0;
  Envelope envelope;
};

struct AppendResult {
  std::int64_t seq = 0;    // the event's seq (for a duplicate: the seq it was first stored under)
  bool duplicate = false;  // an event with this id was already stored; nothing new was written
};

struct StoreOptions {
  std::filesystem::path data_dir = "data";  // the database is data_dir/kabar.db
  std::size_t commit_max_batch = 512;       // events per transaction at most
  std::chrono::seconds retention_max_age{7 * 24 * 3600};  // 0 = keep forever
  std::size_t retention_max_per_channel = 10000;          // 0 = unlimited
  std::chrono::milliseconds retention_interval{5000};     // how often the pruner runs
  bool fsync = false;  // true: synchronous=FULL (survives power loss); false: NORMAL (survives kill -9)
};

// Opening or writing failed in a way the caller must report (bad path, corrupt file, disk full).
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct StoreStats {
  std::uint64_t appended = 0;      // events newly stored since start
  std::uint64_t duplicates = 0;    // appends ignored because the id was already stored
  std::uint64_t commits = 0;       // transactions committed
  std::uint64_t pruned = 0;        // events removed by retention
  std::uint64_t dead_letters = 0;  // dead-letter records written since start
  std::int64_t head_seq = 0;       // highest seq stored
  HistogramSnapshot commit_duration;  // seconds per committed transaction
};

// What the store still holds of one channel.
struct ChannelBounds {
  std::int64_t pruned_through = 0;  // highest seq of this channel removed by retention (0: none)
  std::int64_t last_seq = 0;        // highest seq of this channel (0: no events ever)
};

// A rejected MQTT message. Payloads are diagnostics, and a publisher may send up to the broker's limit
// (256 MiB), so the store keeps at most kDeadLetterPayloadMax bytes of each (cut at a UTF-8 character
// boundary) and the size it came with.
inline constexpr std::size_t kDeadLetterPayloadMax = 64 * 1024;

struct DeadLetter {
  std::int64_t id = 0;
  std::int64_t time_ms = 0;
  std::string topic;
  std::string payload;        // at most kDeadLetterPayloadMax bytes of it
  std::string reason;
  std::int64_t payload_bytes = 0;  // the size of the payload as it came
  bool truncated() const { return payload_bytes > static_cast<std::int64_t>(payload.size()); }
};

// What paging through the dead letters looks at first: no payload.
// A topic an event of a channel was stored with (docs/store.md "Channel topics").
struct ChannelTopic {
  std::string topic;
  std::string channel;
};

struct DeadLetterTopic {
  std::int64_t id = 0;
  std::string topic;
};

class EventStore {
 public:
  using CommitListener = std::function<void(const std::vector<StoredEvent>&)>;

  // Opens (creating if needed) data_dir/kabar.db. Throws StoreError with a clear message when the
  // folder cannot be created or the file is not a usable kabar database.
  explicit EventStore(StoreOptions options);
  ~EventStore();  // stops the writer after committing what is queued
  EventStore(const EventStore&) = delete;
  EventStore& operator=(const EventStore&) = delete;

  const std::string& epoch() const { return epoch_; }

  // Must be set before the first append; called on the writer thread after every commit.
  void set_commit_listener(CommitListener listener);

  // Durably stores the event (idempotent by envelope.id) and returns once it is committed.
  // Throws StoreError if the store is stopped or the write failed.
  AppendResult append(Envelope envelope);
  // Same, without blocking: the future becomes ready once committed.
  std::future<AppendResult> append_async(Envelope envelope);

  // Events of `channels` with seq > after_seq, ascending by seq, at most `limit` of them.
  std::vector<StoredEvent> read_after(const std::vector<std::string>& channels, std::int64_t after_seq,
                                      std::size_t limit);
  // The latest event of a channel, if any (for "last value" / cache channels). With visible_to_app, the
  // latest one that Pusher app may see: its own or one without an app (docs/pusher.md "Apps").
  std::optional<StoredEvent> latest(const std::string& channel, const std::string& visible_to_app = {});
  // since=latest: the seq of the newest event of `channel` with seq <= through_seq (a head read before),
  // if it has one. Bounded by a head so that the start of a subscription or a history page never moves
  // past an event committed after that head.
  std::optional<std::int64_t> latest_seq(const std::string& channel, std::int64_t through_seq);
  ChannelBounds channel_bounds(const std::string& channel);
  std::int64_t head_seq() const;
  // The position of `seq` with its anchor (the id of the event at seq) when it is one of the last few
  // thousand stored (any thread, no read): what positions made from a head read moments ago carry.
  Position position_at(std::int64_t seq) const;
  // The seq of the event with this id, if it is stored (any thread but an I/O thread: a read). A
  // position of another node resumes after it.
  std::optional<std::int64_t> seq_of(const std::string& id);
  // Every (topic, channel) pair an event was ever stored with (any thread but an I/O thread: a read of a
  // small table). A topic subscription is resolved against it.
  std::vector<ChannelTopic> channel_topics();

  void record_dead_letter(const std::string& topic, const std::string& payload, const std::string& reason);
  std::vector<DeadLetter> dead_letters(std::size_t limit);  // the newest `limit`, newest first
  // Ids and topics of the newest `limit` letters with id < before_id, newest first (any thread).
  std::vector<DeadLetterTopic> dead_letter_topics(std::int64_t before_id, std::size_t limit);
  // The letters with these ids that are still kept, in the order given (any thread).
  std::vector<DeadLetter> dead_letters_by_id(const std::vector<std::int64_t>& ids);

  // Runs retention now (normally done by the writer every retention_interval). Returns events removed.
  std::size_t prune_now();

  StoreStats stats() const;

  // Commits everything queued, then stops accepting appends. Idempotent.
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string epoch_;
};

}  // namespace kabar
