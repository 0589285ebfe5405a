#include "gateway/store/reader_pool.h"

#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <algorithm>
#include <limits>

#include "gateway/store/schema.h"
#include "gateway/store/sql.h"

namespace kabar::store_detail {
namespace {

// Channels per read_after statement. More are read as several statements inside one read transaction;
// the cap keeps the SQL short and the merge tree shallow.
constexpr std::size_t kMaxChannelsPerQuery = 64;
// Idle connections kept for reuse; more concurrent readers still work, the surplus is closed after use.
constexpr std::size_t kMaxIdleConnections = 8;
// Reserve at most this many result slots up front (limit may be "everything").
constexpr std::size_t kMaxReserve = 4096;

std::int64_t to_sql_limit(std::size_t limit) {
  constexpr auto kMax = static_cast<std::size_t>(std::numeric_limits<std::int64_t>::max());
  return static_cast<std::int64_t>(std::min(limit, kMax));
}

// Resets a statement when a read is done (or fails), ending its implicit read transaction: a statement
// left mid-result would pin an old WAL snapshot, hiding new events and blocking checkpoints.
class ResetOnExit {
 public:
  explicit ResetOnExit(SQLite::Statement& statement) : statement_(statement) {}
  ~ResetOnExit() { statement_.tryReset(); }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  SQLite::Statement& statement_;
};

// Column order: store_sql::kEventColumns.
StoredEvent event_from_row(const SQLite::Statement& row) {
  StoredEvent stored;
  stored.seq = row.getColumn(0).getInt64();
  Envelope& envelope = stored.envelope;
  envelope.id = row.getColumn(1).getString();
  envelope.channel = row.getColumn(2).getString();
  envelope.event = row.getColumn(3).getString();
  envelope.data = row.getColumn(4).getString();
  envelope.socket_id = row.getColumn(5).getString();
  envelope.time_ms = row.getColumn(6).getInt64();
  envelope.topic = row.getColumn(7).getString();
  if (!row.getColumn(8).isNull()) envelope.app = row.getColumn(8).getString();
  return stored;
}

// Column order: kNewestDeadLetters / kDeadLetterById. Rows from before schema version 3 have no
// payload_bytes: they were kept whole.
DeadLetter dead_letter_from_row(const SQLite::Statement& row) {
  DeadLetter letter{row.getColumn(0).getInt64(), row.getColumn(1).getInt64(), row.getColumn(2).getString(),
                    row.getColumn(3).getString(), row.getColumn(4).getString(), 0};
  letter.payload_bytes = row.getColumn(5).isNull() ? static_cast<std::int64_t>(letter.payload.size())
                                                   : row.getColumn(5).getInt64();
  return letter;
}

}  // namespace

struct ReaderPool::Connection {
  explicit Connection(const std::filesystem::path& file)
      : db(store_schema::open_for_reading(file)),
        latest(db, store_sql::kLatestOfChannel),
        latest_seq(db, store_sql::kLatestSeqOfChannel),
        bounds(db, store_sql::kChannelBounds),
        seq_of_id(db, store_sql::kSeqOfId),
        channel_topics(db, store_sql::kChannelTopics),
        dead_letters(db, store_sql::kNewestDeadLetters),
        dead_letter_topics(db, store_sql::kDeadLetterTopics),
        dead_letter_by_id(db, store_sql::kDeadLetterById) {}

  // Prepared once per connection and channel count, then reused.
  SQLite::Statement& read_after(std::size_t channel_count) {
    if (read_after_by_count.size() < channel_count) read_after_by_count.resize(channel_count);
    auto& statement = read_after_by_count[channel_count - 1];
    if (!statement) {
      statement = std::make_unique<SQLite::Statement>(db, store_sql::read_after_query(channel_count));
    }
    return *statement;
  }

  // Appends the events of `channels` (at most kMaxChannelsPerQuery) after `after_seq` to `out`.
  void read_group(const std::string* const* channels, std::size_t count, std::int64_t after_seq,
                  std::int64_t limit, std::vector<StoredEvent>& out) {
    SQLite::Statement& query = read_after(count);
    ResetOnExit reset(query);
    const int n = static_cast<int>(count);
    for (int i = 0; i < n; ++i) {
      query.bindNoCopy(i + 1, *channels[i]);  // std::string overload: bound as TEXT, not BLOB
    }
    query.bind(n + 1, after_seq);
    query.bind(n + 2, limit);
    while (query.executeStep()) out.push_back(event_from_row(query));
  }

  SQLite::Database db;
  SQLite::Statement latest;
  SQLite::Statement latest_seq;
  SQLite::Statement bounds;
  SQLite::Statement seq_of_id;
  SQLite::Statement channel_topics;
  SQLite::Statement dead_letters;
  SQLite::Statement dead_letter_topics;
  SQLite::Statement dead_letter_by_id;
  std::vector<std::unique_ptr<SQLite::Statement>> read_after_by_count;
};

ReaderPool::ReaderPool(std::filesystem::path db_file) : db_file_(std::move(db_file)) {}

ReaderPool::~ReaderPool() = default;

std::unique_ptr<ReaderPool::Connection> ReaderPool::acquire() {
  {
    std::lock_guard lock(mutex_);
    if (!idle_.empty()) {
      auto connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
  }
  return std::make_unique<Connection>(db_file_);  // opened outside the lock: other readers go on
}

void ReaderPool::release(std::unique_ptr<Connection> connection) {
  std::lock_guard lock(mutex_);
  if (idle_.size() < kMaxIdleConnections) idle_.push_back(std::move(connection));
}

template <typename Read>
auto ReaderPool::with_connection(Read&& read) {
  try {
    auto connection = acquire();
    auto result = read(*connection);
    release(std::move(connection));
    return result;
  } catch (const SQLite::Exception& error) {
    throw StoreError("reading the event store '" + db_file_.string() + "' failed: " + error.what());
  }
}

std::vector<StoredEvent> ReaderPool::read_after(const std::vector<std::string>& channels,
                                                std::int64_t after_seq, std::size_t limit) {
  if (limit == 0 || channels.empty()) return {};
  // A channel named twice would return its events twice.
  std::vector<const std::string*> wanted;
  wanted.reserve(channels.size());
  for (const auto& channel : channels) wanted.push_back(&channel);
  const auto by_name = [](const std::string* a, const std::string* b) { return *a < *b; };
  const auto same_name = [](const std::string* a, const std::string* b) { return *a == *b; };
  std::sort(wanted.begin(), wanted.end(), by_name);
  wanted.erase(std::unique(wanted.begin(), wanted.end(), same_name), wanted.end());
  const std::int64_t sql_limit = to_sql_limit(limit);

  return with_connection([&](Connection& connection) {
    std::vector<StoredEvent> events;
    events.reserve(std::min(limit, kMaxReserve));
    if (wanted.size() <= kMaxChannelsPerQuery) {
      connection.read_group(wanted.data(), wanted.size(), after_seq, sql_limit, events);
      return events;
    }
    // Several statements must see one snapshot: otherwise a later group could include an event newer
    // than one a concurrent commit added to an earlier group, and the caller's cursor would skip it.
    connection.db.exec("BEGIN");
    try {
      for (std::size_t first = 0; first < wanted.size(); first += kMaxChannelsPerQuery) {
        const std::size_t count = std::min(kMaxChannelsPerQuery, wanted.size() - first);
        connection.read_group(wanted.data() + first, count, after_seq, sql_limit, events);
      }
    } catch (...) {
      connection.db.tryExec("ROLLBACK");
      throw;
    }
    connection.db.exec("COMMIT");
    std::sort(events.begin(), events.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
    if (events.size() > limit) events.resize(limit);
    return events;
  });
}

std::optional<StoredEvent> ReaderPool::latest(const std::string& channel, const std::string& visible_to_app) {
  return with_connection([&](Connection& connection) -> std::optional<StoredEvent> {
    ResetOnExit reset(connection.latest);
    connection.latest.bindNoCopy(1, channel);
    if (visible_to_app.empty()) {
      connection.latest.bind(2);  // NULL: any event
    } else {
      connection.latest.bindNoCopy(2, visible_to_app);
    }
    if (!connection.latest.executeStep()) return std::nullopt;
    return event_from_row(connection.latest);
  });
}

std::optional<std::int64_t> ReaderPool::latest_seq(const std::string& channel, std::int64_t through_seq) {
  return with_connection([&](Connection& connection) -> std::optional<std::int64_t> {
    auto& query = connection.latest_seq;
    ResetOnExit reset(query);
    query.bindNoCopy(1, channel);
    query.bind(2, through_seq);
    if (!query.executeStep()) return std::nullopt;
    return query.getColumn(0).getInt64();
  });
}

ChannelBounds ReaderPool::channel_bounds(const std::string& channel) {
  return with_connection([&](Connection& connection) {
    ResetOnExit reset(connection.bounds);
    connection.bounds.bindNoCopy(1, channel);
    ChannelBounds bounds;
    if (connection.bounds.executeStep()) {
      bounds.pruned_through = connection.bounds.getColumn(0).getInt64();
      bounds.last_seq = connection.bounds.getColumn(1).getInt64();
    }
    return bounds;
  });
}

std::optional<std::int64_t> ReaderPool::seq_of(const std::string& id) {
  return with_connection([&](Connection& connection) -> std::optional<std::int64_t> {
    ResetOnExit reset(connection.seq_of_id);
    connection.seq_of_id.bindNoCopy(1, id);
    if (!connection.seq_of_id.executeStep()) return std::nullopt;
    return connection.seq_of_id.getColumn(0).getInt64();
  });
}

std::vector<ChannelTopic> ReaderPool::channel_topics() {
  return with_connection([&](Connection& connection) {
    ResetOnExit reset(connection.channel_topics);
    std::vector<ChannelTopic> pairs;
    while (connection.channel_topics.executeStep()) {
      pairs.push_back(
          ChannelTopic{connection.channel_topics.getColumn(0).getString(), connection.channel_topics.getColumn(1).getString()});
    }
    return pairs;
  });
}

std::vector<DeadLetter> ReaderPool::dead_letters(std::size_t limit) {
  if (limit == 0) return {};
  return with_connection([&](Connection& connection) {
    ResetOnExit reset(connection.dead_letters);
    connection.dead_letters.bind(1, to_sql_limit(limit));
    std::vector<DeadLetter> letters;
    while (connection.dead_letters.executeStep()) letters.push_back(dead_letter_from_row(connection.dead_letters));
    return letters;
  });
}

std::vector<DeadLetterTopic> ReaderPool::dead_letter_topics(std::int64_t before_id, std::size_t limit) {
  if (limit == 0) return {};
  return with_connection([&](Connection& connection) {
    auto& query = connection.dead_letter_topics;
    ResetOnExit reset(query);
    query.bind(1, before_id);
    query.bind(2, to_sql_limit(limit));
    std::vector<DeadLetterTopic> topics;
    while (query.executeStep()) topics.push_back({query.getColumn(0).getInt64(), query.getColumn(1).getString()});
    return topics;
  });
}

std::vector<DeadLetter> ReaderPool::dead_letters_by_id(const std::vector<std::int64_t>& ids) {
  if (ids.empty()) return {};
  return with_connection([&](Connection& connection) {
    auto& query = connection.dead_letter_by_id;
    std::vector<DeadLetter> letters;
    for (const std::int64_t id : ids) {
      ResetOnExit reset(query);
      query.bind(1, id);
      if (query.executeStep()) letters.push_back(dead_letter_from_row(query));
    }
    return letters;
  });
}

}  // namespace kabar::store_detail
