#pragma once
// Access: the door side of authorization. Every door (/ws, /sse, the Pusher door and its auth endpoint,
// REST publish) asks the same two questions through here, and the one Authorizer (authz/, held by the
// ServerContext) answers them, so a refusal reads the same everywhere and is logged and counted once:
//
//   Authentication who = authenticate(context, token, "sse");         // who is this? (no token: anonymous)
//   authz::Decision ok = authorize(context, who.claims, Action::Read, channel, "sse");  // may they?
//
// Tokens never reach a log: only the refusal code, the reason and the token's sub.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "authz/authorizer.h"
#include "core/clock.h"
#include "gateway/http/request_target.h"

namespace kabar {

struct ServerContext;

// Where a door found the token (docs/authorization.md weighs them).
enum class TokenSource { None, AuthorizationHeader, Cookie, Query, Message };

struct FoundToken {
  std::string token;
  TokenSource source = TokenSource::None;
  bool query_refused = false;   // ?token= was given but auth.query_token is off
  bool cookie_ignored = false;  // a kabar_token cookie came from a page not trusted with it (below)
};

inline constexpr std::string_view kTokenCookie = "kabar_token";
inline constexpr std::string_view kTokenParam = "token";

// "Authorization: Bearer <t>", else the cookie kabar_token, else ?token= (when `allow_query`).
// The browser sends the cookie with whatever page opened the request, so it is taken only when
// cookie_trusted() (cross-site WebSocket hijacking): otherwise it is ignored and the request is judged
// without it (anonymous, unless ?token= is there).
FoundToken find_token(const ServerContext& context,
                      const boost::beast::http::request<boost::beast::http::string_body>& request,
                      const RequestTarget& target, bool allow_query);

// The kabar_token cookie counts when the request has no Origin (not a cross-site browser request: apps,
// servers, and same-origin GETs such as a native EventSource of the site's own page), when its Origin is
// this server itself (the Host header), or when http.allowed_origins names it explicitly: an entry other
// than "*". docs/authorization.md "Browser origins".
bool cookie_trusted(const ServerContext& context,
                    const boost::beast::http::request<boost::beast::http::string_body>& request);

// The token of "Authorization: Bearer <t>" only (empty without one): for doors where a cookie or a URL
// must not carry credentials (REST publish).
std::string authorization_bearer(const boost::beast::http::request<boost::beast::http::string_body>& request);

struct Authentication {
  bool ok = false;       // false: a token was given and refused (the door refuses, it does not downgrade)
  authz::Claims claims;  // anonymous when no token was given
  std::string code;      // when refused: expired, bad_signature, malformed, ... (authz::TokenFailure)
  std::string message;   // when refused: for the client and the log; never holds the token
};

// Verifies `token` (empty: anonymous). A refusal is logged at info and counted (kabar_tokens_refused_total).
Authentication authenticate(ServerContext& context, std::string_view token, std::string_view door);

// The policy's decision; a refusal is logged at info and counted (kabar_forbidden_channels_total).
// Without an Authorizer in the context (unit tests), only public channels are readable.
authz::Decision authorize(ServerContext& context, const authz::Claims& claims, authz::Action action,
                          const std::string& channel, std::string_view door);

// A topic subscription (docs/protocol.md "Topic subscriptions"): Read on the filter as an MQTT topic, the
// very question the broker plugin asks for a SUBSCRIBE, so a filter is allowed only when the policy covers
// everything it can match (a cashier's "cabang/+/omset" is refused, as the broker refuses it). Logged and
// counted like a channel refusal. Without an Authorizer: refused.
authz::Decision authorize_topic(ServerContext& context, const authz::Claims& claims, const std::string& filter,
                                std::string_view door);

// The same decision, neither logged nor counted (re-checks of subscriptions already held).
authz::Decision decide(const ServerContext& context, const authz::Claims& claims, authz::Action action,
                       const std::string& channel);

// Whether `claims` may read an MQTT topic (the policy's topic rules; without an Authorizer: nobody).
// Neither logged nor counted: views filter with it (/api/dead-letters), they do not refuse.
bool may_read_topic(const ServerContext& context, const authz::Claims& claims, const std::string& topic);

// The browser doors that read channels (/sse, /api/history) ask both questions at once: the token as
// find_token() finds it (?token= unless auth.query_token is off), then `read` on every channel. Either
// the claims, or the refusal to answer with: 401 invalid_token (a token given and refused, or ?token=
// turned off: reason query_token_disabled) or 403 forbidden_channel for the first channel refused; a door
// answers it as a Refused::authorization (gateway/http/refusal.h).
struct ChannelReadAccess {
  bool ok = false;
  authz::Claims claims;
  unsigned status = 0;  // when refused: 401 or 403
  std::string error;    // when refused: invalid_token or forbidden_channel
  std::string reason;   // the token check's or the policy's reason code
  std::string message;
  std::string channel;  // the channel refused (403 forbidden_channel)
  std::string topic;    // the topic filter refused (403 forbidden_topic)
};
// `topics`: topic filters (/sse?topic=), judged by authorize_topic after the channels.
ChannelReadAccess authorize_reading(
    ServerContext& context, const boost::beast::http::request<boost::beast::http::string_body>& request,
    const RequestTarget& target, const std::vector<std::string>& channels, std::string_view door,
    const std::vector<std::string>& topics = {});

// True once the token behind `claims` has expired (allowing the configured clock skew).
bool token_expired(const ServerContext& context, const authz::Claims& claims, std::int64_t now_s);
// The same for an expiry carried elsewhere (a Pusher subscription's signed kabar_exp).
bool expiry_passed(const ServerContext& context, std::int64_t expires_at, std::int64_t now_s);

}  // namespace kabar
