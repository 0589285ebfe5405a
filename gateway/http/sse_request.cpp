#include "gateway/http/sse_request.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "bridge/channel.h"

namespace kabar {

std::variant<SseRequest, SseRequestError> parse_sse_request(const RequestTarget& target,
                                                            std::optional<std::string_view> last_event_id,
                                                            std::size_t max_channels) {
  SseRequest request;
  request.channels = target.all("channel");
  if (request.channels.empty()) return SseRequestError{"bad_request", "give at least one ?channel=NAME"};
  std::sort(request.channels.begin(), request.channels.end());
  request.channels.erase(std::unique(request.channels.begin(), request.channels.end()), request.channels.end());
  if (request.channels.size() > max_channels) {
    return SseRequestError{"too_many_subscriptions",
                           "at most " + std::to_string(max_channels) + " channels per stream"};
  }
  for (const auto& channel : request.channels) {
    if (!is_valid_channel_name(channel)) {
      return SseRequestError{"invalid_channel", "invalid channel name " +
                                                    nlohmann::json(channel).dump(-1, ' ', false,
                                                                                 nlohmann::json::error_handler_t::replace)};
    }
  }
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
