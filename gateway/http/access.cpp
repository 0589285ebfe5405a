#include "gateway/http/access.h"

#include <spdlog/spdlog.h>

#include <boost/range/iterator_range.hpp>
#include <cctype>
#include <chrono>

#include "core/log_fields.h"
#include "gateway/http/server_context.h"

namespace kabar {
namespace http = boost::beast::http;

namespace {

std::string_view trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  return text;
}

std::string bearer_token(std::string_view header) {
  header = trim(header);
  constexpr std::string_view kScheme = "bearer ";
  if (header.size() <= kScheme.size()) return {};
  for (std::size_t i = 0; i < kScheme.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(header[i])) != kScheme[i]) return {};
  }
  return std::string(trim(header.substr(kScheme.size())));
}

std::string cookie_value(std::string_view header, std::string_view name) {
  while (!header.empty()) {
    const auto end = header.find(';');
    const std::string_view pair = trim(header.substr(0, end));
    const auto equals = pair.find('=');
    if (equals != std::string_view::npos && trim(pair.substr(0, equals)) == name) {
      std::string_view value = trim(pair.substr(equals + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"')
        value = value.substr(1, value.size() - 2);
      return std::string(value);
    }
    if (end == std::string_view::npos) break;
    header.remove_prefix(end + 1);
  }
  return {};
}

// The sub, for logs: who was refused matters; it is not a secret.
std::string who(const authz::Claims& claims) {
  if (!claims.authenticated) return "anonymous";
  return "sub=" + (claims.subject.empty() ? std::string("(none)") : claims.subject.substr(0, 64));
}

}  // namespace

std::string authorization_bearer(const http::request<http::string_body>& request) {
  auto header = request.find(http::field::authorization);
  if (header == request.end()) return {};
  return bearer_token(std::string_view(header->value().data(), header->value().size()));
}

bool cookie_trusted(const ServerContext& context, const http::request<http::string_body>& request) {
  const auto origin_field = request.find(http::field::origin);
  if (origin_field == request.end()) return true;
  const std::string_view origin(origin_field->value().data(), origin_field->value().size());
  if (origin_named(context.allowed_origins, origin)) return true;
  const auto host = request.find(http::field::host);
  return host != request.end() && origin_is_host(origin, std::string_view(host->value().data(), host->value().size()));
}

FoundToken find_token(const ServerContext& context, const http::request<http::string_body>& request,
                      const RequestTarget& target, bool allow_query) {
  FoundToken found;
  if (auto header = request.find(http::field::authorization); header != request.end()) {
    found.token = bearer_token(std::string_view(header->value().data(), header->value().size()));
    if (!found.token.empty()) {
      found.source = TokenSource::AuthorizationHeader;
      return found;
    }
  }
  for (const auto& field : boost::make_iterator_range(request.equal_range(http::field::cookie))) {
    found.token = cookie_value(std::string_view(field.value().data(), field.value().size()), kTokenCookie);
    if (found.token.empty()) continue;
    if (cookie_trusted(context, request)) {
      found.source = TokenSource::Cookie;
      return found;
    }
    // A page of another site opened this request and the browser added the user's cookie: it must not
    // act as that user. Judged without it (below: ?token= still counts, a token the page itself holds).
    found.token.clear();
    found.cookie_ignored = true;
    spdlog::debug("ignored the kabar_token cookie of a request from origin {}: not named in http.allowed_origins",
                  std::string(request[http::field::origin]).substr(0, 200));
    break;
  }
  if (auto query = target.first(kTokenParam)) {
    if (!allow_query) {
      found.query_refused = true;
      return found;
    }
    found.token = *query;
    found.source = found.token.empty() ? TokenSource::None : TokenSource::Query;
  }
  return found;
}

Authentication authenticate(ServerContext& context, std::string_view token, std::string_view door) {
  Authentication result;
  if (token.empty()) {
    result.ok = true;
    return result;
  }
  if (!context.authorizer) {
    result.code = "no_keys";
    result.message = "this server verifies no tokens";
  } else {
    auto verified = context.authorizer->authenticate(token);
    if (verified.ok()) {
      result.ok = true;
      result.claims = std::move(*verified.claims);
      return result;
    }
    result.code = std::string(authz::to_string(verified.failure));
    result.message = std::move(verified.message);
  }
  context.stats.tokens_refused.fetch_add(1, std::memory_order_relaxed);
  context.stats.streams.refusals.add(door, result.code);
  spdlog::info(with_fields(fmt::format("authz: {} refused a token: {}: {}", door, result.code, result.message),
                           {{"door", door}, {"reason", result.code}}));
  return result;
}

authz::Decision decide(const ServerContext& context, const authz::Claims& claims, authz::Action action,
                       const std::string& channel) {
  if (context.authorizer)
    return context.authorizer->decide(claims, action, authz::Resource::channel(channel));
  if (action == authz::Action::Read && !channel.starts_with("private-") && !channel.starts_with("presence-"))
    return authz::Decision{true, "public", "public channel", {}};
  return authz::Decision{false, "token_required", "private and presence channels need authorization", {}};
}

authz::Decision authorize(ServerContext& context, const authz::Claims& claims, authz::Action action,
                          const std::string& channel, std::string_view door) {
  authz::Decision decision = decide(context, claims, action, channel);
  if (!decision.allowed) {
    context.stats.forbidden_channels.fetch_add(1, std::memory_order_relaxed);
    context.stats.streams.refusals.add(door, decision.code);
    spdlog::info(with_fields(fmt::format("authz: {} refused {} {} for {}: {}: {}", door, authz::to_string(action),
                                         channel, who(claims), decision.code, decision.reason),
                             {{"door", door}, {"sub", claims.authenticated ? claims.subject : std::string("anonymous")},
                              {"channel", channel}, {"reason", decision.code}}));
  }
  return decision;
}

ChannelReadAccess authorize_reading(ServerContext& context, const http::request<http::string_body>& request,
                                    const RequestTarget& target, const std::vector<std::string>& channels,
                                    std::string_view door, const std::vector<std::string>& topics) {
  ChannelReadAccess access;
  const FoundToken found = find_token(context, request, target, context.allow_query_token);
  if (found.query_refused) {
    access.status = 401;
    access.error = "invalid_token";
    access.reason = "query_token_disabled";
    access.message =
        "?token= is turned off here (auth.query_token): send Authorization: Bearer or the "
        "kabar_token cookie";
    return access;
  }
  Authentication who = authenticate(context, found.token, door);
  if (!who.ok) {
    access.status = 401;
    access.error = "invalid_token";
    access.reason = std::move(who.code);
    access.message = std::move(who.message);
    return access;
  }
  for (const auto& channel : channels) {
    authz::Decision decision = authorize(context, who.claims, authz::Action::Read, channel, door);
    if (decision.allowed) continue;
    // 403 for every policy refusal, token or not; "reason": "token_required" says a token would help.
    // 401 is kept for tokens that were given and refused.
    access.status = 403;
    access.error = "forbidden_channel";
    access.reason = std::move(decision.code);
    access.message = std::move(decision.reason);
    access.channel = channel;
    return access;
  }
  for (const auto& topic : topics) {
    authz::Decision decision = authorize_topic(context, who.claims, topic, door);
    if (decision.allowed) continue;
    access.status = 403;
    access.error = "forbidden_topic";
    access.reason = std::move(decision.code);
    access.message = std::move(decision.reason);
    access.topic = topic;
    return access;
  }
  access.ok = true;
  access.claims = std::move(who.claims);
  return access;
}

authz::Decision authorize_topic(ServerContext& context, const authz::Claims& claims, const std::string& filter,
                                std::string_view door) {
  authz::Decision decision;
  if (context.authorizer) {
    decision = context.authorizer->decide(claims, authz::Action::Read, authz::Resource::topic(filter));
  } else {
    decision.allowed = false;
    decision.code = "no_policy";
    decision.reason = "topic subscriptions need the policy (auth)";
  }
  if (!decision.allowed) {
    context.stats.forbidden_channels.fetch_add(1, std::memory_order_relaxed);
    context.stats.streams.refusals.add(door, decision.code);
    spdlog::info(with_fields(fmt::format("authz: {} refused read of topic {} for {}: {}: {}", door, filter.substr(0, 128),
                                         who(claims), decision.code, decision.reason),
                             {{"door", door}, {"sub", claims.authenticated ? claims.subject : std::string("anonymous")},
                              {"topic", filter.substr(0, 128)}, {"reason", decision.code}}));
  }
  return decision;
}

bool may_read_topic(const ServerContext& context, const authz::Claims& claims, const std::string& topic) {
  return context.authorizer &&
         context.authorizer->decide(claims, authz::Action::Read, authz::Resource::topic(topic)).allowed;
}

bool expiry_passed(const ServerContext& context, std::int64_t expires_at, std::int64_t now_s) {
  const std::int64_t skew = context.authorizer ? context.authorizer->verifier().options().clock_skew_s : 0;
  return expires_at <= now_s - skew;
}

bool token_expired(const ServerContext& context, const authz::Claims& claims, std::int64_t now_s) {
  return claims.authenticated && claims.expires_at && expiry_passed(context, *claims.expires_at, now_s);
}

}  // namespace kabar
