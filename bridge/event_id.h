#pragma once
// derived_event_id: the id of a message that carries none, the same on every node that receives it
// (resuming on another node finds the event by its id: core/position.h). "h" + 26 characters of
// Crockford base32 of SHA-256(topic, 0, payload). A repeat of the same message on the same topic is
// another event: the store then adds ".<n>" (Envelope::derived_id; docs/bridge.md "Event ids").
//
// EventIdGenerator: ids for events kabar makes itself (the Pusher REST API): "k" + 26 characters, ULID-like (48-bit Unix ms timestamp,
// then 80 random bits, Crockford base32), so ids sort by creation time and are unique without
// coordination. Within one millisecond the random part counts up, keeping ids strictly increasing
// per generator. Fits the envelope's id rule [A-Za-z0-9._:-]{1,128}. Thread-safe.
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <string_view>

namespace kabar {

std::string derived_event_id(std::string_view topic, std::string_view payload);

class EventIdGenerator {
 public:
  EventIdGenerator();
  std::string next(std::int64_t now_ms);

 private:
  std::mutex mutex_;
  std::mt19937_64 rng_;
  std::int64_t last_ms_ = -1;
  std::uint16_t random_high_ = 0;  // top 16 of the 80 random bits
  std::uint64_t random_low_ = 0;
};

}  // namespace kabar
