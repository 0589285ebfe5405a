#include "gateway/http/ws_request.h"

#include <nlohmann/json.hpp>

#include "core/channel.h"
#include "core/topic_filter.h"

namespace kabar {
namespace {
using nlohmann::json;

std::string quote(const std::string& text) { return json(text).dump(-1, ' ', false, json::error_handler_t::replace); }

// `ref` may be a string or a number; it is echoed back as JSON text, or omitted.
std::string ref_of(const json& request) {
  auto it = request.find("ref");
  if (it == request.end() || !(it->is_string() || it->is_number())) return {};
  return it->dump(-1, ' ', false, json::error_handler_t::replace);
}

// A channel, or an MQTT topic filter (docs/protocol.md "Topic subscriptions"), never both.
std::variant<WsRequest, WsRequestError> channel_request(const json& request, WsRequest out, const char* what) {
  auto channel = request.find("channel");
  auto topic = request.find("topic");
  const bool has_channel = channel != request.end() && channel->is_string();
  const bool has_topic = topic != request.end() && topic->is_string();
  if (has_channel == has_topic)
    return WsRequestError{"bad_request", std::string(what) + " needs a string \"channel\" or a string \"topic\"",
                          out.ref, {}, {}};
  if (has_channel) {
    out.channel = channel->get<std::string>();
  } else {
    out.topic = topic->get<std::string>();
  }
  return out;
}

std::variant<WsRequest, WsRequestError> subscribe_request(const json& request, WsRequest out) {
  auto parsed = channel_request(request, std::move(out), "subscribe");
  auto* ok = std::get_if<WsRequest>(&parsed);
  if (!ok) return parsed;
  if (auto topic = request.find("topic"); topic != request.end() && topic->is_string()) {
    if (!is_topic_filter(ok->topic))
      return WsRequestError{"invalid_topic",
                            "an MQTT topic filter: levels split by '/', '+' and '#' only as whole levels, '#' last",
                            ok->ref, {}, ok->topic};
  } else if (!is_valid_channel_name(ok->channel)) {
    return WsRequestError{"invalid_channel", "channel names are 1-164 characters of [A-Za-z0-9_-=@,.;]", ok->ref,
                          ok->channel, {}};
  }
  if (auto since = request.find("since"); since != request.end() && !since->is_null()) {
    if (!since->is_string())
      return WsRequestError{"bad_request", "\"since\" must be a position string, \"earliest\" or \"latest\"",
                            ok->ref, ok->channel, ok->topic};
    ok->since = since->get<std::string>();
  }
  return parsed;
}

std::variant<WsRequest, WsRequestError> auth_request(const json& request, WsRequest out) {
  auto token = request.find("token");
  if (token == request.end() || !token->is_string())
    return WsRequestError{"bad_request", "auth needs a string \"token\" (\"\" to continue without one)", out.ref, {}, {}};
  out.token = token->get<std::string>();
  return out;
}

}  // namespace

std::variant<WsRequest, WsRequestError> parse_ws_request(std::string_view text) {
  const json request = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (request.is_discarded()) return WsRequestError{"bad_json", "message is not valid JSON", {}, {}, {}};
  if (!request.is_object() || !request.contains("type") || !request["type"].is_string()) {
    return WsRequestError{"bad_request", "message must be a JSON object with a string \"type\"",
                          request.is_object() ? ref_of(request) : std::string(), {}, {}};
  }
  WsRequest out;
  out.ref = ref_of(request);
  const std::string& type = request["type"].get_ref<const std::string&>();
  if (type == "subscribe") {
    out.type = WsRequest::Type::Subscribe;
    return subscribe_request(request, std::move(out));
  }
  if (type == "unsubscribe") {
    out.type = WsRequest::Type::Unsubscribe;
    return channel_request(request, std::move(out), "unsubscribe");
  }
  if (type == "auth") {
    out.type = WsRequest::Type::Auth;
    return auth_request(request, std::move(out));
  }
  if (type == "ping") return out;
  return WsRequestError{"unknown_type", "unknown message type " + quote(type), out.ref, {}, {}};
}

}  // namespace kabar
