#include "gateway/pusher/admission.h"

#include <charconv>

#include "gateway/pusher/protocol_frames.h"

namespace kabar {

std::string PusherError::frame(const std::string& channel) const {
  return pusher_frame::error(code, message, channel);
}

std::optional<PusherError> protocol_refusal(const std::optional<std::string>& protocol) {
  if (!protocol) return std::nullopt;
  int version = 0;
  const char* begin = protocol->data();
  const char* end = begin + protocol->size();
  const auto [stop, error] = std::from_chars(begin, end, version);
  if (error != std::errc() || stop != end)
    return PusherError{pusher_code::kBadVersion, "Invalid version string format"};
  if (version < 4 || version > 7)
    return PusherError{pusher_code::kUnsupportedProtocol, "Unsupported protocol version " + *protocol};
  return std::nullopt;
}

std::optional<PusherError> admission_refusal(const AdmissionFacts& facts) {
  if (!facts.app_known) return PusherError{pusher_code::kAppDoesNotExist, "Application does not exist"};
  if (auto bad_protocol = protocol_refusal(facts.protocol)) return bad_protocol;
  if (!facts.origin_allowed) return PusherError{pusher_code::kUnauthorized, "Origin not allowed"};
  if (facts.shutting_down) return server_closing();
  return std::nullopt;
}

PusherError over_quota() { return {pusher_code::kOverQuota, "Application is over connection quota"}; }

PusherError message_flood() {
  return {pusher_code::kSlowConsumer, "Rate limit: too many messages. Please reconnect later."};
}

PusherError server_closing() {
  return {pusher_code::kReconnect, "Server is closing. Please reconnect shortly."};
}

}  // namespace kabar
