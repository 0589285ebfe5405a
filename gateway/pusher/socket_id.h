#pragma once
// Socket ids: "<node>.<connection>", two decimal integers as pusher-http-php demands (^\d+\.\d+$), or
// Laravel's /broadcasting/auth and every ->toOthers() publish fail. <node> is random per process, so
// ids of two gateway nodes on one broker do not collide and toOthers stays exact across them;
// <connection> counts up from a random start, so ids are unique on a node for its whole life. Thread-safe.
#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace kabar {

class SocketIdGenerator {
 public:
  SocketIdGenerator();
  // For tests: a fixed node part and start.
  SocketIdGenerator(std::uint32_t node, std::uint64_t first);

  std::string next();
  std::uint32_t node() const { return node_; }

 private:
  std::uint32_t node_;
  std::atomic<std::uint64_t> counter_;
};

bool is_valid_socket_id(std::string_view text);

}  // namespace kabar
