#pragma once
// SseSession: one /sse EventSource stream. The request was read by HttpSession; this writes the response
// head, then frames as `data:` lines with `id: <position>` until the client goes away. Its StreamSession
// base queues them; its SseTransport (the socket) writes them.
#include <boost/asio/ip/tcp.hpp>

#include "gateway/http/sse_transport.h"
#include "gateway/http/stream_session.h"

namespace kabar {

class SseSession : public StreamSession {
 public:
  SseSession(ServerContext& context, std::size_t shard, boost::asio::ip::tcp::socket&& socket);
  ~SseSession() override;
  // `cors_headers`: raw "Name: value\r\n" lines, the CORS answer HttpSession decided for this request.
  // `topics`: MQTT topic filters, authorized by the door (StreamSession::subscribe_with_topics).
  void start(const std::vector<std::string>& channels, const std::vector<std::string>& topics,
             const StartPoint& start, const std::string& cors_headers);
  void heartbeat() override;
  void shutdown() override;

 private:
  SseTransport transport_;
  bool started_ = false;
};

}  // namespace kabar
