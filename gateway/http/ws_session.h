#pragma once
// WsSession: one native /ws WebSocket connection (docs/protocol.md). Reads JSON requests, answers them,
// and streams the frames its StreamSession base queues.
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <nlohmann/json_fwd.hpp>

#include <chrono>
#include <memory>
#include <optional>

#include "gateway/http/hardening.h"
#include "gateway/http/stream_session.h"
#include "gateway/http/ws_request.h"

namespace kabar {

class WsSession : public StreamSession {
 public:
  WsSession(ServerContext& context, std::size_t shard, boost::beast::tcp_stream&& stream);
  ~WsSession() override;
  // Completes the upgrade of an already-read request.
  void run(boost::beast::http::request<boost::beast::http::string_body> request);
  // Beast sends keep-alive pings itself (see run()); this only ends what an expired token allowed.
  void heartbeat() override;
  void shutdown() override;

 private:
  const std::string& frame_payload(const Frame& frame) const override { return frame.json; }
  std::string control_payload(const std::string& json, const std::string&) const override { return json; }
  void start_write(const std::vector<boost::asio::const_buffer>& payloads) override;
  void close_slow_consumer() override;
  void close_now() override;
  void close_replay_failed(const std::string& channel) override;

  void on_accept(const boost::system::error_code& error);
  void read_next();
  void on_read(const boost::system::error_code& error);
  void handle_message(const std::string& text);
  void handle_subscribe(const WsRequest& request);
  void handle_unsubscribe(const WsRequest& request);
  void handle_auth(const WsRequest& request);
  // The token found at the upgrade (header, cookie or ?token=) decides who this connection is.
  bool authenticate_at_connect();
  void send_refusal(const std::string& code, const std::string& reason, const std::string& message,
                    const std::string& ref, const std::string& channel = {});
  void send_error(const std::string& code, const std::string& message, const std::string& ref,
                  const std::string& channel = {});
  void close_with(std::uint16_t code, const std::string& reason);
  void cut_if_not_closed_soon();

  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer buffer_;
  std::string connect_token_;  // from the upgrade request; cleared once checked
  bool connect_query_refused_ = false;
  std::string token_refusal_;  // set when the connect token was refused: close 4001 with this reason
  bool close_sent_ = false;
  bool replay_failed_ = false;  // close_now() then closes with 1011
  bool accepted_ = false;
  std::optional<MessageRateLimiter> rate_;  // http.ws_messages_per_s, made at the first message
  // How long a closed peer has to take the close frame before the TCP connection is cut.
  static constexpr std::chrono::seconds kCloseGrace{5};
  std::unique_ptr<boost::asio::steady_timer> close_deadline_;  // armed by close_with()
};

}  // namespace kabar
