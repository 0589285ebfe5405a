#include "gateway/pusher/pusher_session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <charconv>
#include <nlohmann/json.hpp>

#include "gateway/http/request_target.h"
#include "gateway/pusher/protocol_frames.h"
#include "gateway/pusher/signature.h"

namespace kabar {
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using nlohmann::json;

namespace {

// Close codes (shared/docs/pusher-protocol.md §1.3): 40xx the client gives up, 41xx it backs off and
// retries, 42xx it reconnects at once.
constexpr int kAppDoesNotExist = 4001;
constexpr int kOverQuota = 4004;
constexpr int kBadVersion = 4006;
constexpr int kUnsupportedProtocol = 4007;
constexpr int kUnauthorized = 4009;
constexpr int kSlowConsumer = 4100;  // back off, reconnect, and resume by replay if the client can
constexpr int kReconnect = 4200;
constexpr int kClientEventRejected = 4301;

const std::string kNothing;

const std::string* string_member(const json& object, const char* name) {
  if (!object.is_object()) return nullptr;
  auto it = object.find(name);
  return it != object.end() && it->is_string() ? &it->get_ref<const std::string&>() : nullptr;
}

// pusher-js sends `data` as an object; other clients send it JSON-encoded in a string (accept both).
json data_of(const json& message) {
  auto it = message.find("data");
  if (it == message.end()) return json::object();
  if (it->is_string()) {
    json parsed = json::parse(it->get_ref<const std::string&>(), nullptr, false);
    return parsed.is_discarded() ? *it : parsed;
  }
  return *it;
}

std::string compact(const json& value) { return value.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

PusherSession::PusherSession(ServerContext& context, std::size_t shard, beast::tcp_stream&& stream,
                             std::shared_ptr<PusherApp> app)
    : StreamSession(context, shard),
      ws_(std::move(stream)),
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
  if (auto target = parse_request_target(std::string(request.target())))
    protocol_ = target->first("protocol");
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeouts;
  timeouts.handshake_timeout = std::chrono::seconds(10);
  // Beast pings after half the idle time and drops a peer that stays silent for all of it; browsers and
  // the `ws` package answer pings by themselves.
  timeouts.idle_timeout = context_.limits.heartbeat * 2;
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(
      websocket::stream_base::decorator([name = context_.server_name](websocket::response_type& res) {
        res.set(beast::http::field::server, name);
      }));
  ws_.read_message_max(context_.limits.max_message_bytes);
  ws_.async_accept(request,
                   [self = self()](const boost::system::error_code& error) { self->on_accept(error); });
}

std::optional<std::pair<int, std::string>> PusherSession::admission_problem() {
  if (!app_) return std::pair{kAppDoesNotExist, std::string("Application does not exist")};
  if (protocol_) {
    int version = 0;
    const auto [end, error] =
        std::from_chars(protocol_->data(), protocol_->data() + protocol_->size(), version);
    if (error != std::errc() || end != protocol_->data() + protocol_->size())
      return std::pair{kBadVersion, std::string("Invalid version string format")};
    if (version < 4 || version > 7)
      return std::pair{kUnsupportedProtocol, "Unsupported protocol version " + *protocol_};
  }
  if (!app_->origin_allowed(origin_)) return std::pair{kUnauthorized, std::string("Origin not allowed")};
  if (context_.shutting_down.load()) return std::pair{kReconnect, close_reason_};
  if (!app_->try_open_connection())
    return std::pair{kOverQuota, std::string("Application is over connection quota")};
  connection_counted_ = true;
  return std::nullopt;
}

void PusherSession::on_accept(const boost::system::error_code& error) {
  if (error) {
    spdlog::debug("pusher websocket handshake failed: {}", error.message());
    return;
  }
  register_session();
  accepted_ = true;
  context_.stats.pusher_accepted.fetch_add(1, std::memory_order_relaxed);
  context_.stats.pusher_open.fetch_add(1, std::memory_order_relaxed);
  if (auto problem = admission_problem()) {
    context_.stats.pusher_refused.fetch_add(1, std::memory_order_relaxed);
    refuse(problem->first, problem->second);
  } else {
    send_control(pusher_frame::connection_established(socket_id_, app_->config().activity_timeout));
  }
  read_next();
}

// The client reads the error's code and closes itself; the close code (the same number) is what drives
// its reconnect policy, so both are sent.
void PusherSession::refuse(int code, const std::string& message) {
  send_control(pusher_frame::error(code, message));
  close_code_ = static_cast<std::uint16_t>(code);
  close_reason_ = message;
  close_after_flush();
}

void PusherSession::read_next() {
  ws_.async_read(buffer_, [self = self()](const boost::system::error_code& error, std::size_t) {
    self->on_read(error);
  });
}

void PusherSession::on_read(const boost::system::error_code& error) {
  if (error) {
    if (error == websocket::error::message_too_big) {
      context_.stats.oversized_messages.fetch_add(1, std::memory_order_relaxed);
      spdlog::info("pusher message over {} bytes: closing with 1009", context_.limits.max_message_bytes);
    }
    leave_all();
    detach();
    return;
  }
  // Binary frames are not part of the protocol; like Soketi, try them as JSON text anyway.
  if (!closing()) handle_message(beast::buffers_to_string(buffer_.data()));
  buffer_.consume(buffer_.size());
  if (buffer_.capacity() > 4096) buffer_.shrink_to_fit();
  read_next();
}

void PusherSession::shutdown() {
  if (closing()) return;
  refuse(kReconnect, "Server is closing. Please reconnect shortly.");
}

// ---- messages ----

void PusherSession::handle_message(const std::string& text) {
  const json message = json::parse(text, nullptr, /*allow_exceptions=*/false);
  const std::string* event = string_member(message, "event");
  if (!event) {
    context_.stats.pusher_bad_messages.fetch_add(1, std::memory_order_relaxed);
    send_control(pusher_frame::error(kReconnect, "Invalid message format"));
    return;
  }
  if (*event == "pusher:ping") {
    send_control(pusher_frame::pong());
  } else if (*event == "pusher:pong") {
    // Any frame proves the client alive; nothing to answer.
  } else if (*event == "pusher:subscribe") {
    handle_subscribe(data_of(message));
  } else if (*event == "pusher:unsubscribe") {
    handle_unsubscribe(data_of(message));
  } else if (event->starts_with("client-")) {
    handle_client_event(*event, message);
  } else {
    context_.stats.pusher_bad_messages.fetch_add(1, std::memory_order_relaxed);
    send_control(pusher_frame::error(
        kReconnect,
        "Unsupported event " + json(*event).dump(-1, ' ', false, json::error_handler_t::replace)));
  }
}

void PusherSession::handle_subscribe(const json& data) {
  const std::string* name = string_member(data, "channel");
  if (!name) {
    context_.stats.pusher_bad_messages.fetch_add(1, std::memory_order_relaxed);
    send_control(pusher_frame::error(kReconnect, "pusher:subscribe needs data.channel"));
    return;
  }
  const std::string channel = *name;
  if (!is_valid_channel_name(channel)) {
    send_control(pusher_frame::subscription_error(
        channel, "InvalidChannel", "Channel names are 1-164 characters of A-Z a-z 0-9 _ - = @ , . ;", 400));
    return;
  }
  if (auto held = subscriptions_.find(channel); held != subscriptions_.end()) {
    resend_success(channel, held->second);  // idempotent, like Reverb and Soketi
    return;
  }
  if (subscriptions_.size() >= context_.limits.max_subscriptions) {
    send_control(pusher_frame::subscription_error(
        channel, "LimitReached",
        "At most " + std::to_string(context_.limits.max_subscriptions) + " channels per connection", 429));
    return;
  }
  Subscription subscription;
  subscription.kind = channel_kind(channel);
  subscription.generation = ++next_generation_;
  if (subscription.kind != ChannelKind::Public) {
    if (auto problem = authorization_problem(channel, subscription.kind, data)) {
      context_.stats.pusher_auth_failures.fetch_add(1, std::memory_order_relaxed);
      send_control(pusher_frame::subscription_error(channel, "AuthError", *problem, 401));
      return;
    }
  }
  std::optional<PresenceIdentity> identity;
  if (subscription.kind == ChannelKind::Presence) {
    identity = identity_from(*string_member(data, "channel_data"));
    if (!identity) {
      send_control(pusher_frame::subscription_error(
          channel, "AuthError", "channel_data must be a JSON object with a string or integer user_id", 400));
      return;
    }
    subscription.user_key = identity->user_key;
  }
  const std::string* since = string_member(data, "since");
  join(channel, std::move(subscription), identity ? &*identity : nullptr, since ? *since : std::string());
}

// channel_data: {"user_id": "1" | 1, "user_info": any}. The key of a member is its user_id as a string;
// the id goes out again as the client wrote it.
std::optional<PusherSession::PresenceIdentity> PusherSession::identity_from(const std::string& channel_data) {
  const json document = json::parse(channel_data, nullptr, false);
  if (!document.is_object()) return std::nullopt;
  auto id = document.find("user_id");
  if (id == document.end()) return std::nullopt;
  PresenceIdentity identity;
  if (id->is_string() && !id->get_ref<const std::string&>().empty()) {
    identity.user_key = id->get<std::string>();
  } else if (id->is_number_integer()) {
    identity.user_key = id->dump();
  } else {
    return std::nullopt;
  }
  identity.user_id_json = compact(*id);
  if (auto info = document.find("user_info"); info != document.end() && !info->is_null()) {
    identity.user_info_json = compact(*info);
  }
  return identity;
}

// channel_data is checked as the exact string the client sent: that is what the auth endpoint signed.
std::optional<std::string> PusherSession::authorization_problem(const std::string& channel, ChannelKind kind,
                                                                const json& data) const {
  const std::string* auth = string_member(data, "auth");
  if (!auth || auth->empty()) return "The connection is unauthorized: auth is missing.";
  const std::string* channel_data = string_member(data, "channel_data");
  if (kind == ChannelKind::Presence && (!channel_data || channel_data->empty()))
    return "Presence channels need channel_data (a JSON string with user_id).";
  const std::string signed_data = kind == ChannelKind::Presence ? *channel_data : std::string();
  const std::string expected = channel_auth(app_->key(), app_->secret(), socket_id_, channel, signed_data);
  if (constant_time_equals(*auth, expected)) return std::nullopt;
  return "The connection is unauthorized: invalid signature, expected HMAC SHA256 hex digest of " +
         channel_auth_message(socket_id_, channel, signed_data.empty() ? std::string() : "<channel_data>");
}

void PusherSession::join(const std::string& channel, Subscription subscription,
                         const PresenceIdentity* identity, const std::string& since) {
  service().directory().add(shard_, app_->id(), channel, this);
  if (app_->add_subscriber(channel))
    service().webhook(*app_, WebhookEvent::about_channel("channel_occupied", channel));
  if (identity) {
    PresenceChange change =
        app_->join(channel, "", identity->user_key, identity->user_id_json, identity->user_info_json);
    // The others hear of the newcomer before it hears of them (Soketi and Reverb do the same).
    if (change.announced) {
      relay(channel, pusher_frame::member_added(channel, change.user_id_json, change.user_info_json),
            change.version);
      service().webhook(*app_, WebhookEvent::about_member("member_added", channel, identity->user_key));
    }
    subscription.presence_version = change.version;
    service().presence_changed();
    send_control(pusher_frame::presence_subscription_succeeded(channel, change.snapshot_json));
  } else {
    send_control(pusher_frame::subscription_succeeded(channel));
  }
  const std::uint64_t generation = subscription.generation;
  subscriptions_.emplace(channel, std::move(subscription));
  start_delivery(channel, since, generation);
}

// Which stored events the new subscriber gets before live ones: those after `since` (kabar's replay
// extension), or for a cache channel its last event (or pusher:cache_miss), or none.
void PusherSession::start_delivery(const std::string& channel, const std::string& since,
                                   std::uint64_t generation) {
  if (!since.empty()) {
    subscribe({channel}, StartPoint::parse(since), /*id_on_reset=*/false);
    return;
  }
  if (!is_cache_channel(channel)) {
    subscribe({channel}, StartPoint{}, /*id_on_reset=*/false);
    return;
  }
  service().find_latest(
      channel, app_->id(), ws_.get_executor(), [self = self(), channel, generation](LatestLookup lookup) {
        auto held = self->subscriptions_.find(channel);
        if (self->closing() || held == self->subscriptions_.end() || held->second.generation != generation)
          return;
        // Replaying from just before the last event joins it to the live stream without a gap, through the
        // same seam as any replay; after a miss, from the head seen by the lookup.
        StartPoint start;
        start.kind = StartPoint::Kind::After;
        start.after = Position{self->context_.hub.epoch(), lookup.latest ? *lookup.latest - 1 : lookup.head};
        if (!lookup.latest) {
          self->send_control(pusher_frame::cache_miss(channel));
          self->service().webhook(*self->app_, WebhookEvent::about_channel("cache_miss", channel));
        }
        self->subscribe({channel}, start, /*id_on_reset=*/false);
      });
}

void PusherSession::resend_success(const std::string& channel, const Subscription& subscription) {
  if (subscription.kind == ChannelKind::Presence) {
    send_control(pusher_frame::presence_subscription_succeeded(channel, app_->presence_snapshot(channel)));
  } else {
    send_control(pusher_frame::subscription_succeeded(channel));
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
  if (subscription.kind == ChannelKind::Presence) {
    const PresenceChange change = app_->leave(channel, "", subscription.user_key);
    if (change.announced) {
      relay(channel, pusher_frame::member_removed(channel, change.user_id_json), change.version);
      service().webhook(*app_, WebhookEvent::about_member("member_removed", channel, subscription.user_key));
    }
    service().presence_changed();
  }
  if (app_->remove_subscriber(channel))
    service().webhook(*app_, WebhookEvent::about_channel("channel_vacated", channel));
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
  auto reject = [&](int code, const std::string& text) {
    context_.stats.pusher_client_events_rejected.fetch_add(1, std::memory_order_relaxed);
    send_control(pusher_frame::error(code, text, channel));
  };
  if (!app_->config().enable_client_messages)
    return reject(kClientEventRejected, "The app does not have client messaging enabled.");
  const ChannelKind kind = channel_kind(channel);
  if (kind != ChannelKind::Private && kind != ChannelKind::Presence)
    return reject(kClientEventRejected, "Client events are only allowed on private and presence channels.");
  auto held = subscriptions_.find(channel);
  if (held == subscriptions_.end())
    return reject(kUnauthorized, "The client is not a member of the specified channel.");
  if (event.size() > kMaxEventNameBytes)
    return reject(kClientEventRejected, "Event names are at most 200 bytes.");
  const auto data = message.find("data");
  const std::string data_json = data == message.end() ? "null" : compact(*data);
  if (data_json.size() > kMaxClientEventBytes)
    return reject(kClientEventRejected, "Client event data is over 10 KB.");
  if (!take_client_event_token())
    return reject(kClientEventRejected, "The rate limit for sending client events exceeded the quota.");
  const std::string user = kind == ChannelKind::Presence ? held->second.user_key : std::string();
  context_.stats.pusher_client_events.fetch_add(1, std::memory_order_relaxed);
  const RelayedFramePtr frame = relay(channel, pusher_frame::client_event(event, channel, data_json, user));
  service().share_client_event(*frame);  // subscribers on other nodes
  service().webhook(*app_, WebhookEvent::client_event(channel, event, data_json, socket_id_, user));
}

// At most kClientEventsPerSecond per one-second window (Pusher's documented limit).
bool PusherSession::take_client_event_token() {
  const auto now = std::chrono::steady_clock::now();
  if (now - rate_window_start_ >= std::chrono::seconds(1)) {
    rate_window_start_ = now;
    client_events_in_window_ = 0;
  }
  if (client_events_in_window_ >= kClientEventsPerSecond) return false;
  ++client_events_in_window_;
  return true;
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

void PusherSession::deliver(const RelayedFrame& frame) {
  if (closing() || frame.except_socket_id == socket_id_) return;
  auto held = subscriptions_.find(frame.channel);
  if (held == subscriptions_.end()) return;
  if (frame.presence_version != 0 && frame.presence_version <= held->second.presence_version) return;
  send_control(frame.text);
}

// ---- transport ----

const std::string& PusherSession::frame_payload(const Frame& frame) const {
  // toOthers: the publisher's own socket gets nothing (start_write skips the empty payload).
  if (!frame.socket_id.empty() && frame.socket_id == socket_id_) return kNothing;
  // Apps are isolated: an event published through another app's REST API is not ours. Live and
  // replayed frames both pass here, so neither path can leak it.
  if (!frame.app.empty() && (!app_ || frame.app != app_->id())) return kNothing;
  return frame.pusher;
}

std::string PusherSession::control_payload(const std::string& text, const std::string&) const {
  // Our own frames pass as they are; the base class's replay reset is turned into a kabar:reset event.
  if (!text.starts_with(R"({"type":"reset")")) return text;
  const json reset = json::parse(text, nullptr, false);
  if (reset.is_discarded()) return text;
  return pusher_frame::reset(reset.value("channel", ""), reset.value("reason", ""),
                             reset.value("position", ""));
}

void PusherSession::start_write(const std::vector<boost::asio::const_buffer>& payloads) {
  const boost::asio::const_buffer payload = payloads.front();  // one item per write: one message
  if (payload.size() == 0) {
    boost::asio::post(ws_.get_executor(), [self = self()] { self->on_write_complete({}); });
    return;
  }
  ws_.text(true);
  ws_.async_write(payload,
                  [self = self()](const boost::system::error_code& error, std::size_t) {
                    self->on_write_complete(error);
                  });
}

void PusherSession::close_with(std::uint16_t code, const std::string& reason) {
  if (close_sent_) return;
  close_sent_ = true;
  websocket::close_reason close_reason;
  close_reason.code = code;
  // A close frame's reason is at most 123 bytes.
  close_reason.reason = reason.substr(0, 120);
  ws_.async_close(close_reason, [self = self()](const boost::system::error_code&) {
    self->leave_all();
    self->detach();
  });
}

void PusherSession::close_slow_consumer() { close_with(kSlowConsumer, "Slow consumer: send queue overflow"); }

void PusherSession::close_now() { close_with(close_code_, close_reason_); }

}  // namespace kabar
