#include "bridge/twin_matcher.h"

#include <algorithm>

namespace kabar {
namespace {

std::uint64_t payload_hash(std::string_view payload) { return std::hash<std::string_view>()(payload); }

}  // namespace

TwinMatcher::TwinMatcher(Limits limits) : limits_(limits) {}

bool TwinMatcher::claim_twin_copy(int twin, std::string_view topic, std::string_view payload,
                                  Clock::time_point now) {
  expire(now);
  const auto topic_it = topics_.find(topic);
  if (topic_it == topics_.end()) return false;
  auto& other = topic_it->second.by_twin[1 - twin];
  const std::uint64_t hash = payload_hash(payload);
  const auto match =
      std::find_if(other.begin(), other.end(), [hash](const auto& entry) { return entry->hash == hash; });
  if (match == other.end()) return false;
  const auto skipped = static_cast<std::size_t>(match - other.begin());
  dropped_ += skipped;
  for (std::size_t i = 0; i <= skipped; ++i) pop_front(&*topic_it, 1 - twin);
  return true;
}

void TwinMatcher::record(int twin, std::string_view topic, std::string_view payload, Clock::time_point now) {
  expire(now);
  auto topic_it = topics_.find(topic);
  if (topic_it == topics_.end()) topic_it = topics_.emplace(std::string(topic), TopicFifos{}).first;
  order_.push_back(Entry{payload_hash(payload), now, &*topic_it, twin});
  topic_it->second.by_twin[twin].push_back(std::prev(order_.end()));
  while (order_.size() > limits_.max_entries) evict_oldest();
}

void TwinMatcher::expire(Clock::time_point now) {
  while (!order_.empty() && now - order_.front().seen > limits_.max_age) evict_oldest();
}

void TwinMatcher::evict_oldest() {
  // The globally oldest entry is also the oldest of its own FIFO, i.e. that FIFO's head.
  const Entry& oldest = order_.front();
  ++dropped_;
  pop_front(oldest.topic, oldest.twin);
}

void TwinMatcher::pop_front(TopicNode* topic, int twin) {
  auto& fifo = topic->second.by_twin[twin];
  order_.erase(fifo.front());
  fifo.pop_front();
  if (topic->second.by_twin[0].empty() && topic->second.by_twin[1].empty())
    topics_.erase(topics_.find(topic->first));
}

void RecentIds::insert(const std::string& id) {
  if (capacity_ == 0 || !ids_.insert(id).second) return;
  order_.push_back(id);
  if (order_.size() > capacity_) {
    ids_.erase(order_.front());
    order_.pop_front();
  }
}

}  // namespace kabar
