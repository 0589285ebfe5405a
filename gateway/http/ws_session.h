#pragma once
// WsSession: one native /ws WebSocket connection (docs/protocol.md). Reads JSON requests, answers them,
// and streams the frames its StreamSession base queues over its WsStreamTransport (kabar's WebSocket
// transport, ws_transport.h, as the session's StreamTransport).
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <memory>
#include <optional>

#include "gateway/http/hardening.h"
#include "gateway/http/stream_session.h"
#include "gateway/http/ws_request.h"
#include "gateway/http/ws_stream_transport.h"

namespace kabar {

class WsSession : public StreamSession, private WsStreamTransport::Door {
 public:
  WsSession(ServerContext& context, std::size_t shard, boost::beast::tcp_stream&& stream);
  ~WsSession() override;
  // Completes the upgrade of an already-read request.
  void run(boost::beast::http::request<boost::beast::http::string_body> request);
  // Pings a quiet peer (ws_transport.h) and ends what an expired token allowed.
  void heartbeat() override;
  void shutdown() override;

 private:
  // StreamSession policy: a replay that failed closes with 1011.
  void close_replay_failed(const std::string& channel) override;

  // WsStreamTransport::Door
  void ws_opened() override;
  void ws_message(bool text, std::string_view payload) override;
  void ws_closed() override { detach(); }

  void handle_message(std::string_view text);
  void handle_subscribe(const WsRequest& request);
  void handle_unsubscribe(const WsRequest& request);
  void handle_auth(const WsRequest& request);
  // The token found at the upgrade (header, cookie or ?token=) decides who this connection is.
  bool authenticate_at_connect();
  void send_refusal(const std::string& code, const std::string& reason, const std::string& message,
                    const std::string& ref, const std::string& channel = {}, const std::string& topic = {});
  void send_error(const std::string& code, const std::string& message, const std::string& ref,
                  const std::string& channel = {}, const std::string& topic = {});
  void handle_topic_subscribe(const WsRequest& request);
  void close_with(std::uint16_t code, const std::string& reason);

  WsStreamTransport transport_;
  std::string connect_token_;  // from the upgrade request; cleared once checked
  bool connect_query_refused_ = false;
  bool accepted_ = false;
  std::optional<MessageRateLimiter> rate_;  // http.ws_messages_per_s, made at the first message
};

}  // namespace kabar
