#include "gateway/pusher/client_event_policy.h"

namespace kabar {

std::optional<PusherError> client_event_refusal(const ClientEventFacts& facts) {
  using namespace pusher_code;
  if (!facts.client_messages_enabled)
    return PusherError{kClientEventRejected, "The app does not have client messaging enabled."};
  const ChannelKind kind = channel_kind(facts.channel);
  if (kind != ChannelKind::Private && kind != ChannelKind::Presence)
    return PusherError{kClientEventRejected,
                       "Client events are only allowed on private and presence channels."};
  if (!facts.sender_subscribed)
    return PusherError{kUnauthorized, "The client is not a member of the specified channel."};
  if (facts.event.size() > kMaxClientEventNameBytes)
    return PusherError{kClientEventRejected, "Event names are at most 200 bytes."};
  if (facts.data_bytes > kMaxClientEventBytes)
    return PusherError{kClientEventRejected, "Client event data is over 10 KB."};
  return std::nullopt;
}

PusherError client_event_rate_exceeded() {
  return {pusher_code::kClientEventRejected, "The rate limit for sending client events exceeded the quota."};
}

bool ClientEventRate::take(Clock::time_point now) {
  if (now - window_start_ >= std::chrono::seconds(1)) {
    window_start_ = now;
    taken_in_window_ = 0;
  }
  if (taken_in_window_ >= kClientEventsPerSecond) return false;
  ++taken_in_window_;
  return true;
}

std::string client_event_user(ChannelKind kind, const std::string& sender_user_key) {
  return kind == ChannelKind::Presence ? sender_user_key : std::string();
}

}  // namespace kabar
