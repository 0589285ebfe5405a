#pragma once
// PusherSession: one `/app/{key}` WebSocket connection speaking Pusher protocol 7, so unmodified
// pusher-js and Laravel Echo work against kabar (docs/pusher.md, shared/docs/pusher-protocol.md).
//
// Stored events (whatever their source: MQTT, the REST API) arrive through the StreamSession base like
// on /ws, encoded once as Frame::pusher; the publisher's socket is left out (toOthers). Client events
// and presence member events go session to session through the ChannelDirectory. Everything here runs
// on the session's shard thread.
//
// The protocol's decisions live in pure parts this session calls, each unit-tested on its own:
// admission.h (refusals and close codes), inbound_message.h (reading what the client sent),
// client_event_policy.h (whisper rules and rate), delivery_filter.h (who gets which frame) and
// channel_membership.h (what joining and leaving changes, presence included).
//
// Sending: event frames, frames relayed from other clients and replies to this client's own messages
// all count against the send queue bound (StreamSession::send_bounded); overflow closes with 4100. Only
// connection_established and fatal refusals (one frame, then close) bypass it.
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>

#include "core/channel.h"
#include "core/flat_map.h"
#include "gateway/http/hardening.h"
#include "gateway/http/request_target.h"
#include "gateway/http/stream_session.h"
#include "gateway/http/ws_stream_transport.h"
#include "gateway/pusher/admission.h"
#include "gateway/pusher/channel_directory.h"
#include "gateway/pusher/client_event_policy.h"
#include "gateway/pusher/inbound_message.h"
#include "gateway/pusher/pusher_app.h"
#include "gateway/pusher/pusher_service.h"

namespace kabar {

class PusherSession : public StreamSession, public RelayTarget, private WsStreamTransport::Door {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  // app: null when the key is unknown (the client is told 4001 after the upgrade, as Pusher does).
  // service: the Pusher door's, outlives the session.
  PusherSession(ServerContext& context, PusherService& service, std::size_t shard,
                boost::beast::tcp_stream&& stream, std::shared_ptr<PusherApp> app);
  ~PusherSession() override;

  void run(Request request);
  // Pings a quiet peer (ws_transport.h) and ends subscriptions whose token expired.
  void heartbeat() override;
  void shutdown() override;
  void deliver(const RelayedFrame& frame) override;

 private:
  struct Subscription {
    ChannelKind kind = ChannelKind::Public;
    std::string user_key;                // presence: who this connection is on the channel
    std::uint64_t presence_version = 0;  // member events up to this one are in the snapshot sent
    std::uint64_t generation = 0;        // tells a late cache lookup from a newer subscription
    std::optional<std::int64_t> expires_at;  // kabar_exp of the signed channel_data: ended then
  };
  // StreamSession policy: toOthers and the app decide which frames this socket gets; a reset is a
  // kabar:reset event; a failed replay is a 4101 refusal.
  bool wants(const Frame& frame) const override;
  std::string reset_payload(const std::string& channel, const char* reason, const std::string& position,
                            const std::string& id) const override;
  void close_replay_failed(const std::string& channel) override;

  // WsStreamTransport::Door
  void ws_opened() override;
  void ws_message(bool text, std::string_view payload) override;
  void ws_closed() override;

  PusherService& service() const { return service_; }
  PusherStats& stats() const { return service_.stats(); }
  std::shared_ptr<PusherSession> self() {
    return std::static_pointer_cast<PusherSession>(shared_from_this());
  }

  void authenticate_socket(const Request& request, const RequestTarget& target);
  std::optional<PusherError> admission_problem(const std::optional<std::string>& protocol);
  void refuse(const PusherError& error);
  bool within_message_rate();

  void handle_message(const InboundMessage& message);
  void handle_subscribe(const nlohmann::json& data);
  void handle_unsubscribe(const nlohmann::json& data);
  void handle_client_event(const std::string& event, const nlohmann::json& message);
  std::optional<std::string> authorization_problem(const std::string& channel, ChannelKind kind,
                                                   const nlohmann::json& data) const;
  bool refused_by_policy(const std::string& channel);
  void join(const std::string& channel, Subscription subscription, const PresenceIdentity* identity,
            const std::string& since);
  void start_delivery(const std::string& channel, const std::string& since, std::uint64_t generation,
                      std::int64_t head);
  void resend_success(const std::string& channel, const Subscription& subscription);
  void leave(const std::string& channel);
  void leave_all();
  RelayedFramePtr relay(const std::string& channel, std::string text, std::uint64_t presence_version = 0);

  PusherService& service_;
  WsStreamTransport transport_;
  std::shared_ptr<PusherApp> app_;
  std::string socket_id_;
  bool origin_allowed_ = false;  // the upgrade's Origin, checked against the app's allowed origins
  // A connection holds few channels: one vector for all of them (core/flat_map.h), not a node each plus
  // buckets; an idle connection's memory is mostly this kind of thing (docs/benchmarks.md).
  FlatMap<std::string, Subscription> subscriptions_;
  std::uint64_t next_generation_ = 0;
  ClientEventRate client_event_rate_;
  std::optional<MessageRateLimiter> rate_;  // every inbound message; made at the first one
  // What run() decided, for ws_opened() to tell after the 101; freed then.
  struct Opening {
    std::optional<PusherError> refusal;        // the connection is refused (4001, 4003, 4004, 4200...)
    std::optional<PusherError> token_refusal;  // told after connection_established; not fatal
  };
  std::unique_ptr<Opening> opening_;
  bool connection_counted_ = false;
  bool accepted_ = false;
  bool left_ = false;
};

}  // namespace kabar
