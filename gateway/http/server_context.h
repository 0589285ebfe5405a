#pragma once
// What the HTTP sessions and the doors share: the hub, the store, limits, counters and the one policy,
// gathered in one place that the Gateway wires. Nothing here is global: the Gateway owns it and passes it
// by reference. What only one door uses is given to that door instead (gateway/doors/*).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include "authz/authorizer.h"
#include "gateway/http/client_address.h"
#include "gateway/http/hardening.h"
#include "gateway/http/stream_metrics.h"
#include "gateway/hub/hub.h"
#include "gateway/hub/replay_reader.h"
#include "gateway/store/event_store.h"

namespace kabar {

struct SessionLimits {
  std::size_t max_message_bytes = 64 * 1024;  // largest inbound WS message / HTTP body
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_subscriptions = 100;        // channels per connection
  std::size_t queue_max_frames = 4096;        // per-session send queue bound...
  std::size_t queue_max_bytes = 8 * 1024 * 1024;  // ...in frames and in bytes
  std::chrono::milliseconds heartbeat{15000};     // SSE comment / WS ping interval
  std::chrono::milliseconds sse_retry{2000};      // EventSource reconnect delay we advertise
  std::chrono::milliseconds shutdown_reconnect{1000};  // reconnect hint given on graceful shutdown
  std::chrono::milliseconds request_timeout{30000};  // reading a whole HTTP request (slowloris)
  std::size_t replay_page = 500;                  // events per catch-up query
  double ws_messages_per_s = 100;                 // /ws messages a connection may send (0: no limit)...
  double ws_message_burst = 500;                  // ...with bursts of this many
};

// Counters owned by the Gateway, updated by sessions with relaxed atomics, read by /metrics.
struct GatewayStats {
  std::atomic<std::uint64_t> ws_open{0}, sse_open{0};
  std::atomic<std::uint64_t> ws_accepted{0}, sse_accepted{0};
  std::atomic<std::uint64_t> accept_failures{0};  // accept() failed (EMFILE...); the listener pauses 100 ms
  std::atomic<std::uint64_t> evicted_slow{0};
  std::atomic<std::uint64_t> frames_sent{0}, bytes_sent{0};
  std::atomic<std::uint64_t> replayed_events{0};
  std::atomic<std::uint64_t> replay_failures{0};  // sessions closed because reading history failed
  std::atomic<std::uint64_t> resets_history_pruned{0}, resets_epoch_changed{0}, resets_position_ahead{0},
      resets_bad_position{0};
  // Subscriptions that resumed from another node's position by its event id (docs/architecture.md "Positions").
  std::atomic<std::uint64_t> resumes_from_other_node{0};
  std::atomic<std::uint64_t> ws_bad_requests{0}, http_bad_requests{0}, forbidden_channels{0};
  std::atomic<std::uint64_t> oversized_messages{0};
  // Authorization (gateway/http/access.h): tokens refused at any door, subscriptions ended by expiry.
  std::atomic<std::uint64_t> tokens_refused{0}, subscriptions_expired{0};
  // Hardening refusals by kind (gateway/http/hardening.h), kabar_http_refused_total{reason}.
  RefusalCounters refusals{};
  // The same by label (transport, door, reason) and the latency histograms (stream_metrics.h).
  StreamMetrics streams;
};

class StreamSession;

struct ServerContext {
  ServerContext(Hub& hub_, ReplayReader& replay_, EventStore& store_, SessionLimits limits_, GatewayStats& stats_)
      : hub(hub_), replay(replay_), store(store_), limits(limits_), stats(stats_) {}

  Hub& hub;
  ReplayReader& replay;
  EventStore& store;
  SessionLimits limits;
  GatewayStats& stats;
  // The one policy and token verifier of every door (docs/authorization.md); null: public channels only.
  std::shared_ptr<const authz::Authorizer> authorizer;
  bool allow_query_token = true;    // auth.query_token: ?token= on /sse and /ws
  // http.allowed_origins: browser origins allowed on /ws, /sse and /pusher/auth (CORS for the latter two).
  std::vector<std::string> allowed_origins{"*"};
  ConnectionLimiter* connections = nullptr;  // http.max_connections_per_ip; null: no limit (tests)
  // http.trusted_proxies: peers whose X-Forwarded-For names the client (client_address.h).
  TrustedProxies trusted_proxies;
  std::string server_name = "kabar";
  // Per shard: the live streaming sessions (heartbeats, shutdown). Touched on that shard's thread only.
  std::vector<std::unordered_set<StreamSession*>> sessions_by_shard;
  std::atomic<bool> shutting_down{false};
  // Tests only: runs on the shard thread right after a subscription read the store head (to commit an
  // event at exactly that point).
  std::function<void()> after_head_read_for_tests;
};

}  // namespace kabar
