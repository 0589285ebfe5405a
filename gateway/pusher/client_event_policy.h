#pragma once
// The rules a client event (Echo's whisper) must pass before it is relayed (docs/pusher.md "Client
// events", shared/docs/pusher-protocol.md §2.9, checklist item 7). Pure: the session gathers the
// facts, these decide.
#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "core/channel.h"
#include "gateway/pusher/admission.h"

namespace kabar {

inline constexpr int kClientEventsPerSecond = 10;               // Pusher's documented limit
inline constexpr std::size_t kMaxClientEventBytes = 10 * 1024;  // the data, as compact JSON
inline constexpr std::size_t kMaxClientEventNameBytes = 200;

struct ClientEventFacts {
  bool client_messages_enabled = true;  // the app's enable_client_messages
  std::string_view event;               // "client-..."
  std::string_view channel;
  bool sender_subscribed = false;  // the sender holds the channel
  std::size_t data_bytes = 0;      // size of the data as compact JSON
};

// The first rule broken, in this order: the app's switch, the channel kind (private and presence only;
// private-encrypted- is refused: the server cannot read what it would relay), membership, name length,
// data size. The rate is checked after these, by ClientEventRate. Refusals keep the socket open.
std::optional<PusherError> client_event_refusal(const ClientEventFacts& facts);
PusherError client_event_rate_exceeded();

// At most kClientEventsPerSecond client events in a one-second window per connection.
class ClientEventRate {
 public:
  using Clock = std::chrono::steady_clock;
  bool take(Clock::time_point now);

 private:
  Clock::time_point window_start_{};
  int taken_in_window_ = 0;
};

// The user_id a relayed client event carries (pusher_frame::client_event): the sender's on presence
// channels (pusher-js hands it to bind callbacks as metadata.user_id), none elsewhere.
std::string client_event_user(ChannelKind kind, const std::string& sender_user_key);

}  // namespace kabar
