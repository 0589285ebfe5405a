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
#include <vector>

#include "gateway/hub/frame.h"

namespace kabar {

// Implemented by sessions. Called on the subscriber's own shard thread only. Must not subscribe or
// unsubscribe synchronously (the hub is iterating); defer such work with a post.
class Subscriber {
 public:
  virtual ~Subscriber() = default;
  virtual void on_frame(const FramePtr& frame) = 0;
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

  HubStats stats() const;

 private:
  struct Shard {
    boost::asio::io_context* context = nullptr;
    std::unordered_map<std::string, std::vector<Subscriber*>> channels;
    std::atomic<std::uint64_t> deliveries{0};  // written on the shard thread, read for metrics
  };
  void deliver(Shard& shard, const std::vector<FramePtr>& frames);

  std::vector<std::unique_ptr<Shard>> shards_;
  std::string epoch_;
  std::atomic<std::uint64_t> events_published_{0};
};

}  // namespace kabar
