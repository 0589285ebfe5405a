#pragma once
// ReplayReader: runs catch-up queries against the store on its own threads, so a client replaying 10k
// events never stalls the I/O thread that fans out live events. Results are posted back to the
// requesting session's executor.
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "gateway/store/event_store.h"

namespace kabar {

struct ChannelCursor {
  std::string channel;
  std::int64_t after = 0;     // deliver events with seq > after
  // false while an "earliest" replay has sent nothing of the channel yet: whatever is retained is what
  // was asked for. From its first event on, a cursor like any other.
  bool check_pruned = true;
  // since=latest, not resolved yet: `after` is the head the subscription (or history page) starts from,
  // and the read starts just before the channel's newest event at or below it, or at `after` when the
  // channel has none. The page reports where it started (ReplayPage::starts); the caller keeps that.
  bool latest = false;
};

// Where a `latest` cursor was resolved to start: the channel's events with seq > after follow.
struct ResolvedStart {
  std::string channel;
  std::int64_t after = 0;
};

struct ReplayPage {
  std::vector<StoredEvent> events;  // ascending seq, at most the requested limit
  bool full = false;                // there may be more: read another page
  // Channels whose history was pruned past their cursor (checked *after* reading, so a retention
  // pass racing the read is caught too). Their events are left out of `events`.
  std::vector<std::string> pruned;
  std::int64_t head = 0;  // store head before the read; nothing above it is in the page
  // The seq of the last event the page holds before the events of `pruned` channels were left out (0:
  // none). A full page covers every event of every cursor's channel up to here: the next page of a
  // shared cursor starts after it, even when the events at its end belonged to a pruned channel.
  std::int64_t through = 0;
  std::vector<ResolvedStart> starts;  // one per `latest` cursor, in the cursors' order
  // Not empty: the read failed (an SQLite error: I/O, corruption, no file descriptor left). Nothing else
  // in the page is meaningful; the session closes with code replay_failed (docs/protocol.md).
  std::string error;
};

// How much one page may hold: at most `frames` events and about `bytes` bytes of encoded frames (never
// fewer than one event, so a single large event still moves the cursor).
struct PageLimit {
  std::size_t frames = 500;
  std::size_t bytes = std::numeric_limits<std::size_t>::max();
};

// What an event costs in a send queue, in the largest of its encodings (the Pusher one escapes the data
// inside a JSON string: up to twice its size) plus the fixed fields.
std::size_t encoded_size_estimate(const StoredEvent& event);

class ReplayReader {
 public:
  ReplayReader(EventStore& store, std::size_t threads) : store_(store), pool_(threads) {}
  ~ReplayReader() { stop(); }

  void stop() {
    pool_.stop();
    pool_.join();
  }

  // One page of the merged history of several channels, each from its own cursor. A read that fails
  // becomes a page with `error` set: an exception must never escape into the pool, which would end the
  // process.
  template <class Executor, class Handler>
  void read_page(std::vector<ChannelCursor> cursors, PageLimit limit, Executor executor, Handler handler) {
    boost::asio::post(pool_, [this, cursors = std::move(cursors), limit, executor,
                              handler = std::move(handler)]() mutable {
      ReplayPage page = read_page_safely(cursors, limit);
      boost::asio::post(executor, [page = std::move(page), handler = std::move(handler)]() mutable {
        handler(std::move(page));
      });
    });
  }

  // Any other store read that must stay off the I/O threads (/api/dead-letters): `work` runs on a replay
  // thread; it must not throw, and hands its result back to its session's executor itself.
  template <class Work>
  void run(Work work) {
    boost::asio::post(pool_, std::move(work));
  }

  // Synchronous forms (any thread but an I/O thread): /api/history reads its page with read_page_now
  // from inside run(), tests call them directly. read_page_now throws StoreError when a read fails.
  ReplayPage read_page_now(const std::vector<ChannelCursor>& cursors, PageLimit limit);
  ReplayPage read_page_safely(const std::vector<ChannelCursor>& cursors, PageLimit limit);

  // Tests only: runs on the reader thread before every page read (to count reads, commit or prune
  // between pages, or throw StoreError as a failing reader). Set before any read starts.
  std::function<void(const std::vector<ChannelCursor>&)> before_read_for_tests;

 private:
  EventStore& store_;
  boost::asio::thread_pool pool_;
};

}  // namespace kabar
