#pragma once
// PusherSession: one `/app/{key}` WebSocket connection speaking Pusher protocol 7, so unmodified
// pusher-js and Laravel Echo work against kabar (docs/pusher.md, shared/docs/pusher-protocol.md).
//
// Stored events (whatever their source: MQTT, the REST API) arrive through the StreamSession base like
// on /ws, encoded once as Frame::pusher; the publisher's socket is left out (toOthers). Client events
// and presence member events go session to session through the ChannelDirectory. Everything here runs
// on the session's shard thread.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <unordered_map>

#include "bridge/channel.h"
#include "gateway/http/stream_session.h"
#include "gateway/pusher/channel_directory.h"
#include "gateway/pusher/pusher_app.h"
#include "gateway/pusher/pusher_service.h"

namespace kabar {

class PusherSession : public StreamSession, public RelayTarget {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  static constexpr int kClientEventsPerSecond = 10;
  static constexpr std::size_t kMaxClientEventBytes = 10 * 1024;
  static constexpr std::size_t kMaxEventNameBytes = 200;

  // app: null when the key is unknown (the client is told 4001 after the upgrade, as Pusher does).
  PusherSession(ServerContext& context, std::size_t shard, boost::beast::tcp_stream&& stream,
                std::shared_ptr<PusherApp> app);
  ~PusherSession() override;

  void run(Request request);
  void heartbeat() override {}  // Beast pings idle peers itself (see run())
  void shutdown() override;
  void deliver(const RelayedFrame& frame) override;

 private:
  struct Subscription {
    ChannelKind kind = ChannelKind::Public;
    std::string user_key;                // presence: who this connection is on the channel
    std::uint64_t presence_version = 0;  // member events up to this one are in the snapshot sent
    std::uint64_t generation = 0;        // tells a late cache lookup from a newer subscription
  };
  struct PresenceIdentity {
    std::string user_key, user_id_json, user_info_json;
  };

  static std::optional<PresenceIdentity> identity_from(const std::string& channel_data);

  // StreamSession transport hooks.
  const std::string& frame_payload(const Frame& frame) const override;
  std::string control_payload(const std::string& json, const std::string& id) const override;
  void start_write(const std::vector<boost::asio::const_buffer>& payloads) override;
  void close_slow_consumer() override;
  void close_now() override;

  PusherService& service() const { return *context_.pusher; }
  std::shared_ptr<PusherSession> self() {
    return std::static_pointer_cast<PusherSession>(shared_from_this());
  }

  void on_accept(const boost::system::error_code& error);
  std::optional<std::pair<int, std::string>> admission_problem();
  void refuse(int code, const std::string& message);
  void read_next();
  void on_read(const boost::system::error_code& error);

  void handle_message(const std::string& text);
  void handle_subscribe(const nlohmann::json& data);
  void handle_unsubscribe(const nlohmann::json& data);
  void handle_client_event(const std::string& event, const nlohmann::json& message);
  std::optional<std::string> authorization_problem(const std::string& channel, ChannelKind kind,
                                                   const nlohmann::json& data) const;
  void join(const std::string& channel, Subscription subscription, const PresenceIdentity* identity,
            const std::string& since);
  void start_delivery(const std::string& channel, const std::string& since, std::uint64_t generation);
  void resend_success(const std::string& channel, const Subscription& subscription);
  void leave(const std::string& channel);
  void leave_all();
  bool take_client_event_token();
  RelayedFramePtr relay(const std::string& channel, std::string text, std::uint64_t presence_version = 0);
  void close_with(std::uint16_t code, const std::string& reason);

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  std::shared_ptr<PusherApp> app_;
  std::string socket_id_;
  std::string origin_;
  std::optional<std::string> protocol_;  // ?protocol= of the URL
  std::unordered_map<std::string, Subscription> subscriptions_;
  std::uint64_t next_generation_ = 0;
  std::chrono::steady_clock::time_point rate_window_start_{};
  int client_events_in_window_ = 0;
  std::uint16_t close_code_ = 4200;
  std::string close_reason_ = "Server is closing. Please reconnect shortly.";
  bool connection_counted_ = false;
  bool accepted_ = false;
  bool close_sent_ = false;
  bool left_ = false;
};

}  // namespace kabar
