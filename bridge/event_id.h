#pragma once
// Event ids for payloads that carry none: "k" + 26 characters, ULID-like (48-bit Unix ms timestamp,
// then 80 random bits, Crockford base32), so ids sort by creation time and are unique without
// coordination. Within one millisecond the random part counts up, keeping ids strictly increasing
// per generator. Fits the envelope's id rule [A-Za-z0-9._:-]{1,128}. Thread-safe.
#include <cstdint>
#include <mutex>
#include <random>
#include <string>

namespace kabar {

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
