#pragma once
// One /ws text message, parsed and checked (docs/protocol.md): either a request the session can act on,
// or the error frame to answer. Pure (no I/O, no state, no policy), so WsSession and the fuzz target
// (tests/fuzz/fuzz_ws_message.cpp) run the same code.
#include <string>
#include <string_view>
#include <variant>

namespace kabar {

struct WsRequest {
  enum class Type { Subscribe, Unsubscribe, Auth, Ping };
  Type type = Type::Ping;
  std::string ref;      // the client's "ref" as JSON text (a string or a number), echoed back; "" if none
  std::string channel;  // subscribe: a valid channel name; unsubscribe: any string
  std::string topic;    // instead of a channel: subscribe: a valid MQTT topic filter; unsubscribe: any string
  std::string since;    // subscribe: "", "earliest", "latest" or a position (garbage is a reset, not an error)
  std::string token;    // auth: the token ("" continues anonymously)
};

struct WsRequestError {
  std::string code;  // bad_json, bad_request, unknown_type, invalid_channel, invalid_topic
  std::string message;
  std::string ref;
  std::string channel;  // when the error concerns one
  std::string topic;    // when the error concerns a topic filter
};

std::variant<WsRequest, WsRequestError> parse_ws_request(std::string_view text);

}  // namespace kabar
