// libFuzzer target: one /ws text message through parse_ws_request (gateway/http/ws_request.cpp), the
// function WsSession::handle_message acts on.
//
// Checked: nothing throws or crashes; an error has a known code and a message; a subscribe names a valid
// channel or a valid topic filter (never both); `ref` is empty or the JSON text of a string or number; and the frames WsSession builds from
// the result by string appends (an error frame, a pong, "subscribed", with the ref spliced in before the
// closing brace) are valid JSON objects carrying that ref.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "core/channel.h"
#include "core/topic_filter.h"
#include "gateway/http/ws_request.h"

namespace {
using namespace kabar;
using nlohmann::json;

void require(bool condition) {
  if (!condition) std::abort();
}

std::string quote(const std::string& text) { return json(text).dump(-1, ' ', false, json::error_handler_t::replace); }

// As ws_session.cpp's with_ref: the ref's JSON text goes in before the closing brace.
std::string with_ref(std::string object, const std::string& ref) {
  if (ref.empty()) return object;
  object.pop_back();
  return object + R"(,"ref":)" + ref + "}";
}

void check_frame(const std::string& text, const std::string& ref) {
  const json frame = json::parse(text, nullptr, false);
  require(frame.is_object());
  if (!ref.empty()) require(frame.contains("ref") && frame["ref"] == json::parse(ref));
}

void check_ref(const std::string& ref) {
  if (ref.empty()) return;
  const json value = json::parse(ref, nullptr, false);
  require(value.is_string() || value.is_number());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::set<std::string> kCodes = {"bad_json", "bad_request", "unknown_type", "invalid_channel",
                                                "invalid_topic"};
  const auto parsed = parse_ws_request(std::string_view(reinterpret_cast<const char*>(data), size));
  if (const auto* error = std::get_if<WsRequestError>(&parsed)) {
    require(kCodes.count(error->code) == 1 && !error->message.empty());
    check_ref(error->ref);
    std::string object = R"({"type":"error","code":")" + error->code + R"(","message":)" + quote(error->message);
    if (!error->channel.empty()) object += R"(,"channel":)" + quote(error->channel);
    if (!error->topic.empty()) object += R"(,"topic":)" + quote(error->topic);
    check_frame(with_ref(object + "}", error->ref), error->ref);
    return 0;
  }
  const auto& request = std::get<WsRequest>(parsed);
  check_ref(request.ref);
  switch (request.type) {
    case WsRequest::Type::Subscribe:
      if (request.channel.empty()) {
        require(is_topic_filter(request.topic));
        check_frame(with_ref(R"({"type":"subscribed","topic":)" + quote(request.topic) + R"(,"position":"e:1"})",
                             request.ref),
                    request.ref);
        break;
      }
      require(request.topic.empty() && is_valid_channel_name(request.channel));
      check_frame(with_ref(R"({"type":"subscribed","channel":)" + quote(request.channel) + R"(,"position":"e:1"})",
                           request.ref),
                  request.ref);
      break;
    case WsRequest::Type::Unsubscribe:
      require(request.channel.empty() || request.topic.empty());  // never both
      check_frame(with_ref(R"({"type":"unsubscribed","channel":)" + quote(request.channel) + "}", request.ref),
                  request.ref);
      break;
    case WsRequest::Type::Auth:
    case WsRequest::Type::Ping:
      check_frame(with_ref(R"({"type":"pong"})", request.ref), request.ref);
      break;
  }
  return 0;
}
