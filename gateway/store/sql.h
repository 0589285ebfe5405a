#pragma once
// Private to kabar_store (and its tests): the schema and every statement the store prepares, in one
// place so the query plans can be checked against the indexes they rely on (docs/store.md).
#include <cstddef>
#include <cstdint>
#include <string>

namespace kabar::store_sql {

// PRAGMA application_id of a kabar event store ("kabr"), so another SQLite file is refused by name.
inline constexpr std::int32_t kApplicationId = 0x6B616272;
// 1: the first schema. 2: events.app. 3: dead_letters.payload_bytes. 4: channel_topics (schema.cpp
// migrates an older file forward on open).
inline constexpr std::int64_t kSchemaVersion = 4;
inline constexpr const char* kFileName = "kabar.db";

// events: seq is the rowid (INTEGER PRIMARY KEY), so the log is stored in seq order and age pruning
// deletes a prefix. The index on (channel) is physically (channel, seq) because every SQLite index
// entry ends with the rowid; naming seq again would only store it twice.
// channels: one row per channel ever written, never deleted: pruned_through/last_seq answer
// channel_bounds() with one lookup, `stored` (rows currently held) lets retention find over-full
// channels without counting. last_seq only grows, so max(last_seq) is the highest seq ever assigned:
// that is what keeps seq from being reused after retention removed the newest rows of the log (no
// extra page write per commit for a separate counter).
// events.app: the Pusher app whose REST API published the event, NULL for every app (version 2; last
// so that a version 1 file migrated with ADD COLUMN has the very same layout as a new one).
// dead_letters.payload_bytes: the size of the payload as it came; `payload` holds at most
// kDeadLetterPayloadMax bytes of it (version 3; NULL in rows written before: kept whole).
// channel_topics: every (MQTT topic, channel) pair an event was stored with, never deleted (version 4):
// a topic subscription (docs/protocol.md "Topic subscriptions") is the set of channels whose topics match
// its filter, found here without a scan of the log. One row per pair: a few per route and branch.
// meta: epoch and schema_version.
inline constexpr const char* kCreateSchema = R"sql(
CREATE TABLE meta(key TEXT PRIMARY KEY, value ANY NOT NULL) WITHOUT ROWID;
CREATE TABLE events(
  seq INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  channel TEXT NOT NULL,
  event TEXT NOT NULL,
  data TEXT NOT NULL,
  socket_id TEXT NOT NULL,
  time_ms INTEGER NOT NULL,
  stored_ms INTEGER NOT NULL,
  topic TEXT NOT NULL,
  app TEXT);
CREATE INDEX events_by_channel ON events(channel);
CREATE TABLE channels(
  name TEXT PRIMARY KEY,
  pruned_through INTEGER NOT NULL DEFAULT 0,
  last_seq INTEGER NOT NULL DEFAULT 0,
  stored INTEGER NOT NULL DEFAULT 0) WITHOUT ROWID;
CREATE TABLE dead_letters(
  id INTEGER PRIMARY KEY,
  time_ms INTEGER NOT NULL,
  topic TEXT NOT NULL,
  payload TEXT NOT NULL,
  reason TEXT NOT NULL,
  payload_bytes INTEGER);
CREATE TABLE channel_topics(
  topic TEXT NOT NULL,
  channel TEXT NOT NULL,
  PRIMARY KEY(topic, channel)) WITHOUT ROWID;
)sql";

// Version 1 -> 2. ADD COLUMN with no default only edits the table definition: no row is rewritten, so
// migrating a big log is instant.
inline constexpr const char* kMigrateTo2 = "ALTER TABLE events ADD COLUMN app TEXT";
inline constexpr const char* kMigrateTo3 = "ALTER TABLE dead_letters ADD COLUMN payload_bytes INTEGER";
// Version 3 -> 4: the pairs of the events still held (one scan of the log, once).
inline constexpr const char* kMigrateTo4 = R"sql(
CREATE TABLE channel_topics(
  topic TEXT NOT NULL,
  channel TEXT NOT NULL,
  PRIMARY KEY(topic, channel)) WITHOUT ROWID;
INSERT OR IGNORE INTO channel_topics(topic, channel) SELECT DISTINCT topic, channel FROM events WHERE topic <> '';
)sql";

// --- writer ---
inline constexpr const char* kInsertEvent =
    "INSERT INTO events(seq, id, channel, event, data, socket_id, time_ms, stored_ms, topic, app) "
    "VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT(id) DO NOTHING";
inline constexpr const char* kSeqOfId = "SELECT seq FROM events WHERE id = ?1";
// The events whose id is a derived id (?1) or one of its repeats ("<id>.<n>"): ?2 is ?1 + "/".
inline constexpr const char* kDerivedRepeats =
    "SELECT count(*), max(stored_ms) FROM events WHERE id >= ?1 AND id < ?2";
// The id of the event at a seq (a position's anchor).
inline constexpr const char* kIdOfSeq = "SELECT id FROM events WHERE seq = ?1";
inline constexpr const char* kTouchChannel =
    "INSERT INTO channels(name, last_seq, stored) VALUES(?1, ?2, ?3) ON CONFLICT(name) DO UPDATE SET "
    "last_seq = excluded.last_seq, stored = stored + excluded.stored";
inline constexpr const char* kInsertChannelTopic =
    "INSERT INTO channel_topics(topic, channel) VALUES(?1, ?2) ON CONFLICT DO NOTHING";
inline constexpr const char* kInsertDeadLetter =
    "INSERT INTO dead_letters(time_ms, topic, payload, reason, payload_bytes) VALUES(?1, ?2, ?3, ?4, ?5)";

// --- retention (writer thread) ---
inline constexpr const char* kOldestEvents =
    "SELECT seq, channel, stored_ms FROM events ORDER BY seq LIMIT ?1";
inline constexpr const char* kDeleteThrough = "DELETE FROM events WHERE seq <= ?1";
inline constexpr const char* kOverfullChannels = "SELECT name, stored FROM channels WHERE stored > ?1";
inline constexpr const char* kNthOldestOfChannel =
    "SELECT seq FROM events WHERE channel = ?1 ORDER BY seq LIMIT 1 OFFSET ?2";
inline constexpr const char* kDeleteChannelThrough = "DELETE FROM events WHERE channel = ?1 AND seq <= ?2";
inline constexpr const char* kMarkPruned =
    "UPDATE channels SET pruned_through = max(pruned_through, ?2), stored = stored - ?3 WHERE name = ?1";
inline constexpr const char* kTrimDeadLettersByCount =
    "DELETE FROM dead_letters WHERE id <= (SELECT max(id) FROM dead_letters) - ?1";
inline constexpr const char* kTrimDeadLettersByAge = "DELETE FROM dead_letters WHERE time_ms < ?1";

// --- readers ---
inline constexpr const char* kEventColumns = "seq, id, channel, event, data, socket_id, time_ms, topic, app";
// ?2: an app id, or NULL for any event. With an app, the newest event that app may see (its own or one
// without an app): the index is walked backwards from the channel's end until one qualifies.
inline constexpr const char* kLatestOfChannel =
    "SELECT seq, id, channel, event, data, socket_id, time_ms, topic, app FROM events WHERE channel = ?1 "
    "AND (?2 IS NULL OR app IS NULL OR app = ?2) ORDER BY seq DESC LIMIT 1";
// since=latest: the seq of the newest event of a channel at or below ?2 (the head a subscription or a
// history page starts from), so an event committed after that head is never taken for the "latest" and
// skipped over. The index holds (channel, seq): answered from the index alone, walking it backwards.
inline constexpr const char* kLatestSeqOfChannel =
    "SELECT seq FROM events WHERE channel = ?1 AND seq <= ?2 ORDER BY seq DESC LIMIT 1";
inline constexpr const char* kChannelTopics = "SELECT topic, channel FROM channel_topics";
inline constexpr const char* kChannelBounds = "SELECT pruned_through, last_seq FROM channels WHERE name = ?1";
inline constexpr const char* kNewestDeadLetters =
    "SELECT id, time_ms, topic, payload, reason, payload_bytes FROM dead_letters ORDER BY id DESC LIMIT ?1";
// Paging /api/dead-letters: the topics first (no payload read for letters the reader may not see), newest
// first below a cursor (?1: the exclusive upper id bound), then the chosen letters whole, one by one.
inline constexpr const char* kDeadLetterTopics =
    "SELECT id, topic FROM dead_letters WHERE id < ?1 ORDER BY id DESC LIMIT ?2";
inline constexpr const char* kDeadLetterById =
    "SELECT id, time_ms, topic, payload, reason, payload_bytes FROM dead_letters WHERE id = ?1";

// read_after over `channel_count` channels: parameters ?1..?N are the channels, ?N+1 the cursor
// (after_seq), ?N+2 the limit. One channel is a single index range scan; several are a UNION ALL of
// per-channel index range scans, which SQLite merges lazily by seq (MERGE (UNION ALL), no temp B-tree)
// and stops reading once the limit is reached, so the cost follows the rows returned, not the history.
std::string read_after_query(std::size_t channel_count);

}  // namespace kabar::store_sql
