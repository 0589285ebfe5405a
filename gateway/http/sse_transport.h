#pragma once
// SseTransport: the socket of one /sse EventSource stream, as a StreamTransport. It writes the session's
// queued bytes (frames as `id: <position>` + `data:` lines, cached in the Frame), watches for the peer
// going away (EventSource never sends after its request), and ends the connection. What goes into the
// stream (the head's CORS lines, retry, heartbeats) is SseSession's.
//
// Everything here runs on the session's shard thread.
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <string>

#include "gateway/http/stream_metrics.h"
#include "gateway/http/stream_transport.h"
#include "gateway/http/write_now.h"

namespace kabar {

class SseTransport final : public StreamTransport {
 public:
  explicit SseTransport(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {}

  // The response head, up to and including its blank line. No Content-Length and no chunking: the body
  // ends when the connection does, which every EventSource and proxy understands. `extra_headers`: raw
  // "Name: value\r\n" lines (CORS).
  static std::string response_head(const std::string& server_name, const std::string& extra_headers);

  // Starts writing at once (TCP_NODELAY) and waits for the peer to close; then the socket is closed and
  // gone() is called, once. `gone` keeps the session alive while it waits.
  template <class Gone>
  void open(Gone gone) {
    boost::system::error_code ignored;
    socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    watch(std::move(gone));
  }

  std::string_view name() const override { return "sse"; }
  const std::string& frame_bytes(const Frame& frame) const override { return frame.sse; }
  std::string control_bytes(const std::string& json, const std::string& id) const override {
    return sse_message(json, id);
  }
  // A byte stream: a backlog of frames goes out in one gathered write (one system call).
  std::size_t max_frames_per_write() const override { return 64; }
  // A write the kernel takes at once completes inline (write_now.h).
  void write(const std::vector<boost::asio::const_buffer>& buffers, WriteDone done) override {
    write_now(socket_, buffers, inline_depth_, std::move(done), [this](const auto& rest, WriteDone then) {
      boost::asio::async_write(
          socket_, rest,
          [then = std::move(then)](const boost::system::error_code& error, std::size_t) { then(error); });
    });
  }
  // Whatever the reason, an SSE stream ends by closing the socket: the watch then reports it gone.
  void close(StreamClose why) override;
  // Why the stream ended: what close() was told, else the client went away.
  Disconnect end_reason() const { return end_; }

 private:
  template <class Gone>
  void watch(Gone gone) {
    socket_.async_read_some(
        boost::asio::buffer(discard_),
        [this, gone = std::move(gone)](const boost::system::error_code& error, std::size_t) mutable {
          if (!error) {
            watch(std::move(gone));
            return;
          }
          boost::system::error_code ignored;
          socket_.close(ignored);
          gone();
        });
  }

  boost::asio::ip::tcp::socket socket_;
  std::array<char, 64> discard_{};
  std::uint8_t inline_depth_ = 0;  // writes completing inside write() right now (write_now.h)
  Disconnect end_ = Disconnect::ClientClosed;
};

}  // namespace kabar
