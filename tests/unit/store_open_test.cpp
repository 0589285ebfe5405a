// Opening a store: what happens with files and folders that are not a usable kabar store, and the
// schema and query plans the store relies on.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <random>

#include "gateway/store/event_store.h"
#include "gateway/store/sql.h"

namespace kabar {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    path_ = fs::temp_directory_path() /
            ("kabar-store-open-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++) + "-" +
             std::to_string(std::random_device{}()));
    fs::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

StoreOptions options_for(const fs::path& dir) {
  StoreOptions options;
  options.data_dir = dir;
  options.retention_interval = std::chrono::milliseconds(0);
  return options;
}

// The message of the StoreError thrown when opening `dir`, or "" if it opened.
std::string open_error(const fs::path& dir) {
  try {
    EventStore store(options_for(dir));
  } catch (const StoreError& error) {
    return error.what();
  }
  return "";
}

TEST(StoreOpen, CreatesAMissingDataDirWithWalDatabase) {
  TempDir tmp;
  const fs::path dir = tmp.path() / "nested" / "data";
  { EventStore store(options_for(dir)); }
  ASSERT_TRUE(fs::exists(dir / "kabar.db"));
  SQLite::Database db(dir / "kabar.db");
  EXPECT_EQ(db.execAndGet("PRAGMA journal_mode").getString(), "wal");
  EXPECT_EQ(db.execAndGet("PRAGMA application_id").getInt(), store_sql::kApplicationId);
}

TEST(StoreOpen, GarbageFileIsReportedWithItsPath) {
  TempDir tmp;
  const std::string garbage(8192, 'x');
  std::ofstream(tmp.path() / "kabar.db", std::ios::binary) << "this is not a database\n" << garbage;

  const std::string error = open_error(tmp.path());
  EXPECT_THAT(error, HasSubstr((tmp.path() / "kabar.db").string()));
  EXPECT_THAT(error, HasSubstr("not a database"));
}

TEST(StoreOpen, ForeignSqliteDatabaseIsRefusedAndLeftUntouched) {
  TempDir tmp;
  const fs::path file = tmp.path() / "kabar.db";
  {
    SQLite::Database foreign(file, SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    foreign.exec("CREATE TABLE invoices(id INTEGER PRIMARY KEY); INSERT INTO invoices VALUES(1)");
  }
  const std::string error = open_error(tmp.path());
  EXPECT_THAT(error, HasSubstr(file.string()));
  EXPECT_THAT(error, HasSubstr("not a kabar event store"));

  SQLite::Database foreign(file);
  EXPECT_EQ(foreign.execAndGet("SELECT count(*) FROM invoices").getInt(), 1);
  EXPECT_EQ(foreign.execAndGet("PRAGMA journal_mode").getString(), "delete");
}

TEST(StoreOpen, DataDirThatIsAFileIsRefused) {
  TempDir tmp;
  const fs::path file = tmp.path() / "data";
  std::ofstream(file) << "x";
  EXPECT_THAT(open_error(file), HasSubstr("not a directory"));
  EXPECT_THAT(open_error(file / "below"), HasSubstr("cannot create data_dir"));
}

TEST(StoreOpen, NewerSchemaVersionIsRefused) {
  TempDir tmp;
  { EventStore store(options_for(tmp.path())); }
  {
    SQLite::Database db(tmp.path() / "kabar.db", SQLite::OPEN_READWRITE);
    db.exec("UPDATE meta SET value = 99 WHERE key = 'schema_version'");
  }
  EXPECT_THAT(open_error(tmp.path()), HasSubstr("schema version 99"));
}

// The schema of version 1 exactly as kabar wrote it, before events.app existed.
constexpr const char* kVersion1Schema = R"sql(
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
  topic TEXT NOT NULL);
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
  reason TEXT NOT NULL);
INSERT INTO meta(key, value) VALUES('epoch', 'abcdef012345'), ('schema_version', 1);
INSERT INTO events VALUES(7, 'old-1', 'dokumen.1', 'dokumen.updated', '{"a":1}', '', 1700000000000,
                          1700000000000, 'dokumen/1/updated');
INSERT INTO channels(name, last_seq, stored) VALUES('dokumen.1', 7, 1);
)sql";

TEST(StoreMigration, Version1StoreIsMigratedKeepingItsEventsAndPositions) {
  TempDir tmp;
  {
    SQLite::Database v1(tmp.path() / "kabar.db", SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
    v1.exec(kVersion1Schema);
    v1.exec("PRAGMA application_id = " + std::to_string(store_sql::kApplicationId));
  }
  {
    EventStore store(options_for(tmp.path()));
    EXPECT_EQ(store.epoch(), "abcdef012345");  // positions handed out before stay valid
    const auto old = store.read_after({"dokumen.1"}, 0, 10);
    ASSERT_EQ(old.size(), 1u);
    EXPECT_EQ(old[0].seq, 7);
    EXPECT_EQ(old[0].envelope.data, R"({"a":1})");
    EXPECT_EQ(old[0].envelope.app, "");  // events of version 1 belong to every app

    Envelope tagged;
    tagged.id = "new-1";
    tagged.event = "e";
    tagged.channel = "dokumen.1";
    tagged.data = "1";
    tagged.app = "shop-a";
    EXPECT_EQ(store.append(tagged).seq, 8);  // seq continues after the old head
    EXPECT_EQ(store.read_after({"dokumen.1"}, 7, 10).at(0).envelope.app, "shop-a");
  }
  SQLite::Database db(tmp.path() / "kabar.db");
  EXPECT_EQ(db.execAndGet("SELECT value FROM meta WHERE key = 'schema_version'").getInt64(),
            store_sql::kSchemaVersion);
  EXPECT_EQ(db.execAndGet("SELECT count(*) FROM events WHERE app IS NULL").getInt(), 1);
  {
    // Version 4: the topics of the events held were filled in (a topic subscription finds dokumen.1).
    EventStore reopened(options_for(tmp.path()));
    const auto pairs = reopened.channel_topics();
    ASSERT_EQ(pairs.size(), 1u);
    EXPECT_EQ(pairs[0].topic, "dokumen/1/updated");
    EXPECT_EQ(pairs[0].channel, "dokumen.1");
  }
  { EventStore reopened(options_for(tmp.path())); }  // opening a migrated store again changes nothing
  EXPECT_EQ(open_error(tmp.path()), "");
}

// The query plans behind the performance promises: replay reads only the rows it returns.
class QueryPlan : public ::testing::Test {
 protected:
  void SetUp() override { EventStore store(options_for(tmp_.path())); }

  std::vector<std::string> plan(const std::string& sql) {
    SQLite::Database db(tmp_.path() / "kabar.db");
    SQLite::Statement explain(db, "EXPLAIN QUERY PLAN " + sql);
    std::vector<std::string> details;
    while (explain.executeStep()) details.push_back(explain.getColumn(3).getString());
    return details;
  }

  TempDir tmp_;
};

std::string joined(const std::vector<std::string>& lines) {
  std::string text;
  for (const auto& line : lines) text += line + "\n";
  return text;
}

TEST_F(QueryPlan, ReadAfterIsAnIndexRangeScanPerChannelWithoutSorting) {
  for (std::size_t channels : {1u, 3u, 64u}) {
    const auto steps = plan(store_sql::read_after_query(channels));
    std::size_t range_scans = 0;
    for (const auto& step : steps) {
      if (step.find("SEARCH events USING INDEX events_by_channel (channel=? AND rowid>?)") !=
          std::string::npos) {
        ++range_scans;
      }
    }
    EXPECT_EQ(range_scans, channels) << joined(steps);
    EXPECT_THAT(joined(steps), ::testing::Not(HasSubstr("SCAN events"))) << joined(steps);
    EXPECT_THAT(joined(steps), ::testing::Not(HasSubstr("TEMP B-TREE"))) << joined(steps);
  }
}

TEST_F(QueryPlan, ChannelLookupsUseTheChannelIndex) {
  for (const char* sql : {store_sql::kLatestOfChannel, store_sql::kLatestSeqOfChannel,
                          store_sql::kNthOldestOfChannel, store_sql::kDeleteChannelThrough}) {
    const std::string steps = joined(plan(sql));
    EXPECT_THAT(steps, HasSubstr("events_by_channel")) << sql;
    EXPECT_THAT(steps, ::testing::Not(HasSubstr("TEMP B-TREE"))) << sql;
  }
}

// since=latest reads one index entry: no row of the table, no sort.
TEST_F(QueryPlan, LatestSeqIsOneStepBackwardsInTheChannelIndex) {
  const std::string steps = joined(plan(store_sql::kLatestSeqOfChannel));
  EXPECT_THAT(steps,
              HasSubstr("SEARCH events USING COVERING INDEX events_by_channel (channel=? AND rowid<?)"))
      << steps;
  EXPECT_THAT(steps, ::testing::Not(HasSubstr("TEMP B-TREE"))) << steps;
}

}  // namespace
}  // namespace kabar
