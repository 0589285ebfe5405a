#include "core/channel.h"

#include <algorithm>
#include <array>

namespace kabar {
namespace {

constexpr std::size_t kMaxChannelName = 164;

bool is_channel_char(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  switch (c) {
    case '_':
    case '-':
    case '=':
    case '@':
    case ',':
    case '.':
    case ';':
      return true;
    default:
      return false;
  }
}

}  // namespace

bool is_valid_channel_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxChannelName &&
         std::all_of(name.begin(), name.end(), is_channel_char);
}

ChannelKind channel_kind(std::string_view name) {
  // private-encrypted- must be tested before private-, which is its prefix.
  if (name.starts_with("presence-")) return ChannelKind::Presence;
  if (name.starts_with("private-encrypted-")) return ChannelKind::PrivateEncrypted;
  if (name.starts_with("private-")) return ChannelKind::Private;
  return ChannelKind::Public;
}

bool is_cache_channel(std::string_view name) {
  static constexpr std::array<std::string_view, 4> kCachePrefixes = {
      "cache-", "private-cache-", "private-encrypted-cache-", "presence-cache-"};
  return std::any_of(kCachePrefixes.begin(), kCachePrefixes.end(),
                     [name](std::string_view prefix) { return name.starts_with(prefix); });
}

}  // namespace kabar
