#pragma once
// kabar's own channel authorization endpoint for Pusher clients of apps without Laravel's
// /broadcasting/auth (docs/authorization.md "The Pusher door"): pusher-js posts the form
// `socket_id=…&channel_name=…` with the user's JWT (Authorization: Bearer, or the kabar_token cookie);
// kabar asks the policy and, when it allows reading the channel, answers what Laravel would:
//
//   private-…   {"auth":"<key>:<hmac>"}
//   presence-…  {"auth":"<key>:<hmac>","channel_data":"{\"user_id\":\"<sub>\",\"user_info\":{…}}"}
//
// The signature is the one the Pusher door checks at pusher:subscribe, so the answer opens exactly that
// channel for exactly that socket. Refusals: 400 (form), 401 invalid_token (with the token's reason),
// 403 forbidden_channel (with the policy's reason). Transport-free: HttpSession does CORS and I/O.
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

// The presence member a token makes: user_id is the token's sub; user_info holds its `name` claim, if any.
std::string presence_channel_data(const authz::Claims& claims);

}  // namespace kabar
