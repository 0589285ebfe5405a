#include "gateway/hub/hub.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <utility>

#include "core/topic_filter.h"

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

// Frames first, writes after: subscribers queue what the hub hands them and write it when the shard
// flushes. The flush is posted behind whatever the shard has waiting, batches of a burst included, so a
// burst leaves in few system calls per connection and a lone event in exactly one.
void Hub::deliver(Shard& shard, const std::vector<FramePtr>& frames) {
  shard.delivering = true;
  for (const auto& frame : frames) {
    if (!shard.filters.empty() && !frame->topic.empty()) {
      // Topic subscribers first: one whose filter finds a new channel subscribes it here, and the channel
      // list below (now holding it) hands it the same frame again, which it drops by seq.
      for (const auto& [filter, list] : shard.filters) {
        if (!topic_matches(filter, frame->topic)) continue;
        each_subscriber(list, [&](Subscriber& subscriber) { subscriber.on_frame(frame); });
        shard.to_flush.insert(frame->channel);
      }
    }
    auto it = shard.channels.find(frame->channel);
    if (it == shard.channels.end()) continue;
    const std::size_t count =
        each_subscriber(it->second, [&](Subscriber& subscriber) { subscriber.on_frame(frame); });
    shard.deliveries.fetch_add(count, std::memory_order_relaxed);
    shard.to_flush.insert(frame->channel);
  }

  shard.delivering = false;
  if (shard.holes) compact(shard);
  if (!shard.to_flush.empty() && !shard.flush_posted) {
    shard.flush_posted = true;
    boost::asio::post(*shard.context, [s = &shard] { flush(*s); });
  }
}

void Hub::flush(Shard& shard) {
  shard.flush_posted = false;
  const std::unordered_set<std::string> channels = std::exchange(shard.to_flush, {});
  shard.delivering = true;
  for (const auto& channel : channels) {
    auto it = shard.channels.find(channel);
    if (it == shard.channels.end()) continue;
    each_subscriber(it->second, [](Subscriber& subscriber) { subscriber.on_batch_end(); });
  }
  shard.delivering = false;
  if (shard.holes) compact(shard);
}

void Hub::compact(Shard& shard) {
  shard.holes = false;
  for (auto* lists : {&shard.channels, &shard.filters}) {
    for (auto it = lists->begin(); it != lists->end();) {
      std::erase(it->second, nullptr);
      it = it->second.empty() ? lists->erase(it) : std::next(it);
    }
  }
}

void Hub::subscribe(std::size_t shard, const std::string& channel, Subscriber* subscriber) {
  auto& list = shards_[shard]->channels[channel];
  if (std::find(list.begin(), list.end(), subscriber) == list.end()) list.push_back(subscriber);
}

void Hub::unsubscribe(std::size_t index, const std::string& channel, Subscriber* subscriber) {
  Shard& shard = *shards_[index];
  remove(shard, shard.channels, channel, subscriber);
}

void Hub::subscribe_topic(std::size_t shard, const std::string& filter, Subscriber* subscriber) {
  auto& list = shards_[shard]->filters[filter];
  if (std::find(list.begin(), list.end(), subscriber) == list.end()) list.push_back(subscriber);
}

void Hub::unsubscribe_topic(std::size_t index, const std::string& filter, Subscriber* subscriber) {
  Shard& shard = *shards_[index];
  remove(shard, shard.filters, filter, subscriber);
}

void Hub::remove(Shard& shard, std::unordered_map<std::string, std::vector<Subscriber*>>& lists,
                 const std::string& key, Subscriber* subscriber) {
  auto it = lists.find(key);
  if (it == lists.end()) return;
  auto& list = it->second;
  if (shard.delivering) {
    std::replace(list.begin(), list.end(), subscriber, static_cast<Subscriber*>(nullptr));
    shard.holes = true;
    return;
  }
  list.erase(std::remove(list.begin(), list.end(), subscriber), list.end());
  if (list.empty()) lists.erase(it);
}

std::size_t Hub::subscriber_count(std::size_t shard, const std::string& channel) const {
  const auto& channels = shards_[shard]->channels;
  auto it = channels.find(channel);
  if (it == channels.end()) return 0;
  return it->second.size() - static_cast<std::size_t>(std::count(it->second.begin(), it->second.end(), nullptr));
}

std::vector<std::pair<std::string, std::size_t>> Hub::channel_subscribers(std::size_t shard) const {
  std::vector<std::pair<std::string, std::size_t>> channels;
  for (const auto& [channel, list] : shards_[shard]->channels) {
    const auto holes = static_cast<std::size_t>(std::count(list.begin(), list.end(), nullptr));
    if (list.size() > holes) channels.emplace_back(channel, list.size() - holes);
  }
  return channels;
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
