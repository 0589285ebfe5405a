#pragma once
// The client's address behind a reverse proxy (docs/configuration.md "Behind a proxy"). A connection from
// an address in http.trusted_proxies speaks for someone else: its X-Forwarded-For names who. The chain is
// read from the right (the entry the nearest proxy appended) and the first address that is not itself a
// trusted proxy is the client; anything further left was written by that client and proves nothing. From
// any other peer X-Forwarded-For is ignored: the peer is the client. The result feeds the per-address
// connection cap (http.max_connections_per_ip) and the refusal logs.
#include <boost/asio/ip/address.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kabar {

class TrustedProxies {
 public:
  TrustedProxies() = default;
  // Entries: addresses ("10.0.0.5", "::1") or CIDR blocks ("10.0.0.0/8", "fd00::/8"). Throws
  // std::invalid_argument naming the entry that is neither.
  explicit TrustedProxies(const std::vector<std::string>& entries);

  bool empty() const { return blocks_.empty(); }
  bool contains(const boost::asio::ip::address& address) const;

  // The client behind `peer`: `peer` itself unless it is trusted and `forwarded_for` (the X-Forwarded-For
  // header values, in order) names someone. A malformed entry ends the walk: the last good address seen
  // (or the peer) is the client.
  boost::asio::ip::address client_of(const boost::asio::ip::address& peer,
                                     const std::vector<std::string_view>& forwarded_for) const;

 private:
  struct Block {
    boost::asio::ip::address network;  // IPv4 blocks as IPv4, IPv6 as IPv6
    unsigned prefix = 0;
  };
  std::vector<Block> blocks_;
};

// "10.0.0.5", "[::1]" or "::ffff:10.0.0.5" (as IPv4); nullopt for anything else (ports, names, "unknown").
std::optional<boost::asio::ip::address> parse_forwarded_address(std::string_view text);

}  // namespace kabar
