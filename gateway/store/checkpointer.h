#pragma once
// Private to kabar_store: moves WAL checkpoints off the writer thread.
//
// SQLite's automatic checkpoint runs inside the COMMIT that crosses the threshold, so every few
// thousand pages one append would wait for the WAL to be copied into the database and fsynced. Here the
// writer's connection reports the WAL size after each commit (sqlite3_wal_hook, which also turns the
// automatic checkpoint off), and past kStartPages this thread copies the WAL with a PASSIVE checkpoint
// on its own connection, which blocks neither the writer nor readers.
//
// Under steady load that alone never lets the WAL start over: SQLite rewinds it only when a write
// begins with every frame already copied, and the writer keeps appending while the copy runs. So once
// a background pass is done, the writer's next commit runs a PASSIVE checkpoint itself: it copies only
// the few frames committed during the pass, and the following transaction rewinds the WAL. If the
// background thread falls far behind (kWriterPages), the writer checkpoints on its own.
//
#include <SQLiteCpp/Database.h>

#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <thread>

namespace kabar::store_detail {

class Checkpointer {
 public:
  static constexpr int kStartPages = 4000;    // ~16 MiB of WAL with 4 KiB pages
  static constexpr int kWriterPages = 64000;  // ~256 MiB: the writer steps in

  // Opens its own connection to `db_file` and installs the WAL hook on `writer`.
  Checkpointer(SQLite::Database& writer, const std::filesystem::path& db_file);
  ~Checkpointer();  // stops the thread; removes the hook so the writer's close does the last checkpoint
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

 private:
  static int on_commit(void* self, struct sqlite3* db, const char* schema, int wal_pages);
  void run();

  SQLite::Database& writer_;
  SQLite::Database connection_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::atomic<bool> requested_{false};
  std::atomic<bool> copied_{false};  // a background pass finished: the writer may finish the job
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace kabar::store_detail
