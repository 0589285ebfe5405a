#pragma once
// Which code ends or refuses a Pusher connection (shared/docs/pusher-protocol.md §1.2, §1.3, checklist
// item 11). pusher-js acts on the close code: 40xx it gives up, 41xx it backs off and retries, 42xx it
// reconnects at once. So a fatal error goes out as pusher:error carrying a code *and* a close with the
// same code; both come from one PusherError, so they cannot disagree.
#include <cstdint>
#include <optional>
#include <string>

namespace kabar {

namespace pusher_code {
inline constexpr std::uint16_t kAppDoesNotExist = 4001;
inline constexpr std::uint16_t kOverQuota = 4004;
inline constexpr std::uint16_t kBadVersion = 4006;
inline constexpr std::uint16_t kUnsupportedProtocol = 4007;
inline constexpr std::uint16_t kUnauthorized = 4009;  // origin refused; client event outside membership
inline constexpr std::uint16_t kSlowConsumer = 4100;  // back off, reconnect, resume by replay if it can
inline constexpr std::uint16_t kReplayFailed = 4101;  // reading history failed on the server: back off, reconnect
inline constexpr std::uint16_t kReconnect = 4200;     // shutdown; also the code of bad-message errors
inline constexpr std::uint16_t kClientEventRejected = 4301;
}  // namespace pusher_code

// What pusher:error carries. Fatal when the socket then closes with `code`.
struct PusherError {
  std::uint16_t code = 0;
  std::string message;

  // {"event":"pusher:error","data":"{\"code\":N,\"message\":...}"} (with "channel" when given).
  std::string frame(const std::string& channel = {}) const;
};

// What is known about a new connection before it is let in.
struct AdmissionFacts {
  bool app_known = false;
  std::optional<std::string> protocol;  // ?protocol= of the URL; missing is fine (pusher-js sends 7)
  bool origin_allowed = true;
  bool shutting_down = false;
};

// The first check that fails, in the documented order (docs/pusher.md "Connecting"). The connection
// quota is checked last, by the caller: taking a slot is a side effect.
std::optional<PusherError> admission_refusal(const AdmissionFacts& facts);
// A number 4..7 is accepted: 4006 for anything not a number, 4007 for other numbers.
std::optional<PusherError> protocol_refusal(const std::optional<std::string>& protocol);

PusherError over_quota();
PusherError server_closing();
// More messages than http.ws_messages_per_s / ws_message_burst allow: a 41xx, so pusher-js backs off.
PusherError message_flood();

}  // namespace kabar
