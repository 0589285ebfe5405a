#include "gateway/hub/hub.h"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace kabar {

Hub::Hub(std::vector<boost::asio::io_context*> shards, std::string epoch) : epoch_(std::move(epoch)) {
  for (auto* context : shards) {
    auto shard = std::make_unique<Shard>();
    shard->context = context;
    shards_.push_back(std::move(shard));
  }
}

void Hub::publish(const std::vector<StoredEvent>& batch) {
  if (batch.empty()) return;
  auto frames = std::make_shared<std::vector<FramePtr>>();
  frames->reserve(batch.size());
  for (const auto& event : batch) frames->push_back(encode_frame(event, epoch_));
  events_published_.fetch_add(batch.size(), std::memory_order_relaxed);
  for (auto& shard : shards_) {
    boost::asio::post(*shard->context, [this, s = shard.get(), frames] { deliver(*s, *frames); });
  }
}

void Hub::deliver(Shard& shard, const std::vector<FramePtr>& frames) {
  for (const auto& frame : frames) {
    auto it = shard.channels.find(frame->channel);
    if (it == shard.channels.end()) continue;
    for (Subscriber* subscriber : it->second) subscriber->on_frame(frame);
    shard.deliveries.fetch_add(it->second.size(), std::memory_order_relaxed);
  }
}

void Hub::subscribe(std::size_t shard, const std::string& channel, Subscriber* subscriber) {
  auto& list = shards_[shard]->channels[channel];
  if (std::find(list.begin(), list.end(), subscriber) == list.end()) list.push_back(subscriber);
}

void Hub::unsubscribe(std::size_t shard, const std::string& channel, Subscriber* subscriber) {
  auto& channels = shards_[shard]->channels;
  auto it = channels.find(channel);
  if (it == channels.end()) return;
  auto& list = it->second;
  list.erase(std::remove(list.begin(), list.end(), subscriber), list.end());
  if (list.empty()) channels.erase(it);
}

std::size_t Hub::subscriber_count(std::size_t shard, const std::string& channel) const {
  const auto& channels = shards_[shard]->channels;
  auto it = channels.find(channel);
  return it == channels.end() ? 0 : it->second.size();
}

HubStats Hub::stats() const {
  HubStats stats;
  stats.events_published = events_published_.load(std::memory_order_relaxed);
  for (const auto& shard : shards_) {
    stats.deliveries += shard->deliveries.load(std::memory_order_relaxed);
  }
  return stats;
}

}  // namespace kabar
