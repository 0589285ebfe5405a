#include "gateway/store/schema.h"

#include <SQLiteCpp/Statement.h>
#include <SQLiteCpp/Transaction.h>
#include <sqlite3.h>

#include <algorithm>
#include <optional>
#include <random>

#include "gateway/store/event_store.h"
#include "gateway/store/sql.h"

namespace kabar::store_schema {
namespace fs = std::filesystem;
namespace {

void prepare_data_dir(const fs::path& dir) {
  std::error_code ec;
  const auto status = fs::status(dir, ec);
  if (fs::exists(status) && !fs::is_directory(status)) {
    throw StoreError("data_dir '" + dir.string() + "' exists but is not a directory");
  }
  fs::create_directories(dir, ec);
  if (ec) throw StoreError("cannot create data_dir '" + dir.string() + "': " + ec.message());
}

std::int64_t query_int(SQLite::Database& db, const char* sql) {
  SQLite::Statement query(db, sql);
  return query.executeStep() ? query.getColumn(0).getInt64() : 0;
}

// 48 random bits as 12 lowercase hex chars: enough that two stores never share an epoch in practice.
std::string new_epoch() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device random;
  std::string epoch(12, '0');
  for (char& c : epoch) c = kHex[random() & 0xF];
  return epoch;
}

enum class FileKind { kNew, kKabar, kForeign };

// Reading the header is also what makes SQLite notice a file that is not a database at all.
FileKind classify(SQLite::Database& db) {
  const auto application_id = query_int(db, "PRAGMA application_id");
  if (application_id == store_sql::kApplicationId) return FileKind::kKabar;
  const auto objects = query_int(db, "SELECT count(*) FROM sqlite_schema");
  return application_id == 0 && objects == 0 ? FileKind::kNew : FileKind::kForeign;
}

void use_wal(SQLite::Database& db, bool fsync) {
  SQLite::Statement journal(db, "PRAGMA journal_mode = WAL");
  if (!journal.executeStep() || journal.getColumn(0).getString() != "wal") {
    throw StoreError("cannot switch the database to WAL mode");
  }
  // WAL + NORMAL: a commit survives a killed process (the WAL is written before commit returns) but
  // not a power loss; FULL also fsyncs the WAL on every commit.
  db.exec(fsync ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL");
  db.exec("PRAGMA cache_size = -16384");  // 16 MiB: keeps the hot index pages of the writer in memory
  db.exec("PRAGMA temp_store = MEMORY");
}

void create_schema(SQLite::Database& db) {
  SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
  db.exec(store_sql::kCreateSchema);
  SQLite::Statement put(db, "INSERT INTO meta(key, value) VALUES(?1, ?2)");
  auto put_value = [&put](const char* key, auto value) {
    put.bind(1, key);
    put.bind(2, value);
    put.exec();
    put.reset();
  };
  put_value("epoch", new_epoch());
  put_value("schema_version", store_sql::kSchemaVersion);
  db.exec("PRAGMA application_id = " + std::to_string(store_sql::kApplicationId));
  transaction.commit();
}

// Reads one meta value; the statement is reset before returning so no row outlives the call.
template <typename T>
std::optional<T> meta_value(SQLite::Statement& get, const char* key) {
  get.reset();
  get.bind(1, key);
  std::optional<T> value;
  if (get.executeStep()) value = get.getColumn(0).operator T();
  get.reset();
  return value;
}

// Brings a store written by an older kabar up to kSchemaVersion, in one transaction, so a failure
// leaves the file as it was. Migrations only ever add: an older kabar is refused by the version check.
void migrate(SQLite::Database& db, std::int64_t from_version) {
  SQLite::Transaction transaction(db, SQLite::TransactionBehavior::IMMEDIATE);
  if (from_version < 2) db.exec(store_sql::kMigrateTo2);
  if (from_version < 3) db.exec(store_sql::kMigrateTo3);
  if (from_version < 4) db.exec(store_sql::kMigrateTo4);
  SQLite::Statement put(db, "UPDATE meta SET value = ?1 WHERE key = 'schema_version'");
  put.bind(1, store_sql::kSchemaVersion);
  put.exec();
  transaction.commit();
}

void load_state(OpenedStore& store) {
  SQLite::Statement get(store.db, "SELECT value FROM meta WHERE key = ?1");
  const auto version = meta_value<std::int64_t>(get, "schema_version");
  if (!version) throw StoreError("the meta table has no schema_version (damaged store)");
  if (*version > store_sql::kSchemaVersion) {
    throw StoreError("the store has schema version " + std::to_string(*version) +
                     ", newer than this kabar understands (" + std::to_string(store_sql::kSchemaVersion) +
                     ")");
  }
  if (*version < store_sql::kSchemaVersion) migrate(store.db, *version);
  const auto epoch = meta_value<std::string>(get, "epoch");
  if (!epoch || epoch->empty()) throw StoreError("the meta table has no epoch (damaged store)");
  store.epoch = *epoch;
  // channels.last_seq is never lowered by retention; max(seq) is a second opinion that costs one lookup.
  store.head_seq = std::max(query_int(store.db, "SELECT coalesce(max(last_seq), 0) FROM channels"),
                            query_int(store.db, "SELECT coalesce(max(seq), 0) FROM events"));
  store.last_stored_ms =
      query_int(store.db, "SELECT coalesce((SELECT stored_ms FROM events ORDER BY seq DESC LIMIT 1), 0)");
}

std::string describe(const SQLite::Exception& error) {
  std::string text = error.what();
  switch (error.getErrorCode()) {
    case SQLITE_NOTADB:
      text += " (not a SQLite database: move the file away or point data_dir elsewhere)";
      break;
    case SQLITE_CORRUPT:
      text += " (the database is damaged: restore it from a backup or move it away)";
      break;
    default:
      break;
  }
  return text;
}

}  // namespace

fs::path db_file(const fs::path& data_dir) { return data_dir / store_sql::kFileName; }

OpenedStore open_for_writing(const fs::path& data_dir, bool fsync) {
  prepare_data_dir(data_dir);
  const fs::path file = db_file(data_dir);
  try {
    OpenedStore store{
        SQLite::Database(file, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE | SQLite::OPEN_NOMUTEX,
                         kBusyTimeoutMs),
        {},
        0,
        0};
    const FileKind kind = classify(store.db);
    if (kind == FileKind::kForeign) {
      throw StoreError(
          "is a SQLite database but not a kabar event store (no kabar application_id); "
          "refusing to modify it");
    }
    use_wal(store.db, fsync);
    if (kind == FileKind::kNew) create_schema(store.db);
    load_state(store);
    return store;
  } catch (const SQLite::Exception& error) {
    throw StoreError("cannot open event store '" + file.string() + "': " + describe(error));
  } catch (const StoreError& error) {
    throw StoreError("cannot open event store '" + file.string() + "': " + error.what());
  }
}

SQLite::Database open_for_reading(const fs::path& file) {
  SQLite::Database db(file, SQLite::OPEN_READONLY | SQLite::OPEN_NOMUTEX, kBusyTimeoutMs);
  // Replay touches rows spread over the whole file; mapping it avoids a read() and a copy per page.
  db.exec("PRAGMA mmap_size = 268435456");
  return db;
}

}  // namespace kabar::store_schema
