#include "gateway/http/ws_session.h"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/channel.h"
#include "gateway/http/access.h"
#include "gateway/http/ws_request.h"
#include "gateway/websocket/frame_codec.h"

namespace kabar {
namespace beast = boost::beast;
using nlohmann::json;

namespace {
// 4008 is in the application range: "policy", but specific enough that clients can tell it apart.
constexpr std::uint16_t kCloseSlowConsumer = 4008;
constexpr std::uint16_t kCloseServiceRestart = 1012;
// The token given at connect was refused (the reason follows in the close reason and an error frame).
constexpr std::uint16_t kCloseInvalidToken = 4001;
// Reading the history for a replay failed (an SQLite error on the server): reconnect and resume.
constexpr std::uint16_t kCloseInternalError = 1011;

const WsStreamTransport::Dialect kDialect{
    .name = "ws",
    .frames = Frame::Wire::WsJson,
    .slow_consumer = {kCloseSlowConsumer, "slow consumer: send queue overflow"},
    .flushed = {kCloseServiceRestart, "server restarting; reconnect"},
};

std::string with_ref(std::string object, const std::string& ref) {
  if (ref.empty()) return object;
  object.pop_back();  // the closing brace
  return object + R"(,"ref":)" + ref + "}";
}
}  // namespace

WsSession::WsSession(ServerContext& context, std::size_t shard, beast::tcp_stream&& stream)
    : StreamSession(context, shard, transport_), transport_(stream.release_socket(), kDialect, context, *this, *this) {}

WsSession::~WsSession() {
  if (accepted_) context_.stats.ws_open.fetch_sub(1, std::memory_order_relaxed);
}

void WsSession::run(beast::http::request<beast::http::string_body> request) {
  if (auto target = parse_request_target(std::string(request.target()))) {
    const FoundToken found = find_token(context_, request, *target, context_.allow_query_token);
    connect_token_ = found.token;
    connect_query_refused_ = found.query_refused;
  }
  if (!transport_.accept(request, context_.server_name)) spdlog::debug("websocket upgrade refused on /ws");
}

void WsSession::ws_opened() {
  register_session();
  accepted_ = true;
  context_.stats.ws_accepted.fetch_add(1, std::memory_order_relaxed);
  context_.stats.ws_open.fetch_add(1, std::memory_order_relaxed);
  if (!authenticate_at_connect()) return;
  send_control(R"({"type":"welcome","epoch":")" + context_.hub.epoch() + R"(","server":)" +
               json_quote(context_.server_name) + R"(,"heartbeat_ms":)" +
               std::to_string(context_.limits.heartbeat.count()) + "}");
}

void WsSession::ws_message(bool text, std::string_view payload) {
  if (closing()) return;  // closing: nothing more is answered
  if (!text) {
    context_.stats.ws_bad_requests.fetch_add(1, std::memory_order_relaxed);
    send_error("bad_request", "binary frames are not supported; send JSON text", {});
    return;
  }
  handle_message(payload);
}

void WsSession::handle_message(std::string_view text) {
  // A client flooding messages (each may start a replay) is closed; the documented clients send a few.
  if (!rate_) rate_.emplace(context_.limits.ws_messages_per_s, context_.limits.ws_message_burst);
  if (!rate_->allow()) {
    if (!transport_.close_sent()) {
      note_refusal(context_, Refusal::RateLimited, "ws", transport_.peer_address(),
                   "more than " + std::to_string(static_cast<long>(context_.limits.ws_messages_per_s)) +
                       " messages per second");
    }
    close_with(websocket::close_code::policy, "rate limit: too many messages");
    return;
  }
  auto parsed = parse_ws_request(text);
  if (auto* problem = std::get_if<WsRequestError>(&parsed)) {
    context_.stats.ws_bad_requests.fetch_add(1, std::memory_order_relaxed);
    send_error(problem->code, problem->message, problem->ref, problem->channel, problem->topic);
    return;
  }
  const WsRequest& request = std::get<WsRequest>(parsed);
  switch (request.type) {
    case WsRequest::Type::Subscribe: handle_subscribe(request); break;
    case WsRequest::Type::Unsubscribe: handle_unsubscribe(request); break;
    case WsRequest::Type::Auth: handle_auth(request); break;
    case WsRequest::Type::Ping: send_bounded(with_ref(R"({"type":"pong"})", request.ref)); break;
  }
}

void WsSession::handle_subscribe(const WsRequest& request) {
  if (!request.topic.empty()) {
    handle_topic_subscribe(request);
    return;
  }
  const std::string& channel = request.channel;
  const std::string& ref = request.ref;
  if (const auto decision = authorize(context_, claims_, authz::Action::Read, channel, "ws");
      !decision.allowed) {
    send_refusal("forbidden_channel", decision.code, decision.reason, ref, channel);
    return;
  }
  if (!is_subscribed(channel) && subscription_count() >= context_.limits.max_subscriptions) {
    send_error("too_many_subscriptions",
               "at most " + std::to_string(context_.limits.max_subscriptions) + " channels per connection", ref,
               channel);
    return;
  }
  // One read of the head for both the reply and the subscription: `subscribed.position` promises every
  // event after it, so the subscription must start exactly there (a second read would skip whatever was
  // committed in between).
  const std::int64_t head = read_head();
  const std::string position = context_.store.position_at(head).to_string();
  send_bounded(with_ref(R"({"type":"subscribed","channel":)" + json_quote(channel) + R"(,"position":")" + position +
                            "\"}",
                        ref));
  subscribe({channel}, StartPoint::parse(request.since), /*id_on_reset=*/false, head);
}

// {"type":"subscribe","topic":FILTER,"since":...}: the channels whose events came on matching topics
// (docs/protocol.md "Topic subscriptions"), judged as the broker judges that SUBSCRIBE.
void WsSession::handle_topic_subscribe(const WsRequest& request) {
  const std::string& filter = request.topic;
  const std::string& ref = request.ref;
  if (const auto decision = authorize_topic(context_, claims_, filter, "ws"); !decision.allowed) {
    send_refusal("forbidden_topic", decision.code, decision.reason, ref, {}, filter);
    return;
  }
  if (!is_topic_subscribed(filter) && subscription_count() >= context_.limits.max_subscriptions) {
    send_error("too_many_subscriptions",
               "at most " + std::to_string(context_.limits.max_subscriptions) + " channels and topics per connection",
               ref, {}, filter);
    return;
  }
  const std::int64_t head = read_head();
  const std::string position = context_.store.position_at(head).to_string();
  send_bounded(with_ref(R"({"type":"subscribed","topic":)" + json_quote(filter) + R"(,"position":")" + position + "\"}",
                        ref));
  subscribe_with_topics({}, {filter}, StartPoint::parse(request.since), /*id_on_reset=*/false, head);
}

void WsSession::handle_unsubscribe(const WsRequest& request) {
  if (!request.topic.empty()) {
    unsubscribe_topic(request.topic);
    send_bounded(with_ref(R"({"type":"unsubscribed","topic":)" + json_quote(request.topic) + "}", request.ref));
    return;
  }
  unsubscribe(request.channel);
  send_bounded(with_ref(R"({"type":"unsubscribed","channel":)" + json_quote(request.channel) + "}", request.ref));
}

bool WsSession::authenticate_at_connect() {
  Authentication who;
  if (connect_query_refused_) {
    who.code = "query_token_disabled";
    who.message =
        "?token= is turned off here (auth.query_token): send an auth message or Authorization: Bearer";
  } else {
    who = authenticate(context_, connect_token_, "ws");
  }
  connect_token_.clear();
  if (who.ok) {
    claims_ = std::move(who.claims);
    return true;
  }
  // Refused: say why in a frame, then close; never fall back to anonymous with a bad token.
  send_refusal("invalid_token", who.code, who.message, {});
  transport_.close_when_flushed(kCloseInvalidToken, "invalid token: " + who.code);
  close_after_flush();
  return false;
}

// {"type":"auth","token":"..."}: (re)authenticates the connection, e.g. with a fresh token before the old
// one expires. A refused token changes nothing. Subscriptions the new token does not allow end.
void WsSession::handle_auth(const WsRequest& request) {
  const std::string& ref = request.ref;
  Authentication who = authenticate(context_, request.token, "ws");
  if (!who.ok) {
    send_refusal("invalid_token", who.code, who.message, ref);
    return;
  }
  claims_ = std::move(who.claims);
  end_unauthorized_subscriptions("token_changed");
  json reply = {{"type", "authenticated"},
                {"sub", claims_.authenticated ? json(claims_.subject) : json(nullptr)},
                {"expires_at", claims_.expires_at ? json(*claims_.expires_at) : json(nullptr)}};
  send_bounded(with_ref(reply.dump(-1, ' ', false, json::error_handler_t::replace), ref));
}

// The error frame keeps its documented shape (docs/protocol.md); the machine-readable reason
// (claim_mismatch, expired, ...) leads the message: "<reason>: <why>".
void WsSession::send_refusal(const std::string& code, const std::string& reason, const std::string& message,
                             const std::string& ref, const std::string& channel, const std::string& topic) {
  send_error(code, reason + ": " + message, ref, channel, topic);
}

void WsSession::heartbeat() {
  transport_.heartbeat();
  release_idle_memory();
  if (claims_.expires_at && !closing()) expire_token(unix_s());
}

void WsSession::send_error(const std::string& code, const std::string& message, const std::string& ref,
                           const std::string& channel, const std::string& topic) {
  std::string object = R"({"type":"error","code":")" + code + R"(","message":)" + json_quote(message);
  if (!channel.empty()) object += R"(,"channel":)" + json_quote(channel);
  if (!topic.empty()) object += R"(,"topic":)" + json_quote(topic);
  // Replies echo what the client sent (ref, channel): counted against the queue bound, so a client that
  // sends and never reads is cut instead of growing the server (architecture promise 4).
  send_bounded(with_ref(object + "}", ref));
}

void WsSession::close_with(std::uint16_t code, const std::string& reason) { transport_.close(code, reason); }

void WsSession::close_replay_failed(const std::string& channel) {
  transport_.close_when_flushed(kCloseInternalError, "replay failed: reconnect and resume");
  StreamSession::close_replay_failed(channel);
}

void WsSession::shutdown() {
  if (closing()) return;
  send_control(R"({"type":"shutdown","reason":"server restarting","reconnect_ms":)" +
               std::to_string(context_.limits.shutdown_reconnect.count()) + "}");
  close_after_flush();
}

}  // namespace kabar
