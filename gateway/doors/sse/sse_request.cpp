#include "gateway/doors/sse/sse_request.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "core/channel.h"

namespace kabar {

std::variant<std::vector<std::string>, SseRequestError> parse_channels(const RequestTarget& target,
                                                                       std::size_t max_channels) {
  std::vector<std::string> channels = target.all("channel");
  if (channels.empty()) return SseRequestError{"bad_request", "give at least one ?channel=NAME"};
  std::sort(channels.begin(), channels.end());
  channels.erase(std::unique(channels.begin(), channels.end()), channels.end());
  if (channels.size() > max_channels) {
    return SseRequestError{"too_many_subscriptions",
                           "at most " + std::to_string(max_channels) + " channels per stream"};
  }
  for (const auto& channel : channels) {
    if (!is_valid_channel_name(channel)) {
      return SseRequestError{"invalid_channel", "invalid channel name " +
                                                    nlohmann::json(channel).dump(-1, ' ', false,
                                                                                 nlohmann::json::error_handler_t::replace)};
    }
  }
  return channels;
}

std::variant<SseRequest, SseRequestError> parse_sse_request(const RequestTarget& target,
                                                            std::optional<std::string_view> last_event_id,
                                                            std::size_t max_channels) {
  auto channels = parse_channels(target, max_channels);
  if (auto* problem = std::get_if<SseRequestError>(&channels)) return *problem;
  SseRequest request;
  request.channels = std::move(std::get<std::vector<std::string>>(channels));
  if (last_event_id) {
    request.since = std::string(*last_event_id);
  } else if (auto query = target.first("last_event_id")) {
    request.since = *query;
  } else if (auto query_since = target.first("since")) {
    request.since = *query_since;
  }
  return request;
}

}  // namespace kabar
