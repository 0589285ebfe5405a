#include "gateway/http/sse_session.h"

#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "gateway/http/access.h"

namespace kabar {

SseSession::SseSession(ServerContext& context, std::size_t shard, boost::asio::ip::tcp::socket&& socket)
    : StreamSession(context, shard), socket_(std::move(socket)) {}

SseSession::~SseSession() {
  if (started_) context_.stats.sse_open.fetch_sub(1, std::memory_order_relaxed);
}

void SseSession::start(const std::vector<std::string>& channels, const StartPoint& start,
                       const std::string& cors_headers) {
  started_ = true;
  register_session();
  context_.stats.sse_accepted.fetch_add(1, std::memory_order_relaxed);
  context_.stats.sse_open.fetch_add(1, std::memory_order_relaxed);
  boost::system::error_code ignored;
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
  // No Content-Length and no chunking: the body ends when the connection does, which every
  // EventSource and proxy understands. X-Accel-Buffering stops nginx from holding events back.
  send_raw(
      "HTTP/1.1 200 OK\r\n"
      "Server: " + context_.server_name + "\r\n"
      "Content-Type: text/event-stream; charset=utf-8\r\n"
      "Cache-Control: no-cache, no-transform\r\n"
      "Connection: close\r\n"
      "X-Accel-Buffering: no\r\n"
      + cors_headers +
      "\r\n"
      "retry: " + std::to_string(context_.limits.sse_retry.count()) + "\n\n"
      ": kabar " + context_.hub.epoch() + "\n\n");
  // All channels of a stream share one cursor (one Last-Event-ID), so a reset that covers them all
  // may move that cursor: id_on_reset.
  subscribe(channels, start, /*id_on_reset=*/true);
  watch_for_disconnect();
}

void SseSession::watch_for_disconnect() {
  // EventSource never sends after its request; a read completes only when the peer closes.
  socket_.async_read_some(boost::asio::buffer(discard_),
                          [self = std::static_pointer_cast<SseSession>(shared_from_this())](
                              const boost::system::error_code& error, std::size_t) {
                            if (error) {
                              self->detach();
                              boost::system::error_code ignored;
                              self->socket_.close(ignored);
                              return;
                            }
                            self->watch_for_disconnect();
                          });
}

void SseSession::heartbeat() {
  if (closing()) return;
  // An expired token ends the channels only it allowed; a stream left with none is closed (EventSource
  // then reconnects, and gets 401 unless the page has a fresh token, e.g. in the cookie).
  if (claims_.expires_at && expire_token(unix_s()) > 0 && subscription_count() == 0) {
    close_after_flush();
    return;
  }
  if (!send_queue_empty()) return;  // a busy stream needs no keep-alive
  send_raw(": hb\n\n");
}

void SseSession::start_write(const std::vector<boost::asio::const_buffer>& payloads) {
  boost::asio::async_write(socket_, payloads,
                           [self = std::static_pointer_cast<SseSession>(shared_from_this())](
                               const boost::system::error_code& error, std::size_t) {
                             self->on_write_complete(error);
                           });
}

void SseSession::close_now() {
  boost::system::error_code ignored;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  detach_later();
}

void SseSession::shutdown() {
  if (closing()) return;
  send_control(R"({"type":"shutdown","reason":"server restarting","reconnect_ms":)" +
               std::to_string(context_.limits.shutdown_reconnect.count()) + "}");
  close_after_flush();
}

}  // namespace kabar
