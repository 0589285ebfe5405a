#include "gateway/pusher/channel_auth_endpoint.h"

#include <nlohmann/json.hpp>

#include "core/channel.h"
#include "gateway/http/access.h"
#include "gateway/http/refusal.h"
#include "gateway/http/request_target.h"
#include "gateway/pusher/signature.h"
#include "gateway/pusher/socket_id.h"

namespace kabar {
namespace {
using nlohmann::json;

std::string dump(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

ChannelAuthAnswer error(int status, const std::string& code, const std::string& message) {
  return {status, refused_body(Refused::plain(status, code, message))};
}

// The shape every door uses for authorization refusals (docs/authorization.md).
ChannelAuthAnswer refusal(int status, const std::string& code, const std::string& reason,
                          const std::string& message, const std::string& channel = {}) {
  return {status, refused_body(Refused::authorization(status, code, reason, message, channel))};
}

struct AuthForm {
  std::string socket_id;
  std::string channel;
};

// application/x-www-form-urlencoded is a query string: the request-target parser decodes it.
std::optional<AuthForm> parse_form(std::string_view body) {
  auto parsed = parse_request_target("/?" + std::string(body));
  if (!parsed) return std::nullopt;
  return AuthForm{parsed->first("socket_id").value_or(""), parsed->first("channel_name").value_or("")};
}

std::optional<ChannelAuthAnswer> check_form(const AuthForm& form) {
  if (!is_valid_socket_id(form.socket_id))
    return error(400, "bad_socket_id", "socket_id must look like 1234.5678");
  if (!is_valid_channel_name(form.channel))
    return error(400, "invalid_channel", "channel_name is not a valid channel name");
  const ChannelKind kind = channel_kind(form.channel);
  if (kind == ChannelKind::Public)
    return error(400, "not_private", "public channels need no authorization: subscribe without one");
  if (kind == ChannelKind::PrivateEncrypted)
    return error(400, "unsupported_channel", "private-encrypted- channels are not supported by kabar");
  return std::nullopt;
}

}  // namespace

std::string presence_channel_data(const authz::Claims& claims) {
  json info = json::object();
  if (const auto* name = claims.find("name"); name && name->size() == 1) info["name"] = name->front();
  json data = {{"user_id", claims.subject}, {"user_info", info}};
  if (claims.expires_at) data[kExpiryMember] = *claims.expires_at;
  return dump(data);
}

std::optional<std::int64_t> signed_expiry(const std::string& channel_data) {
  if (channel_data.empty()) return std::nullopt;
  const json document = json::parse(channel_data, nullptr, /*allow_exceptions=*/false);
  if (!document.is_object()) return std::nullopt;
  const auto member = document.find(kExpiryMember);
  if (member == document.end() || !member->is_number_integer()) return std::nullopt;
  return member->get<std::int64_t>();
}

std::string private_channel_data(const authz::Claims& claims) {
  if (!claims.expires_at) return {};
  return dump({{kExpiryMember, *claims.expires_at}});
}

ChannelAuthAnswer answer_channel_auth(ServerContext& context, const PusherApp& app, std::string_view token,
                                      std::string_view form_body) {
  const auto form = parse_form(form_body);
  if (!form) return error(400, "bad_request", "the body must be a form: socket_id=…&channel_name=…");
  if (auto problem = check_form(*form)) return *problem;
  const Authentication who = authenticate(context, token, "pusher-auth");
  if (!who.ok) return refusal(401, "invalid_token", who.code, who.message);
  const authz::Decision decision = authorize(context, who.claims, authz::Action::Read, form->channel, "pusher-auth");
  if (!decision.allowed) return refusal(403, "forbidden_channel", decision.code, decision.reason, form->channel);

  // The token's expiry travels in the signed channel_data (pusher-js sends it back verbatim on subscribe),
  // so whichever node holds the socket ends the subscription when the token expires.
  if (channel_kind(form->channel) != ChannelKind::Presence) {
    const std::string channel_data = private_channel_data(who.claims);
    json answer = {{"auth", channel_auth(app.key(), app.secret(), form->socket_id, form->channel, channel_data)}};
    if (!channel_data.empty()) answer["channel_data"] = channel_data;
    return {200, dump(answer)};
  }
  // A presence member needs an identity: the policy may allow presence channels to tokens without sub.
  if (who.claims.subject.empty())
    return refusal(403, "forbidden_channel", "no_subject", "presence channels need a token with a sub", form->channel);
  const std::string channel_data = presence_channel_data(who.claims);
  return {200, dump({{"auth", channel_auth(app.key(), app.secret(), form->socket_id, form->channel, channel_data)},
                     {"channel_data", channel_data}})};
}

}  // namespace kabar
