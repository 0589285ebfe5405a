#pragma once
// Signatures of the Pusher protocol (shared/docs/pusher-protocol.md §3.2, §5.2, §7): HMAC-SHA256 in
// lowercase hex, keyed by the app secret. Channel authorizations, REST requests and webhooks all use it.
#include <string>
#include <string_view>

namespace kabar {

std::string hmac_sha256_hex(std::string_view secret, std::string_view message);
std::string md5_hex(std::string_view data);

// Compares in time that depends only on the lengths, so a forger learns nothing from how long a
// rejection took.
bool constant_time_equals(std::string_view a, std::string_view b);

// What a channel authorization signs: "socket_id:channel", plus ":channel_data" for presence channels.
// channel_data is the exact string the client sent (never re-serialised).
std::string channel_auth_message(std::string_view socket_id, std::string_view channel,
                                 std::string_view channel_data = {});

// "key:hex(HMAC_SHA256(secret, message))": the `auth` value Laravel's /broadcasting/auth returns.
std::string channel_auth(std::string_view key, std::string_view secret, std::string_view socket_id,
                         std::string_view channel, std::string_view channel_data = {});

}  // namespace kabar
