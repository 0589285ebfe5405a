#include "gateway/http/ws_transport.h"

#include <spdlog/spdlog.h>

#if KABAR_IO_URING
#include <sys/socket.h>

#include <cerrno>
#endif
#include <array>
#include <boost/beast/websocket/rfc6455.hpp>

#include "gateway/websocket/frame_codec.h"
#include "gateway/websocket/handshake.h"

namespace kabar {
namespace http = boost::beast::http;
using websocket::Opcode;

namespace {
// How long a closing peer has to answer our close frame (or to read it) before the TCP connection is
// cut: a peer that does not read never lets the close frame out, one that floods is never idle.
constexpr std::chrono::seconds kCloseGrace{5};
// Reads per readiness before going back to the reactor, so one flooding client cannot hold the thread.
constexpr int kReadsPerWake = 4;
// The per-thread read buffer: one system call takes what a burst of client messages brings.
constexpr std::size_t kScratchBytes = 16 * 1024;
}  // namespace

WsTransport::WsTransport(boost::asio::ip::tcp::socket socket, WsTransportOwner& owner,
                         std::size_t max_message_bytes)
    : socket_(std::move(socket)), owner_(owner), reader_(max_message_bytes) {}

WsTransport::~WsTransport() = default;

std::string WsTransport::peer_address() const {
  boost::system::error_code ignored;
  return socket_.remote_endpoint(ignored).address().to_string();
}

// ---- the upgrade ----

bool WsTransport::accept(const Request& request, const std::string& server_name) {
  if (!boost::beast::websocket::is_upgrade(request)) {
    refuse_upgrade(http::status::bad_request, "not a WebSocket upgrade request", {});
    return false;
  }
  if (request[http::field::sec_websocket_version] != "13") {
    refuse_upgrade(http::status::upgrade_required, "only WebSocket version 13 is supported",
                   "Sec-WebSocket-Version: 13\r\n");
    return false;
  }
  const auto header = request[http::field::sec_websocket_key];
  const std::string_view key(header.data(), header.size());
  if (!websocket::is_valid_client_key(key)) {
    refuse_upgrade(http::status::bad_request, "Sec-WebSocket-Key is missing or not 16 bytes of base64", {});
    return false;
  }
  boost::system::error_code ignored;
  socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
#if KABAR_IO_URING
  // With io_uring the socket stays in blocking mode: Asio's io_uring backend sends a non-blocking
  // socket's writes at once with sendmsg() (as epoll does) and queues submissions only for the others,
  // so a non-blocking socket would gain nothing. Reads say MSG_DONTWAIT themselves (read_once).
#else
  socket_.non_blocking(true, ignored);
#endif
  upgraded_ = true;
  owner_.ws_send(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
          websocket::accept_key(key) + "\r\nServer: " + server_name + "\r\n\r\n",
      /*last=*/false);
  owner_.ws_opened();
  wait_readable();
  return true;
}

void WsTransport::refuse_upgrade(http::status status, std::string_view reason,
                                 std::string_view extra_headers) {
  const std::string body = std::string(reason) + "\n";
  std::string response = "HTTP/1.1 " + std::to_string(static_cast<unsigned>(status)) + " " +
                         std::string(http::obsolete_reason(status)) + "\r\n";
  response.append(extra_headers);
  response += "Content-Type: text/plain\r\nContent-Length: " + std::to_string(body.size()) +
              "\r\nConnection: close\r\n\r\n" + body;
  close_sent_ = true;  // nothing else goes out
  arm_deadline();
  owner_.ws_send(std::move(response), /*last=*/true);
}

// ---- reading ----

void WsTransport::wait_readable() {
  if (reading_ || cut_) return;
  reading_ = true;
  socket_.async_wait(boost::asio::ip::tcp::socket::wait_read,
                     [this, keep = owner_.ws_keep_alive()](const boost::system::error_code& error) {
                       reading_ = false;
                       on_readable(error);
                     });
}

std::size_t WsTransport::read_once(std::span<char> into, boost::system::error_code& error) {
#if KABAR_IO_URING
  for (;;) {
    const ssize_t n = ::recv(socket_.native_handle(), into.data(), into.size(), MSG_DONTWAIT);
    if (n > 0) return static_cast<std::size_t>(n);
    if (n == 0) {
      error = boost::asio::error::eof;
    } else if (errno == EINTR) {
      continue;
    } else {
      error = boost::system::error_code(errno, boost::asio::error::get_system_category());
    }
    return 0;
  }
#else
  return socket_.read_some(boost::asio::buffer(into.data(), into.size()), error);
#endif
}

void WsTransport::on_readable(const boost::system::error_code& error) {
  if (cut_) return;
  if (error) {
    cut();
    return;
  }
  // Holds nothing between reads: the reader copies what it must keep (a message in pieces).
  thread_local std::array<char, kScratchBytes> scratch;
  for (int i = 0; i < kReadsPerWake; ++i) {
    boost::system::error_code read_error;
    const std::size_t n = read_once(std::span<char>(scratch.data(), scratch.size()), read_error);
    if (read_error == boost::asio::error::would_block || read_error == boost::asio::error::try_again) break;
    if (read_error) {  // end of stream or reset: the peer is gone
      cut();
      return;
    }
    heard_ = true;
    ping_sent_ = false;
    if (!reader_.feed(std::span<char>(scratch.data(), n), *this)) return;  // closed or refused
    if (cut_) return;
    if (n < scratch.size()) break;
  }
  wait_readable();
}

void WsTransport::on_message(bool text, std::string_view payload) {
  // After our close frame the peer's late messages are read (to reach its close) but not answered.
  if (close_sent_) return;
  owner_.ws_message(text, payload);
}

void WsTransport::on_ping(std::string_view payload) {
  if (close_sent_) return;
  owner_.ws_send(websocket::encode_frame(Opcode::Pong, payload), /*last=*/false);
}

void WsTransport::on_pong(std::string_view) {}

void WsTransport::on_close(std::uint16_t code, std::string_view) {
  close_received_ = true;
  if (close_sent_) {
    // Our close was answered: done once it is out (it may still be queued behind a slow write).
    if (last_written_) cut();
    return;
  }
  // The peer closes first: answer with the same code (none for none), then end the connection.
  note_end(Disconnect::ClientClosed);
  close(code == websocket::close_code::no_status ? websocket::close_code::normal : code, {});
}

void WsTransport::on_error(std::uint16_t code, std::string_view reason) {
  owner_.ws_refused(code, reason);
  note_end(Disconnect::ProtocolError);
  // Nothing more is read; the connection ends once the close frame is out (or after the grace period).
  close_received_ = true;
  close(code, reason);
}

// ---- keep-alive and closing ----

void WsTransport::heartbeat() {
  if (!upgraded_ || cut_ || close_sent_) return;
  if (heard_) {
    heard_ = false;
    return;
  }
  if (ping_sent_) {
    // Two intervals without a byte, not even the pong: the peer is gone.
    spdlog::debug("websocket peer {} silent for two heartbeats: closing", peer_address());
    note_end(Disconnect::SilentPeer);
    cut();
    return;
  }
  ping_sent_ = true;
  owner_.ws_send(websocket::encode_frame(Opcode::Ping, {}), /*last=*/false);
}

void WsTransport::close(std::uint16_t code, std::string_view reason) {
  if (close_sent_ || cut_) return;
  note_end(Disconnect::ServerClosed);  // unless the peer's close or an error came first
  close_sent_ = true;
  arm_deadline();
  owner_.ws_send(websocket::encode_close(code, reason), /*last=*/true);
}

void WsTransport::last_written() {
  last_written_ = true;
  // The server ends the TCP connection once both close frames are exchanged (RFC 6455 7.1.1); after a
  // refused upgrade or a protocol error there is nothing to wait for.
  if (close_received_ || !upgraded_) cut();
}

void WsTransport::arm_deadline() {
  if (deadline_) return;
  deadline_ = std::make_unique<boost::asio::steady_timer>(socket_.get_executor());
  deadline_->expires_after(kCloseGrace);
  deadline_->async_wait([this, keep = owner_.ws_keep_alive()](const boost::system::error_code& error) {
    if (!error) cut();
  });
}

void WsTransport::cut() {
  if (!cut_) {
    cut_ = true;
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    if (deadline_) deadline_->cancel();
  }
  if (!closed_told_) {
    closed_told_ = true;
    owner_.ws_closed();
  }
}

// ---- server frames ----

std::string WsTransport::text_frame(std::string_view payload) {
  return websocket::encode_frame(Opcode::Text, payload);
}

const std::string& WsTransport::json_frame(const Frame& frame) {
  return frame.wire(Frame::Wire::WsJson, [](const Frame& f) { return text_frame(f.json); });
}

const std::string& WsTransport::pusher_frame(const Frame& frame) {
  return frame.wire(Frame::Wire::WsPusher, [](const Frame& f) { return text_frame(f.pusher); });
}

}  // namespace kabar
