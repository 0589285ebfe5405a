#pragma once
// RestAuth: checks the signature of a Pusher REST request (shared/docs/pusher-protocol.md §5.2), as
// pusher-http-php (Laravel's broadcaster) and the `pusher` npm SDK make it:
//
//   string_to_sign = METHOD "\n" path "\n" canonical_query
//   canonical_query = every query parameter but auth_signature, keys lower-cased, sorted by key,
//                     "key=value" with decoded values, joined by "&"
//   auth_signature = hex(HMAC_SHA256(app secret, string_to_sign))
//
// body_md5 must be the MD5 of the raw body whenever there is a body, and auth_timestamp must be within
// a window of the server's clock (the spec's 600 s), so a captured request cannot be replayed later.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace kabar {

using QueryParams = std::vector<std::pair<std::string, std::string>>;

struct RestAuthFailure {
  std::string code;     // machine-readable: missing_auth, wrong_key, bad_timestamp, stale_timestamp,
                        // bad_body_md5, bad_signature
  std::string message;  // for the publisher's logs (Laravel puts it in its BroadcastException)
};

struct RestAuthInput {
  std::string_view method;  // "GET", "POST"
  std::string_view path;    // "/apps/3/events", without any proxy prefix
  const QueryParams& params;
  std::string_view body;
};

class RestAuth {
 public:
  static constexpr std::int64_t kDefaultWindowSeconds = 600;

  RestAuth(std::string key, std::string secret, std::int64_t window_seconds = kDefaultWindowSeconds)
      : key_(std::move(key)), secret_(std::move(secret)), window_seconds_(window_seconds) {}

  // nullopt when the request is authentic; now_seconds is the server's Unix time.
  std::optional<RestAuthFailure> verify(const RestAuthInput& request, std::int64_t now_seconds) const;

  // Exposed for tests and for signing (webhook tests, the bench client).
  static std::string canonical_query(const QueryParams& params);
  static std::string string_to_sign(std::string_view method, std::string_view path,
                                    const QueryParams& params);
  std::string sign(std::string_view method, std::string_view path, const QueryParams& params) const;

 private:
  std::optional<RestAuthFailure> check_timestamp(const std::string& text, std::int64_t now_seconds) const;

  std::string key_;
  std::string secret_;
  std::int64_t window_seconds_;
};

}  // namespace kabar
