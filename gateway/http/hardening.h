#pragma once
// Hardening shared by the doors (docs/configuration.md "Hardening"): allowed origins, a per-address cap on
// open connections, a per-connection message rate, and one way to count and log every such refusal.
// Each refusal is counted in kabar_http_refused_total{reason} and logged without tokens or bodies.
#include <array>
#include <atomic>
#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kabar {

struct ServerContext;

enum class Refusal {
  OriginNotAllowed,    // a browser page from an origin not in http.allowed_origins
  TooManyConnections,  // the address already holds http.max_connections_per_ip connections
  HeaderTooLarge,      // request head over http.max_header_bytes
  BodyTooLarge,        // request body over http.max_message_bytes
  RequestTimeout,      // a request not complete within http.request_timeout_ms (slowloris)
  RateLimited,         // /ws messages faster than http.ws_messages_per_s allows
};
inline constexpr std::size_t kRefusalKinds = 6;
std::string_view refusal_name(Refusal refusal);  // "origin_not_allowed", ...

using RefusalCounters = std::array<std::atomic<std::uint64_t>, kRefusalKinds>;

// Counts the refusal and logs it at info ("refused <door> request from <peer>: <reason>: <detail>"). Under
// a flood at most 20 lines a second are written; the rest are only counted. `detail` must hold no token.
void note_refusal(ServerContext& context, Refusal refusal, std::string_view door, std::string_view peer,
                  std::string_view detail);

// An Origin header ("https://app.example.com") against patterns: "*", hosts, globs ("*.example.com") or
// whole origins ("https://app.example.com:8443"). Hosts compare case-insensitively. An empty origin
// matches only "*".
bool origin_matches(const std::vector<std::string>& patterns, std::string_view origin);
// Whether `origin` is named by an entry other than "*" (a host, a glob such as "*.example.com" or a whole
// origin): the operator trusts that page with its users' cookies. "*" allows any page to connect, never to
// act with a user's cookie (docs/authorization.md "Browser origins").
bool origin_named(const std::vector<std::string>& patterns, std::string_view origin);
// Whether `origin` ("http://host:port") is this server itself, as the request's Host header names it.
bool origin_is_host(std::string_view origin, std::string_view host);
// The native doors' rule: requests without Origin come from non-browser clients (apps, servers, curl),
// which the Origin check does not concern; a browser always sends it on cross-origin and WS requests.
inline bool origin_allowed(const std::vector<std::string>& patterns, std::string_view origin) {
  return origin.empty() || origin_matches(patterns, origin);
}

// Open connections per client address. A connection is counted while its owner (the session object that
// holds the socket: first the HttpSession, then the WsSession/SseSession/PusherSession it hands over to)
// is alive, so no session needs to report its own end. Thread-safe; shared by every shard.
class ConnectionLimiter {
 public:
  explicit ConnectionLimiter(std::size_t per_address) : per_address_(per_address) {}
  // false when `address` already has its limit of live connections (0: no limit).
  bool admit(const boost::asio::ip::address& address, const std::shared_ptr<const void>& owner);
  // The socket moved from `from` to `to`: keep counting it while `to` lives.
  void transfer(const boost::asio::ip::address& address, const void* from, const std::shared_ptr<const void>& to);
  std::size_t count(const boost::asio::ip::address& address);
  std::size_t limit() const { return per_address_; }

 private:
  struct Entry {
    const void* key;
    std::weak_ptr<const void> alive;
  };
  void sweep_locked();

  const std::size_t per_address_;
  std::mutex mutex_;
  std::unordered_map<std::string, std::vector<Entry>> by_address_;
  std::size_t admits_since_sweep_ = 0;
};

// Token bucket: `per_second` messages on average, bursts of `burst`. Owned by one connection (no lock).
class MessageRateLimiter {
 public:
  using Clock = std::chrono::steady_clock;
  MessageRateLimiter(double per_second, double burst) : rate_(per_second), burst_(burst), tokens_(burst) {}
  bool allow(Clock::time_point now = Clock::now());

 private:
  double rate_, burst_, tokens_;
  Clock::time_point last_{};
  bool started_ = false;
};

}  // namespace kabar
