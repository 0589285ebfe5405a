#include "gateway/http/sse_transport.h"

namespace kabar {

std::string SseTransport::response_head(const std::string& server_name, const std::string& extra_headers) {
  // X-Accel-Buffering stops nginx from holding events back.
  // clang-format off
  return "HTTP/1.1 200 OK\r\n"
         "Server: " + server_name + "\r\n"
         "Content-Type: text/event-stream; charset=utf-8\r\n"
         "Cache-Control: no-cache, no-transform\r\n"
         "Connection: close\r\n"
         "X-Accel-Buffering: no\r\n"
         + extra_headers +
         "\r\n";
  // clang-format on
}

void SseTransport::close(StreamClose why) {
  if (end_ == Disconnect::ClientClosed)
    end_ = why == StreamClose::SlowConsumer ? Disconnect::SlowConsumer : Disconnect::ServerClosed;
  boost::system::error_code ignored;
  socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
}

}  // namespace kabar
