#include "bridge/event_id.h"

#include <openssl/evp.h>

#include <stdexcept>

namespace kabar {
namespace {

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

}  // namespace

std::string derived_event_id(std::string_view topic, std::string_view payload) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  const unsigned char separator = 0;
  const bool ok = context != nullptr && EVP_DigestInit_ex(context, EVP_sha256(), nullptr) == 1 &&
                  EVP_DigestUpdate(context, topic.data(), topic.size()) == 1 &&
                  EVP_DigestUpdate(context, &separator, 1) == 1 &&
                  EVP_DigestUpdate(context, payload.data(), payload.size()) == 1 &&
                  EVP_DigestFinal_ex(context, digest, &size) == 1;
  EVP_MD_CTX_free(context);
  if (!ok || size < 17) throw std::runtime_error("SHA-256 failed");
  // 26 characters of 5 bits: the first 130 bits of the digest.
  std::string id(27, 'h');
  for (std::size_t i = 0; i < 26; ++i) {
    const std::size_t bit = i * 5;
    const unsigned value = (static_cast<unsigned>(digest[bit / 8]) << 8 | digest[bit / 8 + 1]) >> (11 - bit % 8);
    id[i + 1] = kCrockford[value & 31];
  }
  return id;
}

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
