#pragma once
// PusherApp: one configured application and what this node knows about it at run time: its open
// connections, which channels are occupied, and who is present on its presence channels. Apps are
// isolated from each other: each has its own state, secret, quotas and client-event switch.
//
// Thread-safe: sessions on every shard, the REST API and presence sync from other nodes use it. Calls
// happen on subscribe/unsubscribe and queries, never per delivered event, so one mutex is enough.
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gateway/pusher/presence.h"
#include "gateway/pusher/pusher_config.h"
#include "gateway/pusher/pusher_stats.h"

namespace kabar {

// The outcome of a presence join or leave.
struct PresenceChange {
  bool announced = false;      // member_added / member_removed must be sent to the others
  std::uint64_t version = 0;   // orders member events against subscription snapshots (see PusherSession)
  std::string user_id_json;    // of the member who came or went
  std::string user_info_json;  // of the member who came (join only)
  std::string snapshot_json;   // the channel's members after a join (subscription_succeeded)
};

// A member present through a connection of this node (what other nodes learn from it).
struct LocalMember {
  std::string channel;
  std::string user_key;
  std::string user_id_json;
  std::string user_info_json;
};

struct ChannelSummary {
  std::string name;
  std::size_t subscriptions = 0;  // connections of this node subscribed (RestApi adds the other nodes')
  std::size_t users = 0;          // distinct present users (presence channels; all nodes)
};

class PusherApp {
 public:
  explicit PusherApp(PusherAppConfig config) : config_(std::move(config)) {}

  const PusherAppConfig& config() const { return config_; }
  const std::string& id() const { return config_.id; }
  const std::string& key() const { return config_.key; }
  const std::string& secret() const { return config_.secret; }

  // Origin header (e.g. "https://app.example.com") against allowed_origins: "*", exact hosts and
  // "*.example.com" patterns, like Reverb. A missing Origin passes only with "*".
  bool origin_allowed(std::string_view origin) const;

  // false when max_connections is reached (the connection is refused with 4004).
  bool try_open_connection();
  void close_connection();
  std::size_t connections() const { return connections_.load(std::memory_order_relaxed); }
  // This app's counters (relaxed atomics, any thread).
  PusherAppStats& stats() const { return stats_; }

  // Occupancy on this node; true on the first subscriber / when the last one left.
  bool add_subscriber(const std::string& channel);
  bool remove_subscriber(const std::string& channel);

  // node: "" for this node, else the id of the node that reported the member.
  PresenceChange join(const std::string& channel, const std::string& node, const std::string& user_key,
                      std::string user_id_json, std::string user_info_json);
  PresenceChange leave(const std::string& channel, const std::string& node, const std::string& user_key);
  // A node went away: its members leave. Returns (channel, change) for each user now gone.
  std::vector<std::pair<std::string, PresenceChange>> forget_node(const std::string& node);
  std::string presence_snapshot(const std::string& channel) const;
  std::vector<LocalMember> local_members() const;
  // This node's subscribed connections per channel (channels with none left out).
  std::map<std::string, std::size_t> local_subscriptions() const;

  // This node's subscriptions, presence users of every node (the REST API adds the other nodes'
  // subscriptions from ClusterOccupancy).
  std::vector<ChannelSummary> channels(std::string_view prefix) const;
  std::optional<ChannelSummary> channel(const std::string& name) const;
  std::vector<std::string> users(const std::string& channel) const;

 private:
  struct ChannelState {
    std::size_t subscriptions = 0;
    Presence presence;
  };
  void erase_if_unused(const std::string& channel);

  const PusherAppConfig config_;
  std::atomic<std::size_t> connections_{0};
  mutable PusherAppStats stats_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, ChannelState> channels_;
  // App-wide, never reset: a channel that empties and fills again cannot meet an old event's version.
  std::uint64_t presence_version_ = 0;
};

}  // namespace kabar
