#pragma once
// PusherService: the Pusher door's shared parts, owned by the Gateway and handed by the Pusher door to
// each session it starts: the apps, socket ids, the directory for session-to-session frames, the REST
// API and its MQTT re-publisher, the counters, and a reader thread for cache-channel lookups (the store
// is never read on an I/O thread).
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bridge/mqtt_publisher.h"
#include "gateway/http/server_context.h"
#include "gateway/pusher/app_registry.h"
#include "gateway/pusher/channel_directory.h"
#include "gateway/pusher/cluster_link.h"
#include "gateway/pusher/cluster_occupancy.h"
#include "gateway/pusher/event_republisher.h"
#include "gateway/pusher/pusher_config.h"
#include "gateway/pusher/pusher_stats.h"
#include "gateway/pusher/rest_api.h"
#include "gateway/pusher/socket_id.h"
#include "gateway/pusher/webhook_sender.h"

namespace kabar {

class SchemaRegistry;

// What a cache channel's new subscriber starts from.
struct LatestLookup {
  std::int64_t head = 0;               // store head when looked up
  std::optional<std::int64_t> latest;  // seq of the channel's last event, if it has one
};

class PusherService {
 public:
  // routes: where REST publishes are re-published (EventRepublisher); must outlive the service.
  PusherService(const std::vector<PusherAppConfig>& apps, PublisherOptions publisher, ClusterOptions cluster,
                const SchemaRegistry& schemas, const RouteTable& routes, ServerContext& context);
  ~PusherService();
  PusherService(const PusherService&) = delete;
  PusherService& operator=(const PusherService&) = delete;

  const AppRegistry& apps() const { return apps_; }
  ChannelDirectory& directory() { return directory_; }
  const RestApi& rest() const { return rest_; }
  std::string next_socket_id() { return socket_ids_.next(); }
  // A subscription or presence member of this node came or went / a client event was relayed here:
  // tell the other nodes (occupancy and member webhooks follow from the cluster's view, ClusterLink).
  void occupancy_changed() { cluster_.presence_changed(); }
  void share_client_event(const RelayedFrame& frame) { cluster_.publish_client_event(frame); }
  void webhook(const PusherApp& app, WebhookEvent event) { webhooks_.notify(app, std::move(event)); }
  WebhookStats webhook_stats() const { return webhooks_.stats(); }
  // The node link's view, for the operator's page (gateway/doors/admin): this node's name and start time,
  // its open connections per door (/ws and /sse from the ServerContext's counters, /app from ours), which
  // it shares with the other nodes, and the other nodes as their snapshots tell.
  const std::string& node() const { return occupancy_.self(); }
  std::int64_t since_ms() const { return occupancy_.since_ms(); }
  std::map<std::string, std::uint64_t> door_connections() const;
  std::map<std::string, NodeOccupancy> cluster_nodes() const { return occupancy_.other_nodes(); }
  // An event published through the broker like a REST publish (the operator's test event).
  void republish(std::vector<OutgoingEvent> events, EventRepublisher::Done done) {
    republisher_.publish(std::move(events), std::move(done));
  }
  PusherStats& stats() { return stats_; }
  const PusherStats& stats() const { return stats_; }

  // The last event of `channel` that app `app_id` may see (docs/pusher.md "Apps"). Any thread;
  // `handler(LatestLookup)` runs on `executor`.
  template <class Executor, class Handler>
  void find_latest(std::string channel, std::string app_id, Executor executor, Handler handler) {
    boost::asio::post(lookups_, [this, channel = std::move(channel), app_id = std::move(app_id), executor,
                                 handler = std::move(handler)]() mutable {
      LatestLookup lookup = find_latest_now(channel, app_id);
      boost::asio::post(executor, [lookup, handler = std::move(handler)]() mutable { handler(lookup); });
    });
  }
  LatestLookup find_latest_now(const std::string& channel, const std::string& app_id);

  // Refuses new REST publishes and waits for those under way; stops lookups.
  void stop();

 private:
  static std::vector<boost::asio::io_context*> shard_contexts(ServerContext& context);
  ClusterOptions sharing_connections(ClusterOptions cluster);

  ServerContext& context_;
  PusherStats stats_;
  AppRegistry apps_;
  SocketIdGenerator socket_ids_;
  ChannelDirectory directory_;
  ClusterOccupancy occupancy_;
  EventRepublisher republisher_;
  RestApi rest_;
  ClusterLink cluster_;
  WebhookSender webhooks_;
  boost::asio::thread_pool lookups_{1};
  bool stopped_ = false;
};

}  // namespace kabar
