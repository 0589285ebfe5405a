// libFuzzer target: what an /sse request asks for (gateway/http/request_target.cpp,
// gateway/doors/sse/sse_request.cpp) and where it starts (core/position.cpp, which StartPoint::parse
// uses). Input: "<request target>\n<Last-Event-ID>"; without a newline there is no header.
//
// Checked: nothing throws or crashes; a parsed target re-encoded and parsed again gives the same path
// and parameters; an accepted request has 1..max sorted, unique, valid channels and topic filters and its start comes from
// the header first, then ?last_event_id=, then ?since=; a position that parses prints as one that parses
// to the same value; a refusal has a code and a message.
#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/channel.h"
#include "core/topic_filter.h"
#include "gateway/http/request_target.h"
#include "core/position.h"
#include "gateway/doors/sse/sse_request.h"

namespace {
using namespace kabar;

constexpr std::size_t kMaxChannels = 8;

void require(bool condition) {
  if (!condition) std::abort();
}

std::string percent_encode(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      out += {'%', kHex[c >> 4], kHex[c & 15]};
    }
  }
  return out;
}

void check_round_trip(const RequestTarget& target) {
  std::string text = percent_encode(target.path);
  if (!target.params.empty()) text += '?';
  for (std::size_t i = 0; i < target.params.size(); ++i) {
    if (i) text += '&';
    text += percent_encode(target.params[i].first) + "=" + percent_encode(target.params[i].second);
  }
  const auto again = parse_request_target(text);
  require(again.has_value());
  require(again->path == target.path);
  // Empty names with empty values ("&&", "=") may vanish; everything else must survive.
  std::size_t j = 0;
  for (const auto& param : target.params) {
    if (param.first.empty() && param.second.empty()) continue;
    while (j < again->params.size() && again->params[j].first.empty() && again->params[j].second.empty()) ++j;
    require(j < again->params.size() && again->params[j] == param);
    ++j;
  }
}

void check_request(const RequestTarget& target, std::optional<std::string_view> header) {
  const auto parsed = parse_sse_request(target, header, kMaxChannels);
  if (const auto* error = std::get_if<SseRequestError>(&parsed)) {
    require(!error->code.empty() && !error->message.empty());
    return;
  }
  const auto& request = std::get<SseRequest>(parsed);
  require(!(request.channels.empty() && request.topics.empty()));
  require(request.channels.size() + request.topics.size() <= kMaxChannels);
  for (std::size_t i = 0; i < request.channels.size(); ++i) {
    require(is_valid_channel_name(request.channels[i]));
    if (i) require(request.channels[i - 1] < request.channels[i]);
  }
  for (std::size_t i = 0; i < request.topics.size(); ++i) {
    require(is_topic_filter(request.topics[i]));
    if (i) require(request.topics[i - 1] < request.topics[i]);
  }
  if (header) {
    require(request.since == *header);
  } else if (auto query = target.first("last_event_id")) {
    require(request.since == *query);
  } else {
    require(request.since == target.first("since").value_or(""));
  }
  if (auto position = parse_position(request.since)) {
    const auto again = parse_position(position->to_string());
    require(again.has_value() && *again == *position);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view line = input.substr(0, newline);
  std::optional<std::string_view> header;
  if (newline != std::string_view::npos) header = input.substr(newline + 1);
  const auto target = parse_request_target(line);
  if (!target) return 0;
  check_round_trip(*target);
  check_request(*target, header);
  return 0;
}
