#pragma once
// The Pusher door's counters (/app/{key}, docs/pusher.md), owned by PusherService, updated by its
// sessions with relaxed atomics and read by /metrics (kabar_pusher_*) and by the Gateway's drain at
// shutdown (open connections).
#include <atomic>
#include <cstdint>

namespace kabar {

struct PusherStats {
  std::atomic<std::uint64_t> open{0};      // connections past the upgrade, not yet ended
  std::atomic<std::uint64_t> accepted{0};  // upgrades completed (refused ones included)
  std::atomic<std::uint64_t> refused{0};   // refused at the handshake (unknown key, origin, quota...)
  std::atomic<std::uint64_t> bad_messages{0};   // malformed or unknown messages
  std::atomic<std::uint64_t> auth_failures{0};  // private/presence subscriptions with a bad signature
  std::atomic<std::uint64_t> client_events{0}, client_events_rejected{0};  // relayed / refused by policy
};

// The same for one app (kabar_pusher_app_*{app_id}), held by its PusherApp; connections are the app's own
// count (PusherApp::connections). Unknown keys have no app: they count in PusherStats only.
struct PusherAppStats {
  std::atomic<std::uint64_t> accepted{0}, refused{0}, auth_failures{0};
  std::atomic<std::uint64_t> client_events{0}, client_events_rejected{0};
};

}  // namespace kabar
