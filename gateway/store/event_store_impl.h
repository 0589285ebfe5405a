#pragma once
// Private to kabar_store: the state behind EventStore (pimpl), shared by event_store.cpp (appends, the
// writer loop, group commit) and retention.cpp (pruning, run on the writer thread).
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/histogram.h"
#include "gateway/store/checkpointer.h"
#include "gateway/store/event_store.h"
#include "gateway/store/reader_pool.h"
#include "gateway/store/schema.h"

namespace kabar {

struct AppendRequest {
  Envelope envelope;
  std::promise<AppendResult> done;
};

struct DeadLetterRequest {
  DeadLetter letter;  // id is assigned by SQLite
  std::promise<void> done;
};

// One retention pass, done in bounded steps between group commits.
struct PruneRun {
  enum class Phase { kAge, kFindOverfull, kCount, kDeadLetters, kDone };
  Phase phase = Phase::kAge;
  std::int64_t cutoff_ms = 0;  // events stored before this are too old (0: no age limit)
  struct Overfull {
    std::string channel;
    std::int64_t excess = 0;  // rows beyond retention_max_per_channel
  };
  std::vector<Overfull> overfull;
  std::size_t next_overfull = 0;
  std::size_t removed = 0;
  std::vector<std::promise<std::size_t>> waiters;  // prune_now() callers
};

struct EventStore::Impl {
  Impl(StoreOptions options, store_schema::OpenedStore opened);

  // --- writer thread ---
  void run_writer();
  // Commits the next slice of the inbox (at most commit_max_batch appends) plus queued dead letters.
  void commit_slice(std::vector<DeadLetterRequest>& dead_letters);
  AppendResult insert_event(Envelope& envelope, std::int64_t stored_ms);
  // A derived id that is taken: nullopt when the message is a redelivery of that event (a duplicate),
  // else the id under which this repeat is stored.
  std::optional<std::string> repeat_id(const Envelope& envelope, std::int64_t stored_ms);
  void remember_anchors();  // the ids of the slice's events, for positions (EventStore::position_at)
  void save_channel_touches();
  void reset_statements() noexcept;  // after a failed transaction
  void fail_slice(std::size_t begin, std::size_t end, std::vector<DeadLetterRequest>& dead_letters,
                  const std::string& reason);
  std::int64_t next_stored_ms();

  // retention.cpp
  void start_prune_run(std::vector<std::promise<std::size_t>> waiters);
  void prune_step();  // one bounded transaction of the active run
  void finish_prune_run();
  std::size_t prune_oldest_by_age();
  std::size_t prune_overfull_channels();
  void prune_dead_letters();
  void find_overfull_channels();
  void note_pruned(const std::string& channel, std::int64_t through_seq, std::int64_t count);
  bool retention_due(std::chrono::steady_clock::time_point now) const;

  const StoreOptions options;
  const std::filesystem::path db_file;

  // Owned by the writer thread after construction.
  SQLite::Database db;
  SQLite::Statement begin;
  SQLite::Statement commit;
  SQLite::Statement insert;
  SQLite::Statement seq_of_id;
  SQLite::Statement derived_repeats;
  SQLite::Statement touch_channel;
  SQLite::Statement insert_channel_topic;
  SQLite::Statement insert_dead_letter;
  SQLite::Statement oldest_events;
  SQLite::Statement delete_through;
  SQLite::Statement overfull_channels;
  SQLite::Statement nth_oldest_of_channel;
  SQLite::Statement delete_channel_through;
  SQLite::Statement mark_pruned;
  SQLite::Statement trim_dead_letters_by_count;
  SQLite::Statement trim_dead_letters_by_age;
  std::int64_t next_seq = 1;
  std::int64_t last_stored_ms = 0;
  std::vector<AppendRequest> inbox;  // taken from `pending` in one swap, committed in slices
  std::size_t inbox_next = 0;
  std::vector<AppendResult> results;   // per request of the current slice
  std::vector<StoredEvent> committed;  // newly inserted events of the current slice
  struct ChannelTouch {
    const std::string* channel = nullptr;  // the name inside `committed`
    std::int64_t last_seq = 0;
    std::int64_t added = 0;
  };
  std::unordered_map<std::string_view, ChannelTouch>
      touched;                      // per channel of the slice; views into `committed`
  // The (topic '\0' channel) pairs known to be in channel_topics, and those this slice added.
  std::unordered_set<std::string> known_channel_topics;
  std::vector<std::string> new_channel_topics;
  std::unique_ptr<PruneRun> prune;  // the active retention pass, if any
  std::chrono::steady_clock::time_point next_retention;

  // Shared with appending threads, guarded by `mutex`.
  std::mutex mutex;
  std::condition_variable wake_writer;
  std::vector<AppendRequest> pending;
  std::vector<DeadLetterRequest> pending_dead_letters;
  std::vector<std::promise<std::size_t>> prune_requests;
  std::shared_ptr<const CommitListener> listener;
  bool stopping = false;
  std::mutex close_mutex;  // close() may race with the destructor or another close()

  std::atomic<std::int64_t> head_seq{0};
  // The ids of the most recent events, by seq modulo the size: a position made from a head read moments
  // ago gets its anchor without a read (any thread, under anchors_mutex).
  static constexpr std::size_t kAnchors = 4096;
  std::mutex anchors_mutex;
  std::vector<std::pair<std::int64_t, std::string>> anchors{kAnchors};
  std::atomic<std::uint64_t> appended{0};
  std::atomic<std::uint64_t> duplicates{0};
  std::atomic<std::uint64_t> commits{0};
  // BEGIN to COMMIT returned (inserts, channel touches, dead letters, and the fsync with store.fsync):
  // kabar_store_commit_duration_seconds. Observed by the writer thread only.
  Histogram commit_duration{{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}};
  std::atomic<std::uint64_t> pruned{0};
  std::atomic<std::uint64_t> dead_letters_written{0};

  store_detail::Checkpointer checkpointer;  // after `db`: stopped before the writer connection closes
  store_detail::ReaderPool readers;
  std::thread writer;  // last: started once everything above is initialised
  std::thread::id writer_id;
};

}  // namespace kabar
