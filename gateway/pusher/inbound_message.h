#pragma once
// What a Pusher client sent, read before anything acts on it (docs/pusher.md "Client → server",
// shared/docs/pusher-protocol.md §2.1, checklist items 3 and 4). Pure: no session state.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace kabar {

enum class InboundKind { Ping, Pong, Subscribe, Unsubscribe, ClientEvent, NoEvent, Unsupported };

struct InboundMessage {
  InboundKind kind = InboundKind::NoEvent;
  std::string event;       // empty for NoEvent
  nlohmann::json message;  // the whole object: client events read channel and data from it
  nlohmann::json data;     // data_of(message)
};

// Malformed JSON, a non-object or an object without a string `event` is NoEvent.
InboundMessage parse_inbound(std::string_view text);

// pusher-js sends `data` as an object; other clients send it JSON-encoded in a string. Both give the
// same value; a string that is not JSON stays a string; no `data` is an empty object.
nlohmann::json data_of(const nlohmann::json& message);

// The string member `name` of an object, or null (absent, not a string, not an object).
const std::string* string_member(const nlohmann::json& object, const char* name);

// The answer that needs no session state: pusher:pong to a ping, pusher:error 4200 to a message without
// an event or with an event the protocol does not have. Nothing for a pong (any frame proves the client
// alive) nor for what the session handles itself (subscribe, unsubscribe, client events).
std::optional<std::string> direct_reply(const InboundMessage& message);
bool is_bad_message(const InboundMessage& message);

// Who a presence subscriber is, from channel_data {"user_id": "1" | 1, "user_info": any}.
struct PresenceIdentity {
  std::string user_key;        // the user_id as a string: the key of presence.hash, one member per user
  std::string user_id_json;    // the id as the client wrote it ("1" or 1): member events echo it
  std::string user_info_json;  // compact JSON; empty when absent or null
};
// Null unless channel_data is a JSON object with a non-empty string or an integer user_id.
std::optional<PresenceIdentity> presence_identity(const std::string& channel_data);

// Compact JSON text; invalid UTF-8 is replaced rather than thrown on.
std::string compact_json(const nlohmann::json& value);

}  // namespace kabar
