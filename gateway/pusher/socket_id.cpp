#include "gateway/pusher/socket_id.h"

#include <random>

namespace kabar {
namespace {

std::uint64_t random_between(std::uint64_t low, std::uint64_t high) {
  std::random_device device;
  std::mt19937_64 generator((static_cast<std::uint64_t>(device()) << 32) ^ device());
  return std::uniform_int_distribution<std::uint64_t>(low, high)(generator);
}

}  // namespace

// Like Reverb's random_int(1, 1e9): short enough to read in logs, wide enough not to collide.
SocketIdGenerator::SocketIdGenerator()
    : node_(static_cast<std::uint32_t>(random_between(1, 999'999'999))),
      counter_(random_between(1, 999'999'999)) {}

SocketIdGenerator::SocketIdGenerator(std::uint32_t node, std::uint64_t first)
    : node_(node), counter_(first) {}

std::string SocketIdGenerator::next() {
  return std::to_string(node_) + "." + std::to_string(counter_.fetch_add(1, std::memory_order_relaxed));
}

bool is_valid_socket_id(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == text.size() || text.size() > 64) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i != dot && (text[i] < '0' || text[i] > '9')) return false;
  }
  return true;
}

}  // namespace kabar
