#include "gateway/pusher/rest_auth.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include "gateway/pusher/signature.h"

namespace kabar {
namespace {

std::optional<std::string> param(const QueryParams& params, std::string_view name) {
  for (const auto& [key, value] : params) {
    if (key == name) return value;
  }
  return std::nullopt;
}

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::tolower(c); });
  return text;
}

RestAuthFailure failure(std::string code, std::string message) {
  return {std::move(code), std::move(message)};
}

}  // namespace

std::string RestAuth::canonical_query(const QueryParams& params) {
  std::vector<std::pair<std::string, std::string>> sorted;
  sorted.reserve(params.size());
  for (const auto& [key, value] : params) {
    std::string name = lower(key);
    if (name == "auth_signature") continue;
    sorted.emplace_back(std::move(name), value);
  }
  // Stable, so repeated keys keep their order (pusher-http-php never repeats one).
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::string query;
  for (const auto& [key, value] : sorted) {
    if (!query.empty()) query += '&';
    query.append(key).append("=").append(value);
  }
  return query;
}

std::string RestAuth::string_to_sign(std::string_view method, std::string_view path,
                                     const QueryParams& params) {
  std::string text(method);
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return std::toupper(c); });
  text.append("\n").append(path).append("\n").append(canonical_query(params));
  return text;
}

std::string RestAuth::sign(std::string_view method, std::string_view path, const QueryParams& params) const {
  return hmac_sha256_hex(secret_, string_to_sign(method, path, params));
}

std::optional<RestAuthFailure> RestAuth::check_timestamp(const std::string& text,
                                                         std::int64_t now_seconds) const {
  std::int64_t timestamp = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), timestamp);
  if (error != std::errc() || end != text.data() + text.size())
    return failure("bad_timestamp", "auth_timestamp must be Unix time in seconds");
  const std::int64_t skew = timestamp > now_seconds ? timestamp - now_seconds : now_seconds - timestamp;
  if (skew > window_seconds_)
    return failure("stale_timestamp", "auth_timestamp is " + std::to_string(skew) +
                                          " s away from the server's clock (at most " +
                                          std::to_string(window_seconds_) + " s allowed)");
  return std::nullopt;
}

std::optional<RestAuthFailure> RestAuth::verify(const RestAuthInput& request,
                                                std::int64_t now_seconds) const {
  const auto key = param(request.params, "auth_key");
  const auto timestamp = param(request.params, "auth_timestamp");
  const auto signature = param(request.params, "auth_signature");
  if (!key || !timestamp || !signature)
    return failure("missing_auth",
                   "auth_key, auth_timestamp and auth_signature are required query parameters");
  if (auto version = param(request.params, "auth_version"); version && *version != "1.0")
    return failure("bad_auth_version", "auth_version must be 1.0");
  if (*key != key_) return failure("wrong_key", "auth_key is not the key of this app");
  if (auto problem = check_timestamp(*timestamp, now_seconds)) return problem;
  const auto body_md5 = param(request.params, "body_md5");
  if (!request.body.empty() || body_md5) {
    // Checked against the bytes received, so a body altered on the way is caught even with a valid
    // signature over the query.
    if (!body_md5 || !constant_time_equals(lower(*body_md5), md5_hex(request.body)))
      return failure("bad_body_md5", "body_md5 is missing or is not the MD5 of the request body");
  }
  const std::string expected = sign(request.method, request.path, request.params);
  if (!constant_time_equals(lower(*signature), expected))
    return failure("bad_signature",
                   "auth_signature does not match (HMAC-SHA256 of the request with the app secret)");
  return std::nullopt;
}

}  // namespace kabar
