// libFuzzer target: one Pusher protocol text frame (what pusher-js and other Pusher clients send on /app)
// through parse_inbound (gateway/pusher/inbound_message.cpp), then through the pure steps
// PusherSession::handle_message takes with it: direct_reply, the subscribe path's data.channel,
// presence_identity and join_channel/leave_channel (on a fresh PusherApp), and the client-event path's
// client_event_refusal and the relayed frame.
//
// Checked: nothing throws or crashes; the kind agrees with `event`; every frame built by string appends
// (pong, pusher:error, subscription_error, subscription_succeeded with the presence snapshot,
// member_added/member_removed, the relayed client event) is a valid JSON object, and the values spliced
// into it (channel, event, user_id, user_info, the client's data) come back out of it unchanged.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/channel.h"
#include "gateway/pusher/channel_membership.h"
#include "gateway/pusher/client_event_policy.h"
#include "gateway/pusher/inbound_message.h"
#include "gateway/pusher/protocol_frames.h"
#include "gateway/pusher/pusher_app.h"

namespace {
using namespace kabar;
using nlohmann::json;

void require(bool condition) {
  if (!condition) std::abort();
}

json parse_object(const std::string& text) {
  json value = json::parse(text, nullptr, false);
  require(value.is_object());
  return value;
}

// The pusher:error / pusher_internal:* frames carry their data as a JSON-encoded string.
json string_data(const json& frame) {
  require(frame.contains("data") && frame["data"].is_string());
  return parse_object(frame["data"].get<std::string>());
}

void check_error_frame(const std::string& text, int code, const std::string& channel) {
  json frame = parse_object(text);
  require(frame["event"] == "pusher:error");
  require(string_data(frame)["code"] == code);
  if (channel.empty()) {
    require(!frame.contains("channel"));
  } else {
    require(frame["channel"] == channel);
  }
}

void check_subscribe(const json& data) {
  const std::string* name = string_member(data, "channel");
  if (!name) return;  // the session answers with a fixed pusher:error
  const std::string channel = *name;
  if (!is_valid_channel_name(channel)) {
    json frame = parse_object(pusher_frame::subscription_error(channel, "InvalidChannel", "bad", 400));
    require(frame["channel"] == channel && frame["data"]["status"] == 400);
    return;
  }
  const ChannelKind kind = channel_kind(channel);
  std::optional<PresenceIdentity> identity;
  if (kind == ChannelKind::Presence) {
    const std::string* channel_data = string_member(data, "channel_data");
    if (!channel_data) return;  // refused before presence_identity is asked
    identity = presence_identity(*channel_data);
    if (!identity) return;
    const json document = json::parse(*channel_data);
    const json& id = document.at("user_id");
    require(!identity->user_key.empty());
    require(json::parse(identity->user_id_json) == id);
    require(identity->user_key == (id.is_string() ? id.get<std::string>() : id.dump()));
    const auto info = document.find("user_info");
    if (info == document.end() || info->is_null()) {
      require(identity->user_info_json.empty());
    } else {
      require(json::parse(identity->user_info_json) == *info);
    }
  }
  // A fresh app per input: the frames PusherSession::join and leave send, built from this member.
  PusherAppConfig config;
  config.id = "fuzz";
  config.key = "fuzz-key";
  config.secret = "fuzz-secret";
  PusherApp app(config);
  const JoinOutcome joined = join_channel(app, channel, identity ? &*identity : nullptr);
  require(joined.occupied);
  json reply = parse_object(joined.reply);
  require(reply["event"] == "pusher_internal:subscription_succeeded" && reply["channel"] == channel);
  json reply_data = string_data(reply);
  if (!identity) {
    require(!joined.member_added && reply_data.empty());
    require(leave_channel(app, channel, kind, {}).vacated);
    return;
  }
  json& presence = reply_data["presence"];
  require(presence["count"] == 1 && presence["ids"] == json::array({identity->user_key}));
  const json info = presence["hash"][identity->user_key];
  require(identity->user_info_json.empty() ? info == json::object() : info == json::parse(identity->user_info_json));
  require(joined.member_added.has_value());
  json added = parse_object(joined.member_added->frame);
  require(added["channel"] == channel && string_data(added)["user_id"] == json::parse(identity->user_id_json));
  const LeaveOutcome left = leave_channel(app, channel, kind, identity->user_key);
  require(left.vacated && left.member_removed.has_value());
  json removed = parse_object(left.member_removed->frame);
  require(removed["channel"] == channel &&
          string_data(removed)["user_id"] == json::parse(identity->user_id_json));
}

void check_client_event(const InboundMessage& inbound) {
  const json& message = inbound.message;
  const std::string* name = string_member(message, "channel");
  const std::string channel = name ? *name : std::string();
  const auto data = message.find("data");
  const std::string data_json = data == message.end() ? "null" : compact_json(*data);
  ClientEventFacts facts;
  facts.event = inbound.event;
  facts.channel = channel;
  facts.sender_subscribed = is_valid_channel_name(channel);
  facts.data_bytes = data_json.size();
  if (const auto refusal = client_event_refusal(facts)) {
    require(refusal->code == pusher_code::kClientEventRejected || refusal->code == pusher_code::kUnauthorized);
    check_error_frame(refusal->frame(channel), refusal->code, channel);
    return;
  }
  const ChannelKind kind = channel_kind(channel);
  require(kind == ChannelKind::Private || kind == ChannelKind::Presence);
  require(inbound.event.size() <= kMaxClientEventNameBytes && data_json.size() <= kMaxClientEventBytes);
  const std::string user = client_event_user(kind, "7");
  json frame = parse_object(pusher_frame::client_event(inbound.event, channel, data_json, user));
  require(frame["event"] == inbound.event && frame["channel"] == channel);
  require(frame["data"] == (data == message.end() ? json() : *data));
  require(user.empty() ? !frame.contains("user_id") : frame["user_id"] == user);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const InboundMessage inbound = parse_inbound(text);

  const std::string* event = string_member(inbound.message, "event");
  require((inbound.kind == InboundKind::NoEvent) == (event == nullptr));
  if (event) {
    require(inbound.event == *event);
    require(inbound.data == data_of(inbound.message));
  } else {
    require(inbound.event.empty());
  }
  require(is_bad_message(inbound) ==
          (inbound.kind == InboundKind::NoEvent || inbound.kind == InboundKind::Unsupported));

  const auto reply = direct_reply(inbound);
  switch (inbound.kind) {
    case InboundKind::Ping:
      require(reply && parse_object(*reply)["event"] == "pusher:pong");
      break;
    case InboundKind::NoEvent:
    case InboundKind::Unsupported:
      require(reply.has_value());
      check_error_frame(*reply, pusher_code::kReconnect, {});
      break;
    case InboundKind::Subscribe:
      require(!reply);
      check_subscribe(inbound.data);
      break;
    case InboundKind::ClientEvent:
      require(!reply && inbound.event.starts_with("client-"));
      check_client_event(inbound);
      break;
    case InboundKind::Pong:
    case InboundKind::Unsubscribe:
      require(!reply);
      break;
  }
  return 0;
}
