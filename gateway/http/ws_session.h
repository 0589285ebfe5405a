#pragma once
// WsSession: one native /ws WebSocket connection (docs/protocol.md). Reads JSON requests, answers them,
// and streams the frames its StreamSession base queues, over kabar's WebSocket transport (ws_transport.h).
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <optional>

#include "gateway/http/hardening.h"
#include "gateway/http/stream_session.h"
#include "gateway/http/ws_request.h"
#include "gateway/http/ws_transport.h"

namespace kabar {

class WsSession : public StreamSession, private WsTransportOwner {
 public:
  WsSession(ServerContext& context, std::size_t shard, boost::beast::tcp_stream&& stream);
  ~WsSession() override;
  // Completes the upgrade of an already-read request.
  void run(boost::beast::http::request<boost::beast::http::string_body> request);
  // Pings a quiet peer (ws_transport.h) and ends what an expired token allowed.
  void heartbeat() override;
  void shutdown() override;

 private:
  // StreamSession transport hooks: frames go out as WebSocket text frames, many per write.
  const std::string& frame_payload(const Frame& frame) const override { return WsTransport::json_frame(frame); }
  std::string control_payload(const std::string& json, const std::string&) const override {
    return WsTransport::text_frame(json);
  }
  void start_write(const std::vector<boost::asio::const_buffer>& payloads) override;
  std::size_t max_items_per_write() const override { return 64; }
  void on_last_written() override { transport_.last_written(); }
  void close_slow_consumer() override;
  void close_now() override;
  void close_replay_failed(const std::string& channel) override;

  // WsTransportOwner
  void ws_opened() override;
  void ws_message(bool text, std::string_view payload) override;
  void ws_refused(std::uint16_t code, std::string_view reason) override;
  void ws_send(std::string bytes, bool last) override;
  void ws_closed() override { detach(); }
  std::shared_ptr<void> ws_keep_alive() override { return shared_from_this(); }

  void handle_message(std::string_view text);
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

  WsTransport transport_;
  std::string connect_token_;  // from the upgrade request; cleared once checked
  bool connect_query_refused_ = false;
  std::string token_refusal_;  // set when the connect token was refused: close 4001 with this reason
  bool replay_failed_ = false;  // close_now() then closes with 1011
  bool accepted_ = false;
  std::optional<MessageRateLimiter> rate_;  // http.ws_messages_per_s, made at the first message
};

}  // namespace kabar
