#include "core/position.h"

#include <charconv>

namespace kabar {
namespace {

// Epochs we issue are 12 lowercase hex chars; accepting any short token of safe characters keeps
// positions from other (future) stores parseable while refusing text that could not be echoed back
// verbatim in a JSON frame or an HTTP header.
constexpr std::size_t kMaxEpochLength = 64;

bool is_epoch_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

bool is_valid_epoch(std::string_view epoch) {
  if (epoch.empty() || epoch.size() > kMaxEpochLength) return false;
  for (char c : epoch) {
    if (!is_epoch_char(c)) return false;
  }
  return true;
}

}  // namespace

bool is_event_id(std::string_view text) {
  if (text.empty() || text.size() > 128) return false;
  for (char c : text) {
    if (!is_epoch_char(c) && c != '.' && c != ':') return false;
  }
  return true;
}

std::optional<Position> parse_position(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return std::nullopt;
  const std::string_view epoch = text.substr(0, colon);
  std::string_view digits = text.substr(colon + 1);
  std::string_view anchor;
  if (const auto second = digits.find(':'); second != std::string_view::npos) {
    anchor = digits.substr(second + 1);
    digits = digits.substr(0, second);
    if (!is_event_id(anchor)) return std::nullopt;
  }
  if (!is_valid_epoch(epoch) || digits.empty()) return std::nullopt;
  // from_chars would accept a leading '-'; a position's seq is never negative.
  if (digits.front() < '0' || digits.front() > '9') return std::nullopt;

  std::int64_t seq = 0;
  const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), seq);
  if (error != std::errc{} || end != digits.data() + digits.size()) return std::nullopt;
  return Position{std::string(epoch), seq, std::string(anchor)};
}

}  // namespace kabar
