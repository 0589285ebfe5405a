#include "gateway/pusher/inbound_message.h"

#include "gateway/pusher/admission.h"
#include "gateway/pusher/protocol_frames.h"

namespace kabar {
using nlohmann::json;

namespace {

InboundKind kind_of(const std::string& event) {
  if (event == "pusher:ping") return InboundKind::Ping;
  if (event == "pusher:pong") return InboundKind::Pong;
  if (event == "pusher:subscribe") return InboundKind::Subscribe;
  if (event == "pusher:unsubscribe") return InboundKind::Unsubscribe;
  if (event.starts_with("client-")) return InboundKind::ClientEvent;
  return InboundKind::Unsupported;
}

}  // namespace

std::string compact_json(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

const std::string* string_member(const json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

json data_of(const json& message) {
  auto it = message.find("data");
  if (it == message.end()) return json::object();
  if (it->is_string()) {
    json parsed = json::parse(it->get_ref<const std::string&>(), nullptr, false);
    return parsed.is_discarded() ? *it : parsed;
  }
  return *it;
}

InboundMessage parse_inbound(std::string_view text) {
  InboundMessage inbound;
  inbound.message = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const std::string* event = string_member(inbound.message, "event");
  if (!event) return inbound;
  inbound.event = *event;
  inbound.kind = kind_of(*event);
  inbound.data = data_of(inbound.message);
  return inbound;
}

bool is_bad_message(const InboundMessage& message) {
  return message.kind == InboundKind::NoEvent || message.kind == InboundKind::Unsupported;
}

std::optional<std::string> direct_reply(const InboundMessage& message) {
  switch (message.kind) {
    case InboundKind::Ping:
      return pusher_frame::pong();
    case InboundKind::NoEvent:
      return PusherError{pusher_code::kReconnect, "Invalid message format"}.frame();
    case InboundKind::Unsupported:
      return PusherError{pusher_code::kReconnect, "Unsupported event " + compact_json(json(message.event))}
          .frame();
    case InboundKind::Pong:
    case InboundKind::Subscribe:
    case InboundKind::Unsubscribe:
    case InboundKind::ClientEvent:
      break;
  }
  return std::nullopt;
}

std::optional<PresenceIdentity> presence_identity(const std::string& channel_data) {
  const json document = json::parse(channel_data, nullptr, false);
  if (!document.is_object()) return std::nullopt;
  auto id = document.find("user_id");
  if (id == document.end()) return std::nullopt;
  PresenceIdentity identity;
  if (id->is_string() && !id->get_ref<const std::string&>().empty()) {
    identity.user_key = id->get<std::string>();
  } else if (id->is_number_integer()) {
    identity.user_key = id->dump();
  } else {
    return std::nullopt;
  }
  identity.user_id_json = compact_json(*id);
  if (auto info = document.find("user_info"); info != document.end() && !info->is_null()) {
    identity.user_info_json = compact_json(*info);
  }
  return identity;
}

}  // namespace kabar
