#pragma once
// Private to kabar_store: read-only connections for replay and queries from any thread.
//
// A connection is leased for the duration of one call, so two threads never share one (SQLite
// connections are opened NOMUTEX) and, in WAL mode, readers never wait for the writer. Connections
// belong to their store, so several stores in one process (tests) never mix them up, and they are
// closed with the store instead of lingering in thread_local storage of long-lived threads.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/store/event_store.h"

namespace kabar::store_detail {

class ReaderPool {
 public:
  explicit ReaderPool(std::filesystem::path db_file);
  ~ReaderPool();
  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;

  std::vector<StoredEvent> read_after(const std::vector<std::string>& channels, std::int64_t after_seq,
                                      std::size_t limit);
  std::optional<StoredEvent> latest(const std::string& channel, const std::string& visible_to_app);
  std::optional<std::int64_t> latest_seq(const std::string& channel, std::int64_t through_seq);
  ChannelBounds channel_bounds(const std::string& channel);
  std::optional<std::int64_t> seq_of(const std::string& id);
  std::vector<ChannelTopic> channel_topics();
  std::vector<DeadLetter> dead_letters(std::size_t limit);
  std::vector<DeadLetterTopic> dead_letter_topics(std::int64_t before_id, std::size_t limit);
  std::vector<DeadLetter> dead_letters_by_id(const std::vector<std::int64_t>& ids);

 private:
  struct Connection;

  // Runs `read` on a leased connection; SQLite errors become StoreError and retire the connection.
  template <typename Read>
  auto with_connection(Read&& read);
  std::unique_ptr<Connection> acquire();
  void release(std::unique_ptr<Connection> connection);

  std::filesystem::path db_file_;
  std::mutex mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;
};

}  // namespace kabar::store_detail
