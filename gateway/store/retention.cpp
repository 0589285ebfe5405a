// Retention: removes events older than retention_max_age (by stored_ms, the time kabar stored them) and
// beyond retention_max_per_channel, on the writer thread, in steps of at most kPruneChunk rows so a
// pass over a large backlog never holds up appends for long. Each channel's pruned_through records the
// highest seq removed, which is how a reader learns that a cursor points into history no longer held.
#include <spdlog/spdlog.h>

#include <algorithm>

#include "gateway/store/event_store_impl.h"
#include "core/clock.h"

namespace kabar {
namespace {

constexpr std::size_t kPruneChunk = 2000;         // rows removed per transaction at most
constexpr std::int64_t kDeadLettersKept = 10000;  // newest dead letters kept (they are diagnostics)

}  // namespace

bool EventStore::Impl::retention_due(std::chrono::steady_clock::time_point now) const {
  return options.retention_interval.count() > 0 && now >= next_retention;
}

void EventStore::Impl::start_prune_run(std::vector<std::promise<std::size_t>> waiters) {
  prune = std::make_unique<PruneRun>();
  prune->waiters = std::move(waiters);
  const auto max_age_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(options.retention_max_age).count();
  if (max_age_ms > 0) {
    prune->cutoff_ms = unix_ms() - max_age_ms;
    prune->phase = PruneRun::Phase::kAge;
  } else {
    prune->phase = PruneRun::Phase::kFindOverfull;
  }
}

void EventStore::Impl::prune_step() {
  using Phase = PruneRun::Phase;
  std::size_t removed = 0;
  try {
    begin.exec();
    begin.reset();
    switch (prune->phase) {
      case Phase::kAge:
        removed = prune_oldest_by_age();
        if (removed < kPruneChunk) prune->phase = Phase::kFindOverfull;
        break;
      case Phase::kFindOverfull:
        find_overfull_channels();
        prune->phase = Phase::kCount;
        [[fallthrough]];
      case Phase::kCount:
        removed = prune_overfull_channels();
        if (prune->next_overfull >= prune->overfull.size()) prune->phase = Phase::kDeadLetters;
        break;
      case Phase::kDeadLetters:
        prune_dead_letters();
        prune->phase = Phase::kDone;
        break;
      case Phase::kDone:
        break;
    }
    commit.exec();
    commit.reset();
  } catch (const std::exception& error) {
    db.tryExec("ROLLBACK");
    reset_statements();
    spdlog::error("event store: retention failed, will retry at the next interval: {}", error.what());
    prune->phase = Phase::kDone;
    removed = 0;
  }
  prune->removed += removed;
  pruned.fetch_add(removed, std::memory_order_relaxed);
  if (prune->phase == Phase::kDone) finish_prune_run();
}

void EventStore::Impl::finish_prune_run() {
  if (prune->removed > 0) spdlog::debug("event store: retention removed {} events", prune->removed);
  for (auto& waiter : prune->waiters) waiter.set_value(prune->removed);
  prune.reset();
  next_retention = std::chrono::steady_clock::now() + options.retention_interval;
}

void EventStore::Impl::note_pruned(const std::string& channel, std::int64_t through_seq, std::int64_t count) {
  mark_pruned.bindNoCopy(1, channel);
  mark_pruned.bind(2, through_seq);
  mark_pruned.bind(3, count);
  mark_pruned.exec();
  mark_pruned.reset();
}

// stored_ms never decreases along seq (next_stored_ms), so the too-old events are a prefix of the log:
// read the first chunk in rowid order, stop at the first young event, delete the prefix by rowid.
std::size_t EventStore::Impl::prune_oldest_by_age() {
  struct Removed {
    std::int64_t through_seq = 0;
    std::int64_t count = 0;
  };
  std::unordered_map<std::string, Removed> by_channel;
  std::int64_t through_seq = 0;
  std::size_t rows = 0;
  oldest_events.bind(1, static_cast<std::int64_t>(kPruneChunk));
  while (oldest_events.executeStep()) {
    if (oldest_events.getColumn(2).getInt64() >= prune->cutoff_ms) break;
    through_seq = oldest_events.getColumn(0).getInt64();
    Removed& removed = by_channel[oldest_events.getColumn(1).getString()];
    removed.through_seq = through_seq;
    ++removed.count;
    ++rows;
  }
  oldest_events.reset();
  if (rows == 0) return 0;

  delete_through.bind(1, through_seq);
  delete_through.exec();
  delete_through.reset();
  for (const auto& [channel, removed] : by_channel) note_pruned(channel, removed.through_seq, removed.count);
  return rows;
}

// Once per pass: the channels table is small next to the log, and `stored` makes this a plain scan.
void EventStore::Impl::find_overfull_channels() {
  if (options.retention_max_per_channel == 0) return;
  overfull_channels.bind(1, static_cast<std::int64_t>(options.retention_max_per_channel));
  while (overfull_channels.executeStep()) {
    prune->overfull.push_back(
        PruneRun::Overfull{overfull_channels.getColumn(0).getString(),
                           overfull_channels.getColumn(1).getInt64() -
                               static_cast<std::int64_t>(options.retention_max_per_channel)});
  }
  overfull_channels.reset();
}

// Removes each over-full channel's oldest rows, at most kPruneChunk per step. Trimming the excess seen
// at the start of the pass is always safe: the channel can only have grown since.
std::size_t EventStore::Impl::prune_overfull_channels() {
  std::size_t removed = 0;
  while (prune->next_overfull < prune->overfull.size() && removed < kPruneChunk) {
    PruneRun::Overfull& channel = prune->overfull[prune->next_overfull];
    const auto take =
        std::min<std::int64_t>(channel.excess, static_cast<std::int64_t>(kPruneChunk - removed));
    nth_oldest_of_channel.bindNoCopy(1, channel.channel);
    nth_oldest_of_channel.bind(2, take - 1);
    const bool found = nth_oldest_of_channel.executeStep();
    const std::int64_t through_seq = found ? nth_oldest_of_channel.getColumn(0).getInt64() : 0;
    nth_oldest_of_channel.reset();
    if (!found) {  // fewer rows than counted: nothing sensible to trim
      ++prune->next_overfull;
      continue;
    }
    delete_channel_through.bindNoCopy(1, channel.channel);
    delete_channel_through.bind(2, through_seq);
    const int deleted = delete_channel_through.exec();
    delete_channel_through.reset();
    note_pruned(channel.channel, through_seq, deleted);

    removed += static_cast<std::size_t>(deleted);
    channel.excess -= take;
    if (channel.excess <= 0 || deleted == 0) ++prune->next_overfull;
  }
  return removed;
}

// Dead letters are diagnostics: keep the newest kDeadLettersKept and none older than the age limit.
void EventStore::Impl::prune_dead_letters() {
  trim_dead_letters_by_count.bind(1, kDeadLettersKept);
  trim_dead_letters_by_count.exec();
  trim_dead_letters_by_count.reset();
  if (prune->cutoff_ms > 0) {
    trim_dead_letters_by_age.bind(1, prune->cutoff_ms);
    trim_dead_letters_by_age.exec();
    trim_dead_letters_by_age.reset();
  }
}

}  // namespace kabar
