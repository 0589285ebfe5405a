// EventStore: appends, the writer thread and group commit. Retention is in retention.cpp, reads in
// reader_pool.cpp, opening and the schema in schema.cpp. Design notes: docs/store.md.
#include "gateway/store/event_store.h"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "core/clock.h"
#include "gateway/store/event_store_impl.h"
#include "gateway/store/sql.h"

namespace kabar {
namespace {

StoreOptions normalized(StoreOptions options) {
  options.commit_max_batch = std::max<std::size_t>(options.commit_max_batch, 1);
  return options;
}

}  // namespace

// ---------------------------------------------------------------------------------------------------
// Impl: construction and the writer thread

EventStore::Impl::Impl(StoreOptions store_options, store_schema::OpenedStore opened)
    : options(normalized(std::move(store_options))),
      db_file(store_schema::db_file(options.data_dir)),
      db(std::move(opened.db)),
      begin(db, "BEGIN IMMEDIATE"),
      commit(db, "COMMIT"),
      insert(db, store_sql::kInsertEvent),
      seq_of_id(db, store_sql::kSeqOfId),
      derived_repeats(db, store_sql::kDerivedRepeats),
      touch_channel(db, store_sql::kTouchChannel),
      insert_channel_topic(db, store_sql::kInsertChannelTopic),
      insert_dead_letter(db, store_sql::kInsertDeadLetter),
      oldest_events(db, store_sql::kOldestEvents),
      delete_through(db, store_sql::kDeleteThrough),
      overfull_channels(db, store_sql::kOverfullChannels),
      nth_oldest_of_channel(db, store_sql::kNthOldestOfChannel),
      delete_channel_through(db, store_sql::kDeleteChannelThrough),
      mark_pruned(db, store_sql::kMarkPruned),
      trim_dead_letters_by_count(db, store_sql::kTrimDeadLettersByCount),
      trim_dead_letters_by_age(db, store_sql::kTrimDeadLettersByAge),
      next_seq(opened.head_seq + 1),
      last_stored_ms(opened.last_stored_ms),
      next_retention(std::chrono::steady_clock::now() + options.retention_interval),
      head_seq(opened.head_seq),
      checkpointer(db, db_file),
      readers(db_file) {
  if (opened.head_seq > 0) {  // the head's anchor, for positions made before the first commit
    SQLite::Statement id_of_seq(db, store_sql::kIdOfSeq);
    id_of_seq.bind(1, opened.head_seq);
    if (id_of_seq.executeStep()) anchors[static_cast<std::size_t>(opened.head_seq) % kAnchors] = {opened.head_seq, id_of_seq.getColumn(0).getString()};
  }
}

void EventStore::Impl::run_writer() {
  std::vector<DeadLetterRequest> dead_letters;
  const bool periodic_retention = options.retention_interval.count() > 0;
  auto has_work = [this] {
    return !pending.empty() || !pending_dead_letters.empty() || !prune_requests.empty() || stopping;
  };

  std::unique_lock lock(mutex);
  for (;;) {
    // Take everything queued in one swap; it is committed below in slices of commit_max_batch.
    if (inbox_next == inbox.size()) {
      inbox.clear();
      inbox_next = 0;
      inbox.swap(pending);
    }
    dead_letters.swap(pending_dead_letters);
    // Checked on every round, not only when idle: under steady load the queue is never empty.
    if (!prune && !stopping && (!prune_requests.empty() || retention_due(std::chrono::steady_clock::now()))) {
      auto waiters = std::move(prune_requests);
      prune_requests.clear();
      start_prune_run(std::move(waiters));
    }
    const bool have_writes = inbox_next < inbox.size() || !dead_letters.empty();

    if (!have_writes && !prune) {
      if (stopping) break;
      if (periodic_retention) {
        wake_writer.wait_until(lock, next_retention, has_work);
      } else {
        wake_writer.wait(lock, has_work);
      }
      continue;
    }
    const bool abandon_prune = stopping && prune != nullptr;  // close() should not wait for retention
    lock.unlock();

    if (have_writes) commit_slice(dead_letters);
    if (abandon_prune) {
      finish_prune_run();
    } else if (prune) {
      prune_step();  // one bounded step between slices, so appends never wait for a whole pass
    }
    lock.lock();
  }
  for (auto& waiter : prune_requests) waiter.set_value(0);
  prune_requests.clear();
}

std::int64_t EventStore::Impl::next_stored_ms() {
  // Never decreasing, even if the wall clock steps back: age retention relies on stored_ms growing
  // with seq so that the old events are always a prefix of the log.
  last_stored_ms = std::max(last_stored_ms, unix_ms());
  return last_stored_ms;
}

void EventStore::Impl::commit_slice(std::vector<DeadLetterRequest>& dead_letters) {
  const std::size_t first = inbox_next;
  const std::size_t last = std::min(inbox.size(), first + options.commit_max_batch);
  inbox_next = last;
  const std::int64_t first_seq = next_seq;
  results.clear();
  committed.clear();
  committed.reserve(last - first);  // no reallocation below: `touched` keeps views into it
  touched.clear();

  const auto started = std::chrono::steady_clock::now();
  try {
    begin.exec();
    begin.reset();
    const std::int64_t stored_ms = next_stored_ms();
    for (std::size_t i = first; i < last; ++i) results.push_back(insert_event(inbox[i].envelope, stored_ms));
    save_channel_touches();  // also what keeps seq from being reused (schema.cpp: load_state)
    for (auto& request : dead_letters) {
      const DeadLetter& letter = request.letter;
      insert_dead_letter.bind(1, letter.time_ms);
      insert_dead_letter.bindNoCopy(2, letter.topic);
      insert_dead_letter.bindNoCopy(3, letter.payload);
      insert_dead_letter.bindNoCopy(4, letter.reason);
      insert_dead_letter.bind(5, letter.payload_bytes);
      insert_dead_letter.exec();
      insert_dead_letter.reset();
    }
    commit.exec();
    commit.reset();
    commit_duration.observe(std::chrono::steady_clock::now() - started);
  } catch (const std::exception& error) {
    db.tryExec("ROLLBACK");
    reset_statements();
    for (const auto& key : new_channel_topics) known_channel_topics.erase(key);  // rolled back with the slice
    next_seq = first_seq;
    spdlog::error("event store: commit of {} events failed: {}", last - first, error.what());
    fail_slice(first, last, dead_letters, error.what());
    return;
  }

  const auto inserted = static_cast<std::uint64_t>(committed.size());
  remember_anchors();  // before the head moves: a position made from the new head finds its anchor
  head_seq.store(next_seq - 1, std::memory_order_release);
  appended.fetch_add(inserted, std::memory_order_relaxed);
  duplicates.fetch_add((last - first) - inserted, std::memory_order_relaxed);
  dead_letters_written.fetch_add(dead_letters.size(), std::memory_order_relaxed);
  commits.fetch_add(1, std::memory_order_relaxed);

  for (std::size_t i = first; i < last; ++i) inbox[i].done.set_value(results[i - first]);
  for (auto& request : dead_letters) request.done.set_value();
  dead_letters.clear();

  if (!committed.empty()) {
    std::shared_ptr<const CommitListener> notify;
    {
      std::lock_guard lock(mutex);
      notify = listener;
    }
    if (notify && *notify) {
      try {
        (*notify)(committed);
      } catch (const std::exception& error) {
        // The events are durable; a failing listener must not stop the log. Clients recover by replay.
        spdlog::error("event store: commit listener threw: {}", error.what());
      }
    }
  }
  committed.clear();
}

AppendResult EventStore::Impl::insert_event(Envelope& envelope, std::int64_t stored_ms) {
  insert.bind(1, next_seq);
  insert.bindNoCopy(2, envelope.id);
  insert.bindNoCopy(3, envelope.channel);
  insert.bindNoCopy(4, envelope.event);
  insert.bindNoCopy(5, envelope.data);
  insert.bindNoCopy(6, envelope.socket_id);
  insert.bind(7, envelope.time_ms);
  insert.bind(8, stored_ms);
  insert.bindNoCopy(9, envelope.topic);
  if (envelope.app.empty()) {
    insert.bind(10);  // NULL: an event of every app
  } else {
    insert.bindNoCopy(10, envelope.app);
  }
  int changes = insert.exec();
  insert.reset();
  if (changes == 0 && envelope.derived_id) {
    if (auto repeat = repeat_id(envelope, stored_ms)) {
      envelope.id = std::move(*repeat);
      insert.bindNoCopy(2, envelope.id);
      changes = insert.exec();
      insert.reset();
    }
  }

  if (changes == 0) {  // ON CONFLICT(id) DO NOTHING: stored before (or earlier in this slice)
    seq_of_id.bindNoCopy(1, envelope.id);
    if (!seq_of_id.executeStep())
      throw StoreError("event '" + envelope.id + "' was neither inserted nor found");
    const std::int64_t original = seq_of_id.getColumn(0).getInt64();
    seq_of_id.reset();
    return AppendResult{original, true};
  }

  const std::int64_t seq = next_seq++;
  committed.push_back(StoredEvent{seq, std::move(envelope)});
  const std::string& channel = committed.back().envelope.channel;
  ChannelTouch& touch = touched[channel];
  touch.channel = &channel;
  touch.last_seq = seq;
  ++touch.added;
  return AppendResult{seq, false};
}

// A message without an id whose derived id is taken: the same message published again (another event:
// "<id>.<n>", n = how many of it are stored, the same on every node that stored the same ones), unless
// the broker says it is a redelivery and one was stored within the last minute (the copy this node
// committed but had not acknowledged when it stopped). docs/store.md "Derived ids".
std::optional<std::string> EventStore::Impl::repeat_id(const Envelope& envelope, std::int64_t stored_ms) {
  constexpr std::int64_t kRedeliveryWindowMs = 60'000;
  const std::string base = envelope.id;
  const std::string end = base + "/";  // '/' follows '.' in ASCII: the range holds base and base.<n>
  derived_repeats.bindNoCopy(1, base);
  derived_repeats.bindNoCopy(2, end);
  std::int64_t count = 0;
  std::int64_t newest_ms = 0;
  if (derived_repeats.executeStep()) {
    count = derived_repeats.getColumn(0).getInt64();
    newest_ms = derived_repeats.getColumn(1).isNull() ? 0 : derived_repeats.getColumn(1).getInt64();
  }
  derived_repeats.reset();
  if (envelope.redelivery && stored_ms - newest_ms <= kRedeliveryWindowMs) return std::nullopt;
  for (std::int64_t n = std::max<std::int64_t>(count, 1);; ++n) {  // a pruned repeat may have left a gap
    std::string id = base + "." + std::to_string(n);
    seq_of_id.bindNoCopy(1, id);
    const bool taken = seq_of_id.executeStep();
    seq_of_id.reset();
    if (!taken) return id;
  }
}

void EventStore::Impl::remember_anchors() {
  std::lock_guard lock(anchors_mutex);
  for (const auto& event : committed) {
    anchors[static_cast<std::size_t>(event.seq) % kAnchors] = {event.seq, event.envelope.id};
  }
}

// One upsert per channel per slice rather than per event.
void EventStore::Impl::save_channel_touches() {
  for (const auto& [name, touch] : touched) {
    touch_channel.bindNoCopy(1, *touch.channel);
    touch_channel.bind(2, touch.last_seq);
    touch_channel.bind(3, touch.added);
    touch_channel.exec();
    touch_channel.reset();
  }
  // Each (topic, channel) pair once per process: after the first commit of a pair it is known to be there.
  new_channel_topics.clear();
  for (const auto& event : committed) {
    const Envelope& envelope = event.envelope;
    if (envelope.topic.empty()) continue;
    std::string key = envelope.topic + '\0' + envelope.channel;
    if (known_channel_topics.count(key) != 0) continue;
    insert_channel_topic.bindNoCopy(1, envelope.topic);
    insert_channel_topic.bindNoCopy(2, envelope.channel);
    insert_channel_topic.exec();
    insert_channel_topic.reset();
    known_channel_topics.insert(key);
    new_channel_topics.push_back(std::move(key));
  }
}

void EventStore::Impl::reset_statements() noexcept {
  for (SQLite::Statement* statement :
       {&begin, &commit, &insert, &seq_of_id, &derived_repeats, &touch_channel, &insert_channel_topic, &insert_dead_letter, &oldest_events,
        &delete_through, &overfull_channels, &nth_oldest_of_channel, &delete_channel_through, &mark_pruned,
        &trim_dead_letters_by_count, &trim_dead_letters_by_age}) {
    statement->tryReset();
  }
}

void EventStore::Impl::fail_slice(std::size_t first, std::size_t last,
                                  std::vector<DeadLetterRequest>& dead_letters, const std::string& reason) {
  const auto error = std::make_exception_ptr(StoreError("storing events failed: " + reason));
  for (std::size_t i = first; i < last; ++i) inbox[i].done.set_exception(error);
  for (auto& request : dead_letters) request.done.set_exception(error);
  dead_letters.clear();
  committed.clear();
}

// ---------------------------------------------------------------------------------------------------
// EventStore

EventStore::EventStore(StoreOptions options) {
  auto opened = store_schema::open_for_writing(options.data_dir, options.fsync);
  epoch_ = opened.epoch;
  try {
    impl_ = std::make_unique<Impl>(std::move(options), std::move(opened));
  } catch (const SQLite::Exception& error) {
    throw StoreError("cannot prepare the event store: " + std::string(error.what()));
  }
  impl_->writer = std::thread([impl = impl_.get()] { impl->run_writer(); });
  impl_->writer_id = impl_->writer.get_id();  // read-only from here on, so any thread may compare
}

EventStore::~EventStore() { close(); }

void EventStore::set_commit_listener(CommitListener listener) {
  auto shared = std::make_shared<const CommitListener>(std::move(listener));
  std::lock_guard lock(impl_->mutex);
  impl_->listener = std::move(shared);
}

AppendResult EventStore::append(Envelope envelope) {
  if (std::this_thread::get_id() == impl_->writer_id) {
    throw StoreError("append() from the commit listener would wait for itself; use append_async()");
  }
  return append_async(std::move(envelope)).get();
}

std::future<AppendResult> EventStore::append_async(Envelope envelope) {
  if (envelope.id.empty()) throw StoreError("cannot store an event without an id");
  if (envelope.channel.empty())
    throw StoreError("cannot store event '" + envelope.id + "' without a channel");
  std::future<AppendResult> committed;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) throw StoreError("the event store is closed");
    auto& request = impl_->pending.emplace_back(AppendRequest{std::move(envelope), {}});
    committed = request.done.get_future();
  }
  impl_->wake_writer.notify_one();
  return committed;
}

std::vector<StoredEvent> EventStore::read_after(const std::vector<std::string>& channels,
                                                std::int64_t after_seq, std::size_t limit) {
  return impl_->readers.read_after(channels, after_seq, limit);
}

std::optional<StoredEvent> EventStore::latest(const std::string& channel, const std::string& visible_to_app) {
  return impl_->readers.latest(channel, visible_to_app);
}

std::optional<std::int64_t> EventStore::latest_seq(const std::string& channel, std::int64_t through_seq) {
  return impl_->readers.latest_seq(channel, through_seq);
}

ChannelBounds EventStore::channel_bounds(const std::string& channel) {
  return impl_->readers.channel_bounds(channel);
}

std::int64_t EventStore::head_seq() const { return impl_->head_seq.load(std::memory_order_acquire); }

Position EventStore::position_at(std::int64_t seq) const {
  Position position{epoch_, seq, {}};
  std::lock_guard lock(impl_->anchors_mutex);
  const auto& [known, id] = impl_->anchors[static_cast<std::size_t>(seq) % Impl::kAnchors];
  if (known == seq && seq > 0) position.anchor = id;
  return position;
}

std::optional<std::int64_t> EventStore::seq_of(const std::string& id) { return impl_->readers.seq_of(id); }

std::vector<ChannelTopic> EventStore::channel_topics() { return impl_->readers.channel_topics(); }

namespace {
// At most kDeadLetterPayloadMax bytes, not ending inside a UTF-8 character (the view shows it as text).
std::string capped_payload(const std::string& payload) {
  if (payload.size() <= kDeadLetterPayloadMax) return payload;
  std::size_t end = kDeadLetterPayloadMax;
  for (int back = 0; back < 3 && end > 0 && (static_cast<unsigned char>(payload[end]) & 0xC0) == 0x80; ++back) --end;
  return payload.substr(0, end);
}
}  // namespace

void EventStore::record_dead_letter(const std::string& topic, const std::string& payload,
                                    const std::string& reason) {
  if (std::this_thread::get_id() == impl_->writer_id) {
    throw StoreError("record_dead_letter() from the commit listener would wait for itself");
  }
  std::future<void> recorded;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) throw StoreError("the event store is closed");
    auto& request = impl_->pending_dead_letters.emplace_back(DeadLetterRequest{
        {0, unix_ms(), topic, capped_payload(payload), reason, static_cast<std::int64_t>(payload.size())}, {}});
    recorded = request.done.get_future();
  }
  impl_->wake_writer.notify_one();
  recorded.get();
}

std::vector<DeadLetter> EventStore::dead_letters(std::size_t limit) {
  return impl_->readers.dead_letters(limit);
}

std::vector<DeadLetterTopic> EventStore::dead_letter_topics(std::int64_t before_id, std::size_t limit) {
  return impl_->readers.dead_letter_topics(before_id, limit);
}

std::vector<DeadLetter> EventStore::dead_letters_by_id(const std::vector<std::int64_t>& ids) {
  return impl_->readers.dead_letters_by_id(ids);
}

std::size_t EventStore::prune_now() {
  if (std::this_thread::get_id() == impl_->writer_id) {
    throw StoreError("prune_now() from the commit listener would wait for itself");
  }
  std::future<std::size_t> removed;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->stopping) return 0;
    removed = impl_->prune_requests.emplace_back().get_future();
  }
  impl_->wake_writer.notify_one();
  return removed.get();
}

StoreStats EventStore::stats() const {
  StoreStats stats;
  stats.appended = impl_->appended.load(std::memory_order_relaxed);
  stats.duplicates = impl_->duplicates.load(std::memory_order_relaxed);
  stats.commits = impl_->commits.load(std::memory_order_relaxed);
  stats.pruned = impl_->pruned.load(std::memory_order_relaxed);
  stats.dead_letters = impl_->dead_letters_written.load(std::memory_order_relaxed);
  stats.head_seq = head_seq();
  stats.commit_duration = impl_->commit_duration.snapshot();
  return stats;
}

void EventStore::close() {
  std::lock_guard closing(impl_->close_mutex);
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
  }
  impl_->wake_writer.notify_one();
  // The writer drains what is queued before it exits. (Called from the listener itself, it cannot
  // wait for its own thread; the writer then stops after the current slice.)
  if (impl_->writer.joinable() && std::this_thread::get_id() != impl_->writer_id) impl_->writer.join();
}

}  // namespace kabar
