#pragma once
// ClusterLink: the Pusher state that gateway nodes on one broker share through it, so presence and
// whispers stay right when clients of one channel are spread over several nodes (the failures Reverb
// is known for). Stored events need nothing of this: every node takes them from the broker, and
// toOthers works across nodes because socket ids carry a per-node random part.
//
//  * Presence: each node keeps a retained snapshot of its own present members on
//    kabar/pusher/presence/<node> (node = broker.client_id, stable across restarts, so a restarted node
//    replaces its old snapshot). Its MQTT will empties that topic when the node dies, and a clean stop
//    empties it too. Every node applies the differences between snapshots as joins and leaves of that
//    node in PusherApp, which announces member_added/removed only on a user's first join or last leave
//    anywhere.
//  * Client events: published on kabar/pusher/client/<node> (QoS 0: ephemeral like the whisper itself)
//    and relayed by every other node to its local subscribers.
//  * Connections: the snapshot carries the node's open connections per door too, for the operator's page
//    (docs/operations.md "The operator's page"); they are looked at every 2 s and re-published on change.
//  * Occupancy: the snapshot also carries the node's subscriptions per channel and its start time, kept
//    in ClusterOccupancy for the REST queries and the cluster's webhooks. The node that sends those
//    (ClusterOccupancy::leads) publishes what it told receivers, retained, on kabar/pusher/webhooks, so
//    the node that takes over when it dies continues from there.
//
// Runs one supervisor thread (connect, reconnect, debounced snapshot publishing); Paho's thread applies
// what arrives. Neither ever touches a shard's state directly: frames go through ChannelDirectory.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gateway/pusher/app_registry.h"
#include "gateway/pusher/channel_directory.h"
#include "gateway/pusher/cluster_occupancy.h"

namespace mqtt {
class async_client;
}

namespace kabar {

struct ClusterOptions {
  std::string server_uri = "tcp://127.0.0.1:1883";
  std::vector<std::string> failover_uris;  // the cluster's other brokers, tried in order after server_uri
  std::string client_id;  // MQTT client id of the link
  std::string username;
  std::string password;
  std::string node;                                // this node's name in topics: broker.client_id
  std::chrono::milliseconds publish_delay{20};     // gathers presence changes into one snapshot
  std::chrono::milliseconds confirm_window{1000};  // after a reconnect, nodes without a snapshot are gone
  // This node's open connections per door, shared in the snapshot (re-published when they change, checked
  // every kCountsInterval) for the operator's page; empty: not shared.
  std::function<std::map<std::string, std::uint64_t>()> connections;
};

class ClusterLink {
 public:
  // Sends one of the cluster's occupancy or member webhooks (this node leads).
  using Notify = std::function<void(const PusherApp& app, WebhookEvent event)>;

  ClusterLink(ClusterOptions options, const AppRegistry& apps, ChannelDirectory& directory,
              ClusterOccupancy& occupancy, Notify notify);
  ~ClusterLink();
  ClusterLink(const ClusterLink&) = delete;
  ClusterLink& operator=(const ClusterLink&) = delete;

  void start();
  // Empties this node's snapshot (the others see its members leave) and disconnects.
  void stop();

  // Any thread: this node's subscriptions or members changed (shared and reconciled after publish_delay).
  void presence_changed();
  void publish_client_event(const RelayedFrame& frame);
  bool connected() const { return connected_.load(); }

  static std::string presence_topic(const std::string& node) { return "kabar/pusher/presence/" + node; }
  static std::string client_topic(const std::string& node) { return "kabar/pusher/client/" + node; }
  static std::string announced_topic() { return "kabar/pusher/webhooks"; }
  // This node's members, subscriptions, start time and connections: {"apps":{app:{channel:{user_key:{"id":..,
  // "info":..}}}},"subscriptions":{app:{channel:n}},"since":ms,"connections":{door:n}} ("connections"
  // only when given).
  static std::string snapshot_json(const AppRegistry& apps, std::int64_t since_ms,
                                   const std::map<std::string, std::uint64_t>& connections = {});
  static NodeOccupancy local_occupancy(const AppRegistry& apps, std::int64_t since_ms);
  // The cluster's webhooks for what changed, when this node sends them; returns what it announced
  // (to publish), empty when nothing. Public for tests.
  std::string reconcile();
  // Applies another node's snapshot ("" = the node is gone). Public for tests.
  void apply_snapshot(const std::string& node, const std::string& payload);
  void apply_client_event(const std::string& node, const std::string& payload);

 private:
  struct RemoteMember {
    std::string user_id_json;
    std::string user_info_json;
  };
  // app -> channel -> user_key -> member
  using NodeState = std::map<std::string, std::map<std::string, std::map<std::string, RemoteMember>>>;

  static NodeState parse_members(const nlohmann::json& document);
  static NodeOccupancy parse_occupancy(const nlohmann::json& document, const NodeState& members);
  void announce_leave(PusherApp& app, const std::string& channel, const std::string& node,
                      const std::string& user);
  void announce_join(PusherApp& app, const std::string& channel, const std::string& node,
                     const std::string& user, const RemoteMember& member);
  void run();
  bool connect_once();
  void publish_snapshot();
  void publish_announced(const std::string& announced);
  void forget_unconfirmed();
  void on_message(const std::string& topic, const std::string& payload);

  ClusterOptions options_;
  const AppRegistry& apps_;
  ChannelDirectory& directory_;
  ClusterOccupancy& occupancy_;
  Notify notify_;
  std::unique_ptr<mqtt::async_client> client_;
  std::thread supervisor_;
  std::mutex wake_mutex_;
  std::condition_variable wake_;
  bool dirty_ = false;
  bool stopping_ = false;
  bool running_ = false;
  bool settled_ = false;  // connected for confirm_window: the others' snapshots are in
  std::chrono::steady_clock::time_point settle_at_{};
  std::atomic<bool> connected_{false};
  std::string last_published_;

  std::mutex nodes_mutex_;  // before any PusherApp's own mutex
  std::map<std::string, NodeState> nodes_;  // every live node with a snapshot, members or not
  std::set<std::string> unconfirmed_;
  std::chrono::steady_clock::time_point confirm_deadline_{};
};

}  // namespace kabar
