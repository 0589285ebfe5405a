#include "bridge/event_id.h"

namespace kabar {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

}  // namespace

EventIdGenerator::EventIdGenerator() {
  std::random_device device;
  rng_.seed((static_cast<std::uint64_t>(device()) << 32) ^ device());
}

std::string EventIdGenerator::next(std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  if (now_ms > last_ms_) {
    last_ms_ = now_ms;
    random_high_ = static_cast<std::uint16_t>(rng_());
    random_low_ = rng_();
  } else if (++random_low_ == 0) {
    // Same millisecond (or the clock stepped back): count up so the id still sorts after the last one.
    ++random_high_;
  }
  std::string id(27, 'k');
  auto time = static_cast<std::uint64_t>(last_ms_) & ((std::uint64_t{1} << 48) - 1);
  for (int i = 10; i >= 1; --i, time >>= 5) id[static_cast<std::size_t>(i)] = kCrockford[time & 31];
  std::uint64_t low = random_low_;
  std::uint64_t high = random_high_;
  for (int i = 26; i >= 11; --i) {
    id[static_cast<std::size_t>(i)] = kCrockford[low & 31];
    low = (low >> 5) | ((high & 31) << 59);
    high >>= 5;
  }
  return id;
}

}  // namespace kabar
