// PusherSession, the channels of one connection: subscribing (signatures, the policy, presence),
// where delivery starts (`since`, the latest value), leaving, token expiry, and client events relayed to
// the other members. The connection itself, its messages and its transport: pusher_session.cpp.
#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "core/log_fields.h"
#include "gateway/http/access.h"
#include "gateway/pusher/channel_auth_endpoint.h"
#include "gateway/pusher/channel_membership.h"
#include "gateway/pusher/delivery_filter.h"
#include "gateway/pusher/protocol_frames.h"
#include "gateway/pusher/pusher_session.h"
#include "gateway/pusher/signature.h"

namespace kabar {
using nlohmann::json;

// ---- subscriptions ----

void PusherSession::handle_subscribe(const json& data) {
  const std::string* name = string_member(data, "channel");
  if (!name) {
    stats().bad_messages.fetch_add(1, std::memory_order_relaxed);
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
    stats().auth_failures.fetch_add(1, std::memory_order_relaxed);
    app_->stats().auth_failures.fetch_add(1, std::memory_order_relaxed);
    context_.stats.streams.refusals.add("pusher", "bad_signature");
    spdlog::info(with_fields("pusher: refused a private or presence subscription: bad signature",
                             {{"door", "pusher"}, {"app_id", app_->id()}, {"sub", claims_.subject},
                              {"channel", channel}, {"reason", "bad_signature"}}));
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
  // The others hear of the newcomer before it hears of them (Soketi and Reverb do the same).
  if (joined.member_added) relay(channel, joined.member_added->frame, joined.member_added->version);
  // channel_occupied / member_added webhooks are the cluster's: one node sends them (ClusterOccupancy).
  service().occupancy_changed();
  subscription.presence_version = joined.snapshot_version;
  // kabar's replay extension: the store head the subscription starts from, as a top-level `position`
  // (pusher-js ignores it), so a kabar-aware client has a position to resume from before the channel's
  // first event (docs/pusher.md "Replay extension"). A live subscription starts exactly there.
  const std::int64_t head = read_head();
  send_bounded(pusher_frame::with_position(joined.reply, context_.store.position_at(head).to_string()));
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
        start.after = Position{self->context_.hub.epoch(), lookup.latest ? *lookup.latest - 1 : lookup.head, {}};
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
  if (left.member_removed) relay(channel, left.member_removed->frame, left.member_removed->version);
  service()
      .occupancy_changed();  // member_removed / channel_vacated webhooks: the cluster's (ClusterOccupancy)
}

// Called every heartbeat_ms: a subscription authorized by a token that has now expired (its kabar_exp,
// allowing the configured clock skew) ends with a subscription_error the client's .error() handler sees.
// The socket's own token (authenticate_socket) expiring ends the public channels only it allowed.
void PusherSession::heartbeat() {
  transport_.heartbeat();
  release_idle_memory();
  if (closing() || !app_) return;
  const std::int64_t now = unix_s();
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
    stats().client_events_rejected.fetch_add(1, std::memory_order_relaxed);
    app_->stats().client_events_rejected.fetch_add(1, std::memory_order_relaxed);
    send_bounded(refusal->frame(channel));
    return;
  }
  const std::string user = client_event_user(held->second.kind, held->second.user_key);
  stats().client_events.fetch_add(1, std::memory_order_relaxed);
  app_->stats().client_events.fetch_add(1, std::memory_order_relaxed);
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

}  // namespace kabar
