// PusherSession, the connection: the upgrade and admission, the socket token, reading and dispatching
// messages, the message rate, and the policy its StreamSession asks. Its channels: pusher_session_channels.cpp.
#include "gateway/pusher/pusher_session.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "gateway/http/access.h"
#include "gateway/http/hardening.h"
#include "gateway/http/request_target.h"
#include "gateway/pusher/delivery_filter.h"
#include "gateway/pusher/protocol_frames.h"

namespace kabar {
namespace beast = boost::beast;
using nlohmann::json;

namespace {
// A refusal always says how the socket closes (refuse: close_when_flushed); the default is shutdown's.
const WsStreamTransport::Dialect& dialect() {
  static const PusherError closing = server_closing();
  static const WsStreamTransport::Dialect dialect{
      .name = "pusher",
      .frames = Frame::Wire::WsPusher,
      .slow_consumer = {pusher_code::kSlowConsumer, "Slow consumer: send queue overflow"},
      .flushed = {closing.code, closing.message},
  };
  return dialect;
}
}  // namespace

PusherSession::PusherSession(ServerContext& context, PusherService& service, std::size_t shard,
                             beast::tcp_stream&& stream, std::shared_ptr<PusherApp> app)
    : StreamSession(context, shard, transport_),
      service_(service),
      transport_(stream.release_socket(), dialect(), context, *this, *this),
      app_(std::move(app)),
      socket_id_(service.next_socket_id()) {}

PusherSession::~PusherSession() {
  // Normally the read loop has ended (and left everything) first. At teardown of a stopped server the
  // other shards no longer run, so nothing is announced then.
  if (!context_.shutting_down.load()) leave_all();
  if (accepted_) stats().open.fetch_sub(1, std::memory_order_relaxed);
}

// ---- connection ----

void PusherSession::run(Request request) {
  // Only whether the origin is allowed is kept (the session holds nothing it no longer needs).
  std::string origin;
  if (auto header = request.find(beast::http::field::origin); header != request.end()) {
    origin = std::string(header->value());
  }
  origin_allowed_ = app_ && app_->origin_allowed(origin);
  // Decided now, told once the upgrade is answered (ws_opened, called from accept()).
  opening_ = std::make_unique<Opening>();
  std::optional<std::string> protocol;  // ?protocol= of the URL
  if (auto target = parse_request_target(std::string(request.target()))) {
    protocol = target->first("protocol");
    authenticate_socket(request, *target);
  }
  opening_->refusal = admission_problem(protocol);
  if (!transport_.accept(request, context_.server_name)) spdlog::debug("websocket upgrade refused on /app");
}

std::optional<PusherError> PusherSession::admission_problem(const std::optional<std::string>& protocol) {
  AdmissionFacts facts;
  facts.app_known = app_ != nullptr;
  facts.protocol = protocol;
  facts.origin_allowed = origin_allowed_;
  facts.shutting_down = context_.shutting_down.load();
  if (auto refusal = admission_refusal(facts)) return refusal;
  if (!app_->try_open_connection()) return over_quota();
  connection_counted_ = true;
  return std::nullopt;
}

// The same token as every other door, from the kabar_token cookie (or ?token= where allowed): it decides
// public channels under the policy. A refused token is not fatal here (pusher:error 4009 after the
// handshake, then the socket goes on as anonymous): private channels need no token on this socket, and
// a stale cookie must not take the app's Laravel-authorized channels down with it.
void PusherSession::authenticate_socket(const Request& request, const RequestTarget& target) {
  const FoundToken found = find_token(context_, request, target, context_.allow_query_token);
  if (found.token.empty()) return;
  Authentication who = authenticate(context_, found.token, "pusher");
  if (who.ok) {
    set_claims(std::move(who.claims));
    return;
  }
  opening_->token_refusal = PusherError{pusher_code::kUnauthorized,
                                        "The token was refused (" + who.code + "): " + who.message +
                                            ". Continuing without it: public channels as for anyone."};
}

void PusherSession::ws_opened() {
  register_session();
  accepted_ = true;
  stats().accepted.fetch_add(1, std::memory_order_relaxed);
  stats().open.fetch_add(1, std::memory_order_relaxed);
  if (app_) app_->stats().accepted.fetch_add(1, std::memory_order_relaxed);
  const std::unique_ptr<Opening> opening = std::move(opening_);  // told now, then gone
  if (opening->refusal) {
    stats().refused.fetch_add(1, std::memory_order_relaxed);
    if (app_) app_->stats().refused.fetch_add(1, std::memory_order_relaxed);
    refuse(*opening->refusal);
  } else {
    send_control(pusher_frame::connection_established(socket_id_, app_->config().activity_timeout));
    if (opening->token_refusal) send_bounded(opening->token_refusal->frame());
  }
}

// The client reads the error's code and closes itself; the close code (the same number) is what drives
// its reconnect policy, so both are sent. One frame then the close: it bypasses the queue bound, so a
// stalled client at shutdown still gets 4200 rather than 4100.
void PusherSession::refuse(const PusherError& error) {
  send_control(error.frame());
  transport_.close_when_flushed(error.code, error.message);
  close_after_flush();
  // A client that does not read never lets the refusal flush, so the close would wait forever (and a
  // flooder keeps the socket busy, so it is never idle either): the TCP connection is cut after a grace.
  transport_.end_within_grace();
}

void PusherSession::ws_message(bool, std::string_view payload) {
  // Binary frames are not part of the protocol; like Soketi, try them as JSON text anyway.
  if (!closing() && within_message_rate()) handle_message(parse_inbound(payload));
}

void PusherSession::ws_closed() {
  leave_all();
  detach();
}

// The same per-connection message rate as /ws (http.ws_messages_per_s, burst ws_message_burst): a client
// flooding pings, subscribes or garbage is closed with a back-off code, counted and logged once.
bool PusherSession::within_message_rate() {
  if (!rate_) rate_.emplace(context_.limits.ws_messages_per_s, context_.limits.ws_message_burst);
  if (rate_->allow()) return true;
  note_refusal(context_, Refusal::RateLimited, "pusher", transport_.peer_address(),
               "more than " + std::to_string(static_cast<long>(context_.limits.ws_messages_per_s)) +
                   " messages per second");
  refuse(message_flood());
  return false;
}

void PusherSession::shutdown() {
  if (closing()) return;
  refuse(server_closing());
}

// ---- messages ----

void PusherSession::handle_message(const InboundMessage& message) {
  if (is_bad_message(message)) stats().bad_messages.fetch_add(1, std::memory_order_relaxed);
  if (auto reply = direct_reply(message)) {
    send_bounded(*reply);
    return;
  }
  switch (message.kind) {
    case InboundKind::Subscribe:
      handle_subscribe(message.data);
      break;
    case InboundKind::Unsubscribe:
      handle_unsubscribe(message.data);
      break;
    case InboundKind::ClientEvent:
      handle_client_event(message.event, message.message);
      break;
    default:
      break;  // pusher:pong: any frame proves the client alive
  }
}

// ---- the door's policy for its StreamSession ----

bool PusherSession::wants(const Frame& frame) const {
  // Live and replayed frames both pass here, before they are queued, so neither path can break
  // toOthers or leak another app's event.
  return event_frame_wanted(frame, socket_id_, app_ ? std::string_view(app_->id()) : std::string_view());
}

// The replay reset, as the kabar:reset event pusher-js hands to the app (docs/pusher.md).
std::string PusherSession::reset_payload(const std::string& channel, const char* reason, const std::string& position,
                                         const std::string&) const {
  return transport_.control_bytes(pusher_frame::reset(channel, reason, position), {});
}

// Reading the history for `since` failed: pusher:error then close 4101, so pusher-js backs off and
// reconnects (docs/pusher.md).
void PusherSession::close_replay_failed(const std::string& channel) {
  refuse(PusherError{pusher_code::kReplayFailed,
                     "Reading the history of " + channel.substr(0, 64) +
                         " failed on the server; reconnect and resume from your last position"});
}

}  // namespace kabar
