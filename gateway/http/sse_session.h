#pragma once
// SseSession: one /sse EventSource stream. The request was read by HttpSession; this writes the response
// head, then frames as `data:` lines with `id: <position>` until the client goes away.
#include <array>
#include <boost/asio/ip/tcp.hpp>

#include "gateway/http/stream_session.h"

namespace kabar {

class SseSession : public StreamSession {
 public:
  SseSession(ServerContext& context, std::size_t shard, boost::asio::ip::tcp::socket&& socket);
  ~SseSession() override;
  // `cors_headers`: raw "Name: value\r\n" lines, the CORS answer HttpSession decided for this request.
  void start(const std::vector<std::string>& channels, const StartPoint& start, const std::string& cors_headers);
  void heartbeat() override;
  void shutdown() override;

 private:
  const std::string& frame_payload(const Frame& frame) const override { return frame.sse; }
  std::string control_payload(const std::string& json, const std::string& id) const override {
    return sse_message(json, id);
  }
  void start_write(const std::vector<boost::asio::const_buffer>& payloads) override;
  std::size_t max_items_per_write() const override { return 64; }
  void close_slow_consumer() override { close_now(); }
  void close_now() override;
  void watch_for_disconnect();

  boost::asio::ip::tcp::socket socket_;
  std::array<char, 64> discard_{};
  bool started_ = false;
};

}  // namespace kabar
