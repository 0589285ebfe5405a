#pragma once
// Private to kabar_store: opening the database file, creating or validating the kabar schema.
#include <SQLiteCpp/Database.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace kabar::store_schema {

// What the writer needs to know about a store it has just opened.
struct OpenedStore {
  SQLite::Database db;
  std::string epoch;
  std::int64_t head_seq = 0;        // highest seq ever assigned (0: none)
  std::int64_t last_stored_ms = 0;  // stored_ms of the newest event, to keep stored_ms non-decreasing
};

inline constexpr int kBusyTimeoutMs = 5000;

// Creates data_dir if needed and opens data_dir/kabar.db for writing (WAL), creating the schema in a
// new file. Throws StoreError naming the path and the problem.
OpenedStore open_for_writing(const std::filesystem::path& data_dir, bool fsync);

// A read-only connection to an already opened store (used by reader threads).
SQLite::Database open_for_reading(const std::filesystem::path& db_file);

std::filesystem::path db_file(const std::filesystem::path& data_dir);

}  // namespace kabar::store_schema
