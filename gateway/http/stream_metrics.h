#pragma once
// The streaming doors' labelled counters and histograms (/metrics, docs/operations.md "Metrics, alerts and
// logs"): by transport (ws, sse, pusher), by refusal door and reason, and the latency and replay
// histograms. Owned by the Gateway inside GatewayStats (server_context.h), updated by sessions on their
// shard threads without a lock: fixed label sets are arrays of relaxed atomics, the histograms are striped
// per shard (core/histogram.h). Only refusals, whose (door, reason) pairs are not a fixed set, take a
// mutex: a refusal is rare and never on the delivery path.
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>

#include "core/histogram.h"

namespace kabar {

enum class Transport : std::uint8_t { Ws, Sse, Pusher, kCount };
inline constexpr std::size_t kTransports = static_cast<std::size_t>(Transport::kCount);

inline const char* transport_label(Transport transport) {
  switch (transport) {
    case Transport::Ws:
      return "ws";
    case Transport::Sse:
      return "sse";
    case Transport::Pusher:
      return "pusher";
    case Transport::kCount:
      break;
  }
  return "unknown";
}

// From StreamTransport::name(): "sse", "websocket" (the /ws dialect), "pusher".
inline Transport transport_of(std::string_view name) {
  if (name == "sse") return Transport::Sse;
  if (name == "pusher") return Transport::Pusher;
  return Transport::Ws;
}

// Why a streaming connection ended (kabar_disconnects_total{transport,reason}).
enum class Disconnect : std::uint8_t {
  ClientClosed,   // the client closed (a WebSocket close frame, the SSE client hung up)
  ServerClosed,   // kabar closed it: shutdown, a refusal, a failed replay, an expired token's close...
  SlowConsumer,   // the send queue overflowed (also in kabar_evicted_slow_consumers_total)
  SilentPeer,     // no byte for two heartbeats (WebSocket)
  ProtocolError,  // a WebSocket protocol error or an oversized message
  kCount
};
inline constexpr std::size_t kDisconnects = static_cast<std::size_t>(Disconnect::kCount);

inline const char* disconnect_label(Disconnect reason) {
  switch (reason) {
    case Disconnect::ClientClosed:
      return "client_closed";
    case Disconnect::ServerClosed:
      return "server_closed";
    case Disconnect::SlowConsumer:
      return "slow_consumer";
    case Disconnect::SilentPeer:
      return "silent_peer";
    case Disconnect::ProtocolError:
      return "protocol_error";
    case Disconnect::kCount:
      break;
  }
  return "unknown";
}

// Counters keyed by label values that are not known in advance but stay few (door x refusal code).
class LabelledCounter {
 public:
  void add(std::string_view first, std::string_view second, std::uint64_t n = 1) {
    std::lock_guard lock(mutex_);
    counts_[{std::string(first), std::string(second)}] += n;
  }
  std::map<std::pair<std::string, std::string>, std::uint64_t> snapshot() const {
    std::lock_guard lock(mutex_);
    return counts_;
  }

 private:
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::uint64_t> counts_;
};

struct StreamMetrics {
  static constexpr std::size_t kStripes = 16;  // shards beyond 16 share stripes (shard % 16)

  using PerTransport = std::array<std::atomic<std::uint64_t>, kTransports>;
  PerTransport frames_sent{}, bytes_sent{}, replayed_events{};
  std::array<PerTransport, kDisconnects> disconnects{};
  // kabar_refusals_total{door,reason}: tokens and channels refused by authorization (access.h), Pusher
  // subscriptions with a bad signature.
  LabelledCounter refusals;

  // From the event's time (Envelope::time_ms: the publisher's `time`, else when kabar's bridge received
  // it) to the moment the live frame is queued for a subscribed connection on its shard; replayed
  // frames are not counted. Per transport.
  std::array<Histogram, kTransports> delivery_latency{
      Histogram({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}, kStripes),
      Histogram({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}, kStripes),
      Histogram({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}, kStripes)};
  // One subscription's catch-up: from its first history read to going live (every page, paced by the
  // send queue). Per transport.
  std::array<Histogram, kTransports> replay_duration{
      Histogram({0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}, kStripes),
      Histogram({0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}, kStripes),
      Histogram({0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}, kStripes)};

  // A live frame of event `seq` (time `event_time_ms`) was queued for a connection on shard `shard`.
  void observe_delivery(Transport transport, std::int64_t seq, std::int64_t event_time_ms, std::size_t shard);

  void count_disconnect(Transport transport, Disconnect reason) {
    disconnects[static_cast<std::size_t>(reason)][static_cast<std::size_t>(transport)].fetch_add(
        1, std::memory_order_relaxed);
  }
};

// A streaming connection ended: counted (kabar_disconnects_total) and logged at debug with its fields.
// `transport`: StreamTransport::name(); `sub`: the token's subject (empty: anonymous).
void note_disconnect(StreamMetrics& metrics, std::string_view transport, Disconnect why,
                     std::string_view sub);

}  // namespace kabar
