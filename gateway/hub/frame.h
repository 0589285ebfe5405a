#pragma once
// Frame: one stored event, encoded once per transport and shared (read-only) by every session that
// delivers it. Replayed and live events use the same encoding, so a client cannot tell them apart.
#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "gateway/store/event_store.h"

namespace kabar {

struct Frame {
  std::int64_t seq = 0;
  std::int64_t time_ms = 0;  // the event's time (Envelope::time_ms): kabar_delivery_latency_seconds
  std::string channel;
  std::string topic;      // the MQTT topic the event came on (empty for other sources): topic subscriptions
  std::string socket_id;  // publisher's socket to exclude (Pusher toOthers); empty for none
  std::string app;        // the only Pusher app that may receive it (docs/pusher.md "Apps"); empty: every app
  std::string json;       // the protocol.md "event" object: a /ws text frame
  std::string sse;        // "id: <position>\ndata: <json>\n\n"
  // The Pusher protocol's event frame (docs/pusher.md): {"event":E,"data":"<string>","channel":C,
  // "position":P}. data is a JSON-encoded string, as pusher-js expects.
  std::string pusher;

  // The wire form a transport makes of one of the above (a WebSocket text frame of `json` or of
  // `pusher`): made once, by the first session that sends this frame, on whichever shard, and then
  // shared. The hub does not know how a transport frames its bytes; the transport does not encode an
  // event once per subscriber.
  enum class Wire : std::size_t { WsJson, WsPusher, kCount };
  template <class Encode>
  const std::string& wire(Wire kind, Encode&& encode) const {
    const auto index = static_cast<std::size_t>(kind);
    // The flag spares every later subscriber the call into pthread_once (a hot path: once per delivery).
    if (!wire_ready_[index].load(std::memory_order_acquire)) {
      std::call_once(wire_once_[index], [&] {
        wire_[index] = encode(*this);
        wire_ready_[index].store(true, std::memory_order_release);
      });
    }
    return wire_[index];
  }

 private:
  mutable std::array<std::once_flag, static_cast<std::size_t>(Wire::kCount)> wire_once_;
  mutable std::array<std::atomic<bool>, static_cast<std::size_t>(Wire::kCount)> wire_ready_{};
  mutable std::array<std::string, static_cast<std::size_t>(Wire::kCount)> wire_;
};
using FramePtr = std::shared_ptr<const Frame>;

FramePtr encode_frame(const StoredEvent& event, const std::string& epoch);
// A stored event's position: "<epoch>:<seq>:<id>" (core/position.h), as every frame of it carries.
std::string event_position(const StoredEvent& event, const std::string& epoch);
// The `json` member alone: the protocol.md "event" object (/api/history lists these).
std::string encode_event_json(const StoredEvent& event, const std::string& position);
// The protocol.md "reset" object: history does not cover what was asked for `channel` (`reason`:
// history_pruned, epoch_changed, position_ahead, bad_position); go on from `position`.
std::string encode_reset(const std::string& channel, const char* reason, const std::string& position);
// The `pusher` member alone (exposed for tests).
std::string encode_pusher_event(const Envelope& envelope, const std::string& position);

// JSON string literal (with quotes) for arbitrary text: escapes quotes, backslashes, control characters.
std::string json_quote(const std::string& text);
// Wraps a JSON object as one SSE message, with an optional id line.
std::string sse_message(const std::string& json, const std::string& id = {});

}  // namespace kabar
