#pragma once
// Recognising the second copy of a message when the bridge runs twin sessions (see mqtt_bridge.h for
// why there are two). Both sessions receive every message in the same per-topic order, so the copy
// one twin receives is matched against what the other twin already passed on.
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

namespace kabar {

struct TransparentStringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view text) const { return std::hash<std::string_view>()(text); }
};

// Messages without an event id. Per topic and twin, a FIFO of payload hashes that twin passed on and
// the other has not received yet. A message is the twin copy when it matches an entry of the OTHER
// twin's FIFO: normally its head; entries before the match are messages this twin never received
// (e.g. published between the two sessions' first subscriptions) and are dropped. Bounded in count
// and age, so a twin that stays away cannot grow it without limit. Not thread-safe.
class TwinMatcher {
 public:
  using Clock = std::chrono::steady_clock;
  struct Limits {
    std::size_t max_entries = 10000;
    std::chrono::milliseconds max_age = std::chrono::minutes(5);
  };

  explicit TwinMatcher(Limits limits);
  TwinMatcher() : TwinMatcher(Limits{}) {}

  // True when this message (received by `twin`, 0 or 1) is the copy of one the other twin already
  // passed on; that entry is consumed. False when it is new to the bridge.
  bool claim_twin_copy(int twin, std::string_view topic, std::string_view payload, Clock::time_point now);
  // Records that `twin` passed the message on, so the other twin's copy will be recognised.
  void record(int twin, std::string_view topic, std::string_view payload, Clock::time_point now);

  std::size_t size() const { return order_.size(); }
  std::uint64_t dropped() const { return dropped_; }  // entries evicted or skipped, never matched

 private:
  struct Entry;
  using EntryList = std::list<Entry>;
  struct TopicFifos {
    std::array<std::deque<EntryList::iterator>, 2> by_twin;
  };
  using TopicMap = std::unordered_map<std::string, TopicFifos, TransparentStringHash, std::equal_to<>>;
  // Map nodes stay put when the map rehashes (iterators would not), so entries point at the node.
  using TopicNode = TopicMap::value_type;
  struct Entry {
    std::uint64_t hash;
    Clock::time_point seen;
    TopicNode* topic;
    int twin;
  };

  void expire(Clock::time_point now);
  void evict_oldest();
  void pop_front(TopicNode* topic, int twin);

  Limits limits_;
  TopicMap topics_;
  EntryList order_;  // every entry, oldest first: eviction by age or count takes from the front
  std::uint64_t dropped_ = 0;
};

// Event ids the bridge passed to the sink recently: the twin copy of an event with an id is dropped
// here instead of costing the store a duplicate insert. Bounded; the store's idempotent insert stays
// the real guarantee. Not thread-safe.
class RecentIds {
 public:
  explicit RecentIds(std::size_t capacity) : capacity_(capacity) {}
  bool contains(std::string_view id) const { return ids_.find(id) != ids_.end(); }
  void insert(const std::string& id);

 private:
  std::size_t capacity_;
  std::deque<std::string> order_;
  std::unordered_set<std::string, TransparentStringHash, std::equal_to<>> ids_;
};

}  // namespace kabar
