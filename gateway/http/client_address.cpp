#include "gateway/http/client_address.h"

#include <array>
#include <charconv>
#include <stdexcept>

namespace kabar {
namespace ip = boost::asio::ip;

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

// IPv4-mapped IPv6 (a dual-stack listener's view of an IPv4 peer) compares as the IPv4 address.
ip::address plain(const ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped())
    return ip::make_address_v4(ip::v4_mapped, address.to_v6());
  return address;
}

template <std::size_t N>
bool same_prefix(const std::array<unsigned char, N>& a, const std::array<unsigned char, N>& b, unsigned prefix) {
  for (std::size_t i = 0; i < N && prefix > 0; ++i) {
    const unsigned bits = prefix >= 8 ? 8 : prefix;
    const auto mask = static_cast<unsigned char>(0xFF << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
    prefix -= bits;
  }
  return true;
}

}  // namespace

std::optional<ip::address> parse_forwarded_address(std::string_view text) {
  text = trim(text);
  if (text.size() >= 2 && text.front() == '[' && text.back() == ']') text = text.substr(1, text.size() - 2);
  boost::system::error_code error;
  const ip::address address = ip::make_address(std::string(text), error);
  if (error) return std::nullopt;
  return plain(address);
}

TrustedProxies::TrustedProxies(const std::vector<std::string>& entries) {
  for (const std::string& entry : entries) {
    const std::string_view text = trim(entry);
    const auto slash = text.find('/');
    auto address = parse_forwarded_address(text.substr(0, slash));
    if (!address) throw std::invalid_argument("'" + entry + "' is not an IP address or a CIDR block");
    const unsigned bits = address->is_v4() ? 32 : 128;
    unsigned prefix = bits;
    if (slash != std::string_view::npos) {
      const std::string_view digits = text.substr(slash + 1);
      const auto [end, failure] = std::from_chars(digits.data(), digits.data() + digits.size(), prefix);
      if (failure != std::errc() || end != digits.data() + digits.size() || digits.empty() || prefix > bits)
        throw std::invalid_argument("'" + entry + "': the prefix length must be 0 to " + std::to_string(bits));
    }
    blocks_.push_back(Block{*address, prefix});
  }
}

bool TrustedProxies::contains(const ip::address& raw) const {
  const ip::address address = plain(raw);
  for (const Block& block : blocks_) {
    if (block.network.is_v4() != address.is_v4()) continue;
    const bool inside = address.is_v4()
                            ? same_prefix(block.network.to_v4().to_bytes(), address.to_v4().to_bytes(), block.prefix)
                            : same_prefix(block.network.to_v6().to_bytes(), address.to_v6().to_bytes(), block.prefix);
    if (inside) return true;
  }
  return false;
}

ip::address TrustedProxies::client_of(const ip::address& peer,
                                      const std::vector<std::string_view>& forwarded_for) const {
  ip::address client = plain(peer);
  if (!contains(client)) return client;
  // Right to left over every header line and every comma-separated entry.
  for (auto line = forwarded_for.rbegin(); line != forwarded_for.rend(); ++line) {
    std::string_view rest = *line;
    while (!rest.empty()) {
      const auto comma = rest.rfind(',');
      const std::string_view entry = comma == std::string_view::npos ? rest : rest.substr(comma + 1);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
      if (trim(entry).empty()) continue;
      auto address = parse_forwarded_address(entry);
      if (!address) return client;
      client = *address;
      if (!contains(client)) return client;
    }
  }
  return client;
}

}  // namespace kabar
