#include "gateway/doors/sse/sse_request.h"

#include "core/topic_filter.h"

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

namespace {
std::string quoted(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}
}  // namespace

std::variant<SseRequest, SseRequestError> parse_sse_request(const RequestTarget& target,
                                                            std::optional<std::string_view> last_event_id,
                                                            std::size_t max_channels) {
  SseRequest request;
  request.topics = target.all("topic");
  std::sort(request.topics.begin(), request.topics.end());
  request.topics.erase(std::unique(request.topics.begin(), request.topics.end()), request.topics.end());
  for (const auto& topic : request.topics) {
    if (!is_topic_filter(topic)) {
      return SseRequestError{"invalid_topic", "invalid MQTT topic filter " + quoted(topic) +
                                                  " ('+' and '#' only as whole levels, '#' last)"};
    }
  }
  if (!request.topics.empty() && target.all("channel").empty()) {
    if (request.topics.size() > max_channels) {
      return SseRequestError{"too_many_subscriptions",
                             "at most " + std::to_string(max_channels) + " channels and topics per stream"};
    }
  } else {
    auto channels = parse_channels(target, max_channels);
    if (auto* problem = std::get_if<SseRequestError>(&channels)) {
      if (problem->code == "bad_request") problem->message = "give at least one ?channel=NAME or ?topic=FILTER";
      return *problem;
    }
    request.channels = std::move(std::get<std::vector<std::string>>(channels));
    if (request.channels.size() + request.topics.size() > max_channels) {
      return SseRequestError{"too_many_subscriptions",
                             "at most " + std::to_string(max_channels) + " channels and topics per stream"};
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
