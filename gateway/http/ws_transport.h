#pragma once
// WsTransport: kabar's own WebSocket transport (RFC 6455) under the /ws and /app doors, in place of
// Beast's websocket::stream (docs/architecture.md "The WebSocket transport", docs/dependencies.md).
//
// A session is composed with one: the session owns the subscriptions and the one send queue; the
// transport answers the upgrade, reads and checks client frames (gateway/websocket/message_reader.h),
// keeps the connection alive, and runs the close handshake. Everything it sends besides the session's
// own messages (the 101, pongs, pings, the close frame) goes through the session's queue, so the bytes
// on the wire are always whole frames in queue order, and a gathered write of many frames is one
// system call.
//
// Memory is the point: an idle connection holds the socket, a few flags and an empty MessageReader. A
// read borrows a per-thread scratch buffer (it holds nothing between reads); only a message that
// arrives in pieces is copied, and that copy is freed when the message is complete.
//
// Everything here runs on the session's shard thread.
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/http/stream_metrics.h"
#include "gateway/http/write_now.h"
#include "gateway/hub/frame.h"
#include "gateway/websocket/message_reader.h"

namespace kabar {

// What the transport needs from the session it serves.
class WsTransportOwner {
 public:
  // The 101 is queued: the session may greet the client (welcome, connection_established).
  virtual void ws_opened() = 0;
  // One whole message from the client (`text`: a text message, checked as UTF-8).
  virtual void ws_message(bool text, std::string_view payload) = 0;
  // The client broke a rule and is being closed with `code` (1002, 1007 or 1009): counted and logged.
  virtual void ws_refused(std::uint16_t code, std::string_view reason) = 0;
  // Bytes for the session's send queue, unbounded. `last`: nothing may follow them (the close frame, a
  // refused upgrade's HTTP answer); the session calls ws_last_written() once they are out.
  virtual void ws_send(std::string bytes, bool last) = 0;
  // The connection is gone: leave everything. Called once.
  virtual void ws_closed() = 0;
  // Keeps the session alive while an operation of its transport is pending.
  virtual std::shared_ptr<void> ws_keep_alive() = 0;

 protected:
  ~WsTransportOwner() = default;
};

class WsTransport final : private websocket::MessageHandler {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  WsTransport(boost::asio::ip::tcp::socket socket, WsTransportOwner& owner, std::size_t max_message_bytes);
  ~WsTransport() override;

  // Answers the upgrade: a 101 and reading starts (true), or an HTTP error and the connection ends after
  // it (false: the session is never opened).
  bool accept(const Request& request, const std::string& server_name);

  // One gathered write of whole frames; `done(error)` when all are written, possibly before write()
  // returns (write_now.h: a write the kernel takes at once completes inline). On an error the
  // connection is closed (ws_closed follows).
  template <class Done>
  void write(const std::vector<boost::asio::const_buffer>& buffers, Done&& done) {
#if KABAR_IO_URING
    write_async(buffers, std::forward<Done>(done));
#else
    write_now(socket_, buffers, inline_depth_, std::forward<Done>(done),
              [this](const auto& rest, auto&& then) { write_async(rest, std::forward<decltype(then)>(then)); });
#endif
  }

  // Called every heartbeat interval: a quiet connection gets a ping; one silent for two intervals is
  // cut (a peer that went away without a FIN).
  void heartbeat();
  // Starts the close handshake (once): the close frame goes last into the queue; the TCP connection ends
  // when the peer's close arrives after it, or after a grace period.
  void close(std::uint16_t code, std::string_view reason);
  // The session wrote the bytes of ws_send(..., last=true).
  void last_written();
  // Ends the TCP connection after the grace period unless it ended before: for a refusal still waiting
  // in the queue behind a client that does not read (its close frame would never go out).
  void end_within_grace() { arm_deadline(); }
  bool close_sent() const { return close_sent_; }
  // Why the connection ended (or is ending): the first cause noted wins; client_closed if none was.
  void note_end(Disconnect why) {
    if (end_ == kNoEnd) end_ = static_cast<std::uint8_t>(why);
  }
  Disconnect end_reason() const { return end_ == kNoEnd ? Disconnect::ClientClosed : static_cast<Disconnect>(end_); }
  bool open() const { return upgraded_ && !cut_; }
  boost::asio::any_io_executor get_executor() { return socket_.get_executor(); }
  std::string peer_address() const;

  // Server frames (what the session queues for /ws and /app): a text message, encoded once per event
  // and shared by every subscriber (cached in the Frame).
  static std::string text_frame(std::string_view payload);
  static const std::string& json_frame(const Frame& frame);
  static const std::string& pusher_frame(const Frame& frame);

 private:
  // websocket::MessageHandler
  void on_message(bool text, std::string_view payload) override;
  void on_ping(std::string_view payload) override;
  void on_pong(std::string_view payload) override;
  void on_close(std::uint16_t code, std::string_view reason) override;
  void on_error(std::uint16_t code, std::string_view reason) override;

  template <class Buffers, class Done>
  void write_async(const Buffers& buffers, Done&& done) {
    boost::asio::async_write(socket_, buffers,
                             [this, keep = owner_.ws_keep_alive(), done = std::forward<Done>(done)](
                                 const boost::system::error_code& error, std::size_t) mutable {
                               if (error) cut();
                               done(error);
                             });
  }

  void refuse_upgrade(boost::beast::http::status status, std::string_view reason,
                      std::string_view extra_headers);
  void wait_readable();
  // One read of what is there without waiting: bytes, or would_block / eof / another error.
  std::size_t read_once(std::span<char> into, boost::system::error_code& error);
  void on_readable(const boost::system::error_code& error);
  void arm_deadline();
  // Ends the TCP connection now (idempotent); ws_closed() follows once.
  void cut();

  boost::asio::ip::tcp::socket socket_;
  WsTransportOwner& owner_;
  websocket::MessageReader reader_;
  std::unique_ptr<boost::asio::steady_timer> deadline_;  // only while closing
  bool upgraded_ = false;
  bool reading_ = false;    // an async_wait for readability is pending
  bool heard_ = false;      // anything read since the last heartbeat
  bool ping_sent_ = false;  // a ping went out at the last heartbeat and nothing came back yet
  bool close_sent_ = false;
  bool close_received_ = false;
  bool last_written_ = false;
  bool cut_ = false;
  bool closed_told_ = false;
  std::uint8_t inline_depth_ = 0;  // writes completing inside write() right now (nested)
  static constexpr std::uint8_t kNoEnd = 0xff;
  std::uint8_t end_ = kNoEnd;  // a Disconnect once a cause is known (note_end)
};

}  // namespace kabar
