#pragma once
// Hub: channel -> subscribers, sharded by I/O thread. Each shard's map is touched only on that shard's
// thread, so fan-out takes no lock at all: publish() (called on the store's writer thread after a
// commit) encodes each event once and posts the batch to every shard, which hands the shared frames to
// its local subscribers.
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "gateway/hub/frame.h"

namespace kabar {

// Implemented by sessions. Called on the subscriber's own shard thread only. Subscribing and
// unsubscribing from inside these calls is allowed (a write that fails at once may end the session): the
// hub leaves a hole in the list and compacts it after the batch.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual void on_frame(const FramePtr& frame) = 0;
  // The frames handed out lately are all there: the moment to write what was queued, many frames in one
  // system call. The hub calls it once the shard has handed out every batch that was waiting (so a
  // burst is written in few calls, a lone event at once), for each subscriber of a channel that had
  // frames (a subscriber of several such channels may be called more than once).
  virtual void on_batch_end() {}
};

struct HubStats {
  std::uint64_t events_published = 0;
  std::uint64_t deliveries = 0;  // frames handed to subscribers (before their own filtering)
};

class Hub {
 public:
  Hub(std::vector<boost::asio::io_context*> shards, std::string epoch);

  std::size_t shard_count() const { return shards_.size(); }
  boost::asio::io_context& shard_context(std::size_t shard) { return *shards_[shard]->context; }
  const std::string& epoch() const { return epoch_; }

  // Any thread (the store's writer). Events must come in seq order; they are delivered in that order.
  void publish(const std::vector<StoredEvent>& batch);

  // Shard thread only.
  void subscribe(std::size_t shard, const std::string& channel, Subscriber* subscriber);
  void unsubscribe(std::size_t shard, const std::string& channel, Subscriber* subscriber);
  std::size_t subscriber_count(std::size_t shard, const std::string& channel) const;
  // Topic subscriptions (docs/protocol.md "Topic subscriptions"): `subscriber` is also handed every frame
  // whose topic matches `filter` (core/topic_filter.h), whatever its channel, so that a channel that starts
  // to match later is found at its first event. A frame may so reach a subscriber twice (by its channel
  // and by a filter): subscribers drop what they have already seen by seq.
  void subscribe_topic(std::size_t shard, const std::string& filter, Subscriber* subscriber);
  void unsubscribe_topic(std::size_t shard, const std::string& filter, Subscriber* subscriber);
  // Every channel of the shard with its subscribers (the operator's page gathers them shard by shard).
  std::vector<std::pair<std::string, std::size_t>> channel_subscribers(std::size_t shard) const;

  HubStats stats() const;

 private:
  struct Shard {
    boost::asio::io_context* context = nullptr;
    std::unordered_map<std::string, std::vector<Subscriber*>> channels;
    // filter -> subscribers: each distinct filter is matched once per frame, however many hold it.
    std::unordered_map<std::string, std::vector<Subscriber*>> filters;
    // While a batch is handed out, an unsubscribe leaves a null in the list (the loop is running over
    // it) and sets `holes`; the lists are compacted after the batch.
    bool delivering = false;
    bool holes = false;
    // The channels that had frames since the last flush, and whether a flush is posted.
    std::unordered_set<std::string> to_flush;
    bool flush_posted = false;
    std::atomic<std::uint64_t> deliveries{0};  // written on the shard thread, read for metrics
  };
  void deliver(Shard& shard, const std::vector<FramePtr>& frames);
  static void flush(Shard& shard);
  // Calls `visit` for each subscriber in `list` when the loop started: not those who join meanwhile,
  // not the holes of those who left. Returns how many there were. Callers set `delivering` around it.
  template <class Visit>
  static std::size_t each_subscriber(const std::vector<Subscriber*>& list, Visit&& visit) {
    const std::size_t count = list.size();
    for (std::size_t i = 0; i < count; ++i) {
      if (Subscriber* subscriber = list[i]) visit(*subscriber);
    }
    return count;
  }
  static void compact(Shard& shard);
  static void remove(Shard& shard, std::unordered_map<std::string, std::vector<Subscriber*>>& lists,
                     const std::string& key, Subscriber* subscriber);

  std::vector<std::unique_ptr<Shard>> shards_;
  std::string epoch_;
  std::atomic<std::uint64_t> events_published_{0};
};

}  // namespace kabar
