#include "gateway/store/checkpointer.h"

#include <spdlog/spdlog.h>
#include <sqlite3.h>

#include "gateway/store/schema.h"

namespace kabar::store_detail {

Checkpointer::Checkpointer(SQLite::Database& writer, const std::filesystem::path& db_file)
    : writer_(writer),
      connection_(db_file, SQLite::OPEN_READWRITE | SQLite::OPEN_NOMUTEX, store_schema::kBusyTimeoutMs) {
  thread_ = std::thread([this] { run(); });
  sqlite3_wal_hook(writer_.getHandle(), &Checkpointer::on_commit, this);
}

Checkpointer::~Checkpointer() {
  // Back to SQLite's own automatic checkpoints for whatever the writer still commits.
  sqlite3_wal_autocheckpoint(writer_.getHandle(), 1000);
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

// Runs on the writer thread after every commit: one atomic load in the common case.
int Checkpointer::on_commit(void* self, sqlite3* db, const char* schema, int wal_pages) {
  auto* checkpointer = static_cast<Checkpointer*>(self);
  if (wal_pages >= kWriterPages || checkpointer->copied_.exchange(false)) {
    sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
  } else if (wal_pages >= kStartPages && !checkpointer->requested_.exchange(true)) {
    std::lock_guard lock(checkpointer->mutex_);  // so the wake-up cannot slip between check and wait
    checkpointer->wake_.notify_one();
  }
  return SQLITE_OK;
}

void Checkpointer::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || requested_.load(); });
    if (stopping_) return;
    lock.unlock();
    int wal_pages = 0;
    int copied = 0;
    const int rc = sqlite3_wal_checkpoint_v2(connection_.getHandle(), nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                             &wal_pages, &copied);
    if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
      spdlog::warn("event store: WAL checkpoint failed: {}", sqlite3_errstr(rc));
    }
    copied_ = rc == SQLITE_OK;
    requested_ = false;  // the next commit past the threshold asks again
    lock.lock();
  }
}

}  // namespace kabar::store_detail
