#include "gateway/doors/admin/admin_overview.h"

#include <algorithm>
#include <boost/asio/post.hpp>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>

#include "core/clock.h"
#include "gateway/hub/hub.h"
#include "gateway/store/event_store.h"

namespace kabar {
namespace {
using nlohmann::json;

json node_json(const AdminNode& node, bool self) {
  return {{"name", node.name}, {"since_ms", node.since_ms}, {"self", self}, {"connections", node.connections}};
}

// A payload cut at kAdminPayloadShown bytes, not inside a UTF-8 sequence.
std::string shown_payload(const std::string& payload) {
  if (payload.size() <= kAdminPayloadShown) return payload;
  std::size_t end = kAdminPayloadShown;
  while (end > 0 && (static_cast<unsigned char>(payload[end]) & 0xC0) == 0x80) --end;
  return payload.substr(0, end);
}

json channels_json(const std::map<std::string, std::size_t>& channels) {
  std::vector<std::pair<std::string, std::size_t>> busiest(channels.begin(), channels.end());
  std::sort(busiest.begin(), busiest.end(),
            [](const auto& a, const auto& b) { return a.second != b.second ? a.second > b.second : a.first < b.first; });
  if (busiest.size() > kAdminChannelsShown) busiest.resize(kAdminChannelsShown);
  json list = json::array();
  for (const auto& [channel, subscribers] : busiest) list.push_back({{"channel", channel}, {"subscribers", subscribers}});
  return list;
}

json dead_letters_json(EventStore& store) {
  json list = json::array();
  for (auto& letter : store.dead_letters(kAdminDeadLettersShown)) {
    std::string payload = shown_payload(letter.payload);
    const bool cut = static_cast<std::int64_t>(payload.size()) < letter.payload_bytes;
    list.push_back({{"id", letter.id},
                    {"time_ms", letter.time_ms},
                    {"topic", std::move(letter.topic)},
                    {"reason", std::move(letter.reason)},
                    {"payload", std::move(payload)},
                    {"payload_bytes", letter.payload_bytes},
                    {"truncated", cut}});
  }
  return list;
}

}  // namespace

void gather_channel_subscribers(Hub& hub, std::function<void(std::map<std::string, std::size_t>)> done) {
  struct Gathering {
    std::mutex mutex;
    std::map<std::string, std::size_t> sums;
    std::size_t waiting = 0;
    std::function<void(std::map<std::string, std::size_t>)> done;
  };
  auto gathering = std::make_shared<Gathering>();
  gathering->waiting = hub.shard_count();
  gathering->done = std::move(done);
  for (std::size_t shard = 0; shard < hub.shard_count(); ++shard) {
    boost::asio::post(hub.shard_context(shard), [gathering, &hub, shard] {
      const auto channels = hub.channel_subscribers(shard);  // this shard's thread: its own map
      std::unique_lock lock(gathering->mutex);
      for (const auto& [channel, count] : channels) gathering->sums[channel] += count;
      if (--gathering->waiting > 0) return;
      auto sums = std::move(gathering->sums);
      lock.unlock();
      gathering->done(std::move(sums));
    });
  }
}

std::string overview_json(const AdminDoor& door, EventStore& store,
                          const std::map<std::string, std::size_t>& channels) {
  const AdminNode self = door.this_node();
  json nodes = json::array({node_json(self, true)});
  std::map<std::string, std::uint64_t> cluster = self.connections;
  for (const AdminNode& other : door.other_nodes ? door.other_nodes() : std::vector<AdminNode>{}) {
    nodes.push_back(node_json(other, false));
    for (const auto& [name, count] : other.connections) cluster[name] += count;
  }
  std::size_t subscriptions = 0;
  for (const auto& [channel, count] : channels) subscriptions += count;
  const StoreStats stats = store.stats();
  const std::int64_t head = store.head_seq();
  json document = {
      {"time_ms", unix_ms()},
      {"node", node_json(self, true)},
      {"cluster", {{"nodes", std::move(nodes)}, {"connections", cluster}}},
      {"channels", {{"total", channels.size()}, {"subscriptions", subscriptions}, {"busiest", channels_json(channels)}}},
      {"dead_letters", {{"since_start", stats.dead_letters}, {"latest", dead_letters_json(store)}}},
      {"store",
       {{"epoch", store.epoch()},
        {"head_seq", head},
        {"head", store.epoch() + ":" + std::to_string(head)},
        {"appended_since_start", stats.appended},
        {"pruned_since_start", stats.pruned},
        {"retention", {{"max_age_s", door.retention.max_age_s}, {"max_per_channel", door.retention.max_per_channel}}}}},
  };
  return document.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace kabar
