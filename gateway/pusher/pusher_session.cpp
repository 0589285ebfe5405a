#include "gateway/pusher/pusher_session.h"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "gateway/http/access.h"
#include "gateway/http/hardening.h"
#include "gateway/http/request_target.h"
#include "gateway/pusher/channel_auth_endpoint.h"
#include "gateway/pusher/channel_membership.h"
#include "gateway/pusher/delivery_filter.h"
#include "gateway/pusher/protocol_frames.h"
#include "gateway/pusher/signature.h"
#include "gateway/websocket/frame_codec.h"

namespace kabar {
namespace beast = boost::beast;
using nlohmann::json;

PusherSession::PusherSession(ServerContext& context, std::size_t shard, beast::tcp_stream&& stream,
                             std::shared_ptr<PusherApp> app)
    : StreamSession(context, shard),
      transport_(stream.release_socket(), *this, context.limits.max_message_bytes),
      app_(std::move(app)),
      socket_id_(service().next_socket_id()) {}

PusherSession::~PusherSession() {
  // Normally the read loop has ended (and left everything) first. At teardown of a stopped server the
  // other shards no longer run, so nothing is announced then.
  if (!context_.shutting_down.load()) leave_all();
  if (accepted_) context_.stats.pusher_open.fetch_sub(1, std::memory_order_relaxed);
}

// ---- connection ----

void PusherSession::run(Request request) {
  if (auto origin = request.find(beast::http::field::origin); origin != request.end()) {
    origin_ = std::string(origin->value());
  }
  if (auto target = parse_request_target(std::string(request.target()))) {
    protocol_ = target->first("protocol");
    authenticate_socket(request, *target);
  }
  if (!transport_.accept(request, context_.server_name)) spdlog::debug("websocket upgrade refused on /app");
}

std::optional<PusherError> PusherSession::admission_problem() {
  AdmissionFacts facts;
  facts.app_known = app_ != nullptr;
  facts.protocol = protocol_;
  facts.origin_allowed = app_ && app_->origin_allowed(origin_);
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
  token_refusal_ = PusherError{pusher_code::kUnauthorized,
                               "The token was refused (" + who.code + "): " + who.message +
                                   ". Continuing without it: public channels as for anyone."};
}

void PusherSession::ws_opened() {
  register_session();
  accepted_ = true;
  context_.stats.pusher_accepted.fetch_add(1, std::memory_order_relaxed);
  context_.stats.pusher_open.fetch_add(1, std::memory_order_relaxed);
  if (auto problem = admission_problem()) {
    context_.stats.pusher_refused.fetch_add(1, std::memory_order_relaxed);
    refuse(*problem);
  } else {
    send_control(pusher_frame::connection_established(socket_id_, app_->config().activity_timeout));
    if (token_refusal_) send_bounded(token_refusal_->frame());
  }
}

// The client reads the error's code and closes itself; the close code (the same number) is what drives
// its reconnect policy, so both are sent. One frame then the close: it bypasses the queue bound, so a
// stalled client at shutdown still gets 4200 rather than 4100.
void PusherSession::refuse(const PusherError& error) {
  send_control(error.frame());
  close_ = error;
  close_after_flush();
  // A client that does not read never lets the refusal flush, so the close would wait forever (and a
  // flooder keeps the socket busy, so it is never idle either): the TCP connection is cut after a grace.
  transport_.end_within_grace();
}

void PusherSession::ws_message(bool, std::string_view payload) {
  // Binary frames are not part of the protocol; like Soketi, try them as JSON text anyway.
  if (!closing() && within_message_rate()) handle_message(parse_inbound(std::string(payload)));
}

void PusherSession::ws_refused(std::uint16_t code, std::string_view reason) {
  if (code == websocket::close_code::too_big) {
    context_.stats.oversized_messages.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("pusher message over {} bytes: closing with 1009", context_.limits.max_message_bytes);
  } else {
    spdlog::debug("pusher websocket protocol error from {}: {} ({})", transport_.peer_address(), reason, code);
  }
}

void PusherSession::ws_send(std::string bytes, bool last) {
  if (last) {
    send_last(std::move(bytes));
  } else {
    send_raw(std::move(bytes));
  }
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
  if (is_bad_message(message)) context_.stats.pusher_bad_messages.fetch_add(1, std::memory_order_relaxed);
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

void PusherSession::handle_subscribe(const json& data) {
  const std::string* name = string_member(data, "channel");
  if (!name) {
    context_.stats.pusher_bad_messages.fetch_add(1, std::memory_order_relaxed);
    send_bounded(PusherError{pusher_code::kReconnect, "pusher:subscribe needs data.channel"}.frame());
    return;
  }
  const std::string channel = *name;
  if (!is_valid_channel_name(channel)) {
    send_bounded(pusher_frame::subscription_error(
        channel, "InvalidChannel", "Channel names are 1-164 characters of A-Z a-z 0-9 _ - = @ , . ;", 400));
    return;
  }
  if (auto held = subscriptions_.find(channel); held != subscriptions_.end()) {
    resend_success(channel, held->second);  // idempotent, like Reverb and Soketi
    return;
  }
  if (subscriptions_.size() >= context_.limits.max_subscriptions) {
    send_bounded(pusher_frame::subscription_error(
        channel, "LimitReached",
        "At most " + std::to_string(context_.limits.max_subscriptions) + " channels per connection", 429));
    return;
  }
  Subscription subscription;
  subscription.kind = channel_kind(channel);
  subscription.generation = ++next_generation_;
  if (subscription.kind == ChannelKind::Public) {
    if (refused_by_policy(channel)) return;
  } else if (auto problem = authorization_problem(channel, subscription.kind, data)) {
    context_.stats.pusher_auth_failures.fetch_add(1, std::memory_order_relaxed);
    send_bounded(pusher_frame::subscription_error(channel, "AuthError", *problem, 401));
    return;
  }
  std::optional<PresenceIdentity> identity;
  if (subscription.kind == ChannelKind::Presence) {
    identity = presence_identity(*string_member(data, "channel_data"));
    if (!identity) {
      send_bounded(pusher_frame::subscription_error(
          channel, "AuthError", "channel_data must be a JSON object with a string or integer user_id", 400));
      return;
    }
    subscription.user_key = identity->user_key;
  }
  if (const std::string* channel_data = string_member(data, "channel_data"))
    subscription.expires_at = signed_expiry(*channel_data);
  const std::string* since = string_member(data, "since");
  join(channel, std::move(subscription), identity ? &*identity : nullptr, since ? *since : std::string());
}

// Public channels (cache- included) carry no app signature: the authorization policy decides them, as
// it does on /ws and /sse (docs/authorization.md), so `public_channels` and deny rules hold on every
// door, for the claims of the socket's own token (authenticate_socket), or as anonymous without one.
bool PusherSession::refused_by_policy(const std::string& channel) {
  const authz::Decision decision = authorize(context_, claims(), authz::Action::Read, channel, "pusher");
  if (decision.allowed) return false;
  send_bounded(pusher_frame::subscription_error(channel, "AuthError", decision.reason, 403, decision.code));
  return true;
}

// channel_data is checked as the exact string the client sent: that is what the auth endpoint signed.
std::optional<std::string> PusherSession::authorization_problem(const std::string& channel, ChannelKind kind,
                                                                const json& data) const {
  const std::string* auth = string_member(data, "auth");
  if (!auth || auth->empty()) return "The connection is unauthorized: auth is missing.";
  const std::string* channel_data = string_member(data, "channel_data");
  if (kind == ChannelKind::Presence && (!channel_data || channel_data->empty()))
    return "Presence channels need channel_data (a JSON string with user_id).";
  // A private channel's channel_data is signed too when there is one: kabar's auth endpoint puts the
  // token's expiry there (Laravel's sends none, and then the signature is over socket_id:channel).
  const std::string signed_data = channel_data ? *channel_data : std::string();
  const std::string expected = channel_auth(app_->key(), app_->secret(), socket_id_, channel, signed_data);
  if (constant_time_equals(*auth, expected)) return std::nullopt;
  return "The connection is unauthorized: invalid signature, expected HMAC SHA256 hex digest of " +
         channel_auth_message(socket_id_, channel, signed_data.empty() ? std::string() : "<channel_data>");
}

void PusherSession::join(const std::string& channel, Subscription subscription,
                         const PresenceIdentity* identity, const std::string& since) {
  service().directory().add(shard_, app_->id(), channel, this);
  const JoinOutcome joined = join_channel(*app_, channel, identity);
  if (joined.occupied) service().webhook(*app_, WebhookEvent::about_channel("channel_occupied", channel));
  // The others hear of the newcomer before it hears of them (Soketi and Reverb do the same).
  if (joined.member_added) {
    relay(channel, joined.member_added->frame, joined.member_added->version);
    service().webhook(*app_,
                      WebhookEvent::about_member("member_added", channel, joined.member_added->user_key));
  }
  if (identity) service().presence_changed();
  subscription.presence_version = joined.snapshot_version;
  // kabar's replay extension: the store head the subscription starts from, as a top-level `position`
  // (pusher-js ignores it), so a kabar-aware client has a position to resume from before the channel's
  // first event (docs/pusher.md "Replay extension"). A live subscription starts exactly there.
  const std::int64_t head = read_head();
  send_bounded(pusher_frame::with_position(joined.reply, Position{context_.hub.epoch(), head}.to_string()));
  const std::uint64_t generation = subscription.generation;
  subscriptions_.emplace(channel, std::move(subscription));
  start_delivery(channel, since, generation, head);
}

// Which stored events the new subscriber gets before live ones: those after `since` (kabar's replay
// extension), or for `since: "latest"` and a cache channel its last event (or, on a cache channel,
// pusher:cache_miss), or none. The last event is the last one this app may see (docs/pusher.md "Apps"),
// hence a lookup of its own rather than StartPoint::Kind::Latest, which knows no apps.
void PusherSession::start_delivery(const std::string& channel, const std::string& since,
                                   std::uint64_t generation, std::int64_t head) {
  const bool latest = since == "latest";
  if (!since.empty() && !latest) {
    subscribe({channel}, StartPoint::parse(since), /*id_on_reset=*/false);
    return;
  }
  if (!latest && !is_cache_channel(channel)) {
    subscribe({channel}, StartPoint{}, /*id_on_reset=*/false, head);
    return;
  }
  service().find_latest(
      channel, app_->id(), transport_.get_executor(), [self = self(), channel, generation](LatestLookup lookup) {
        auto held = self->subscriptions_.find(channel);
        if (self->closing() || held == self->subscriptions_.end() || held->second.generation != generation)
          return;
        // Replaying from just before the last event joins it to the live stream without a gap, through the
        // same seam as any replay; after a miss, from the head seen by the lookup.
        StartPoint start;
        start.kind = StartPoint::Kind::After;
        start.after = Position{self->context_.hub.epoch(), lookup.latest ? *lookup.latest - 1 : lookup.head};
        if (!lookup.latest && is_cache_channel(channel)) {
          self->send_bounded(pusher_frame::cache_miss(channel));
          self->service().webhook(*self->app_, WebhookEvent::about_channel("cache_miss", channel));
        }
        self->subscribe({channel}, start, /*id_on_reset=*/false);
      });
}

void PusherSession::resend_success(const std::string& channel, const Subscription& subscription) {
  if (subscription.kind == ChannelKind::Presence) {
    send_bounded(pusher_frame::presence_subscription_succeeded(channel, app_->presence_snapshot(channel)));
  } else {
    send_bounded(pusher_frame::subscription_succeeded(channel));
  }
}

void PusherSession::handle_unsubscribe(const json& data) {
  // No reply: pusher-js expects none (§2.6).
  if (const std::string* channel = string_member(data, "channel")) leave(*channel);
}

void PusherSession::leave(const std::string& channel) {
  auto it = subscriptions_.find(channel);
  if (it == subscriptions_.end()) return;
  const Subscription subscription = std::move(it->second);
  subscriptions_.erase(it);
  service().directory().remove(shard_, app_->id(), channel, this);
  unsubscribe(channel);
  const LeaveOutcome left = leave_channel(*app_, channel, subscription.kind, subscription.user_key);
  if (left.member_removed) {
    relay(channel, left.member_removed->frame, left.member_removed->version);
    service().webhook(*app_,
                      WebhookEvent::about_member("member_removed", channel, left.member_removed->user_key));
  }
  if (subscription.kind == ChannelKind::Presence) service().presence_changed();
  if (left.vacated) service().webhook(*app_, WebhookEvent::about_channel("channel_vacated", channel));
}

// Called every heartbeat_ms: a subscription authorized by a token that has now expired (its kabar_exp,
// allowing the configured clock skew) ends with a subscription_error the client's .error() handler sees.
// The socket's own token (authenticate_socket) expiring ends the public channels only it allowed.
void PusherSession::heartbeat() {
  transport_.heartbeat();
  release_idle_memory();
  if (closing() || !app_) return;
  const std::int64_t now = unix_now();
  const bool socket_token_expired = token_expired(context_, claims(), now);
  if (socket_token_expired) set_claims(authz::Claims::anonymous());
  std::vector<std::string> expired;
  for (const auto& [channel, subscription] : subscriptions_) {
    if (subscription.expires_at && expiry_passed(context_, *subscription.expires_at, now)) {
      expired.push_back(channel);
    } else if (socket_token_expired && subscription.kind == ChannelKind::Public &&
               !decide(context_, claims(), authz::Action::Read, channel).allowed) {
      expired.push_back(channel);
    }
  }
  for (const auto& channel : expired) {
    leave(channel);
    send_bounded(pusher_frame::subscription_error(
        channel, "AuthError", "The token that authorized this subscription has expired: authorize again.", 401,
        "token_expired"));
  }
  if (expired.empty()) return;
  context_.stats.subscriptions_expired.fetch_add(expired.size(), std::memory_order_relaxed);
  spdlog::info("pusher: socket {}: {} subscription(s) ended, their token expired", socket_id_, expired.size());
}

void PusherSession::leave_all() {
  if (left_) return;
  left_ = true;
  std::vector<std::string> channels;
  channels.reserve(subscriptions_.size());
  for (const auto& [channel, subscription] : subscriptions_) channels.push_back(channel);
  for (const auto& channel : channels) leave(channel);
  if (connection_counted_) app_->close_connection();
}

// ---- client events (whisper) ----

void PusherSession::handle_client_event(const std::string& event, const json& message) {
  const std::string* name = string_member(message, "channel");
  const std::string channel = name ? *name : std::string();
  const auto data = message.find("data");
  // Relayed as the sender gave it (an object from pusher-js), not decoded as data_of() would.
  const std::string data_json = data == message.end() ? "null" : compact_json(*data);
  auto held = subscriptions_.find(channel);
  ClientEventFacts facts;
  facts.client_messages_enabled = app_->config().enable_client_messages;
  facts.event = event;
  facts.channel = channel;
  facts.sender_subscribed = held != subscriptions_.end();
  facts.data_bytes = data_json.size();
  std::optional<PusherError> refusal = client_event_refusal(facts);
  if (!refusal && !client_event_rate_.take(ClientEventRate::Clock::now()))
    refusal = client_event_rate_exceeded();
  if (refusal) {
    context_.stats.pusher_client_events_rejected.fetch_add(1, std::memory_order_relaxed);
    send_bounded(refusal->frame(channel));
    return;
  }
  const std::string user = client_event_user(held->second.kind, held->second.user_key);
  context_.stats.pusher_client_events.fetch_add(1, std::memory_order_relaxed);
  const RelayedFramePtr frame = relay(channel, pusher_frame::client_event(event, channel, data_json, user));
  service().share_client_event(*frame);  // subscribers on other nodes
  service().webhook(*app_, WebhookEvent::client_event(channel, event, data_json, socket_id_, user));
}

RelayedFramePtr PusherSession::relay(const std::string& channel, std::string text,
                                     std::uint64_t presence_version) {
  auto frame = std::make_shared<RelayedFrame>();
  frame->app_id = app_->id();
  frame->channel = channel;
  frame->text = std::move(text);
  frame->except_socket_id = socket_id_;  // never echoed to the sender
  frame->presence_version = presence_version;
  service().directory().relay(frame);
  return frame;
}

// Relayed frames come from other clients: they count against the queue bound like event frames, so a
// stalled reader in a busy room is closed with 4100 instead of queueing without limit.
void PusherSession::deliver(const RelayedFrame& frame) {
  if (closing()) return;
  auto held = subscriptions_.find(frame.channel);
  std::optional<std::uint64_t> snapshot_version;
  if (held != subscriptions_.end()) snapshot_version = held->second.presence_version;
  if (relayed_frame_wanted(frame, socket_id_, snapshot_version)) send_bounded(frame.text);
}

// ---- transport ----

bool PusherSession::wants(const Frame& frame) const {
  // Live and replayed frames both pass here, before they are queued, so neither path can break
  // toOthers or leak another app's event.
  return event_frame_wanted(frame, socket_id_, app_ ? std::string_view(app_->id()) : std::string_view());
}

// The replay reset, as the kabar:reset event pusher-js hands to the app (docs/pusher.md).
std::string PusherSession::reset_payload(const std::string& channel, const char* reason, const std::string& position,
                                         const std::string&) const {
  return control_payload(pusher_frame::reset(channel, reason, position), {});
}

void PusherSession::start_write(const std::vector<boost::asio::const_buffer>& payloads) {
  transport_.write(payloads, [self = self()](const boost::system::error_code& error) { self->on_write_complete(error); });
}

void PusherSession::close_with(std::uint16_t code, const std::string& reason) { transport_.close(code, reason); }

void PusherSession::close_slow_consumer() {
  close_with(pusher_code::kSlowConsumer, "Slow consumer: send queue overflow");
}

// Reading the history for `since` failed: pusher:error then close 4101, so pusher-js backs off and
// reconnects (docs/pusher.md).
void PusherSession::close_replay_failed(const std::string& channel) {
  refuse(PusherError{pusher_code::kReplayFailed,
                     "Reading the history of " + channel.substr(0, 64) +
                         " failed on the server; reconnect and resume from your last position"});
}

void PusherSession::close_now() { close_with(close_.code, close_.message); }

}  // namespace kabar
