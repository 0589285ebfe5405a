#pragma once
// kabar's own channel authorization endpoint for Pusher clients of apps without Laravel's
// /broadcasting/auth (docs/authorization.md "The Pusher door"): pusher-js posts the form
// `socket_id=…&channel_name=…` with the user's JWT (Authorization: Bearer, or the kabar_token cookie);
// kabar asks the policy and, when it allows reading the channel, answers what Laravel would:
//
//   private-…   {"auth":"<key>:<hmac>"}  (+ "channel_data":"{\"kabar_exp\":N}" for a token that expires)
//   presence-…  {"auth":"<key>:<hmac>","channel_data":"{\"user_id\":\"<sub>\",\"user_info\":{…},\"kabar_exp\":N}"}
//
// The signature is the one the Pusher door checks at pusher:subscribe, so the answer opens exactly that
// channel for exactly that socket. Refusals: 400 (form), 401 invalid_token (with the token's reason),
// 403 forbidden_channel (with the policy's reason). Transport-free: HttpSession does CORS and I/O.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "authz/claims.h"
#include "gateway/pusher/pusher_app.h"

namespace kabar {

struct ServerContext;

struct ChannelAuthAnswer {
  int status = 200;
  std::string body;  // JSON
};

// `token`: empty for a request without one (the policy then decides as for anonymous).
ChannelAuthAnswer answer_channel_auth(ServerContext& context, const PusherApp& app, std::string_view token,
                                      std::string_view form_body);

// kabar's extension to channel_data: the Unix second at which the token behind the authorization expires.
// Signed with the rest of channel_data, so a client cannot move it; the session holding the socket ends
// the subscription then (docs/authorization.md "Expiry while connected").
inline constexpr const char* kExpiryMember = "kabar_exp";

// The presence member a token makes: user_id is the token's sub; user_info holds its `name` claim, if any;
// kabar_exp its expiry, if it has one.
std::string presence_channel_data(const authz::Claims& claims);
// For a private channel: {"kabar_exp": N} when the token expires, else empty (no channel_data at all,
// exactly what Laravel's endpoint answers).
std::string private_channel_data(const authz::Claims& claims);
// The kabar_exp of a channel_data string the client sent back, if it is an object holding an integer one.
std::optional<std::int64_t> signed_expiry(const std::string& channel_data);

}  // namespace kabar
