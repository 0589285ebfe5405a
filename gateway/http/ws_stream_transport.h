#pragma once
// WsStreamTransport: a WebSocket connection (WsTransport) as the StreamTransport of a /ws or /app/{key}
// session. It does for both doors what they did each on their own: frames go out as WebSocket text
// frames (the event's cached in the Frame), the session's queue carries the transport's own frames (the
// 101, pongs, pings, the close frame), a slow consumer and a flushed session are closed with the door's
// code, and a client breaking the protocol is counted and logged. What a door says in a message, and
// when it closes, stays the door's (Door below, and close_when_flushed).
//
// It owns the WsTransport and is its WsTransportOwner; it is a member of the door session, which is the
// StreamSession it writes for and the Door it hands messages to, so all three live and die together.
//
// Everything here runs on the session's shard thread.
#include <boost/asio/ip/tcp.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/http/server_context.h"
#include "gateway/http/stream_transport.h"
#include "gateway/http/ws_transport.h"

namespace kabar {

class StreamSession;

class WsStreamTransport final : public StreamTransport, private WsTransportOwner {
 public:
  // The door's half of the connection: what the client says, and when it comes and goes.
  class Door {
   public:
    // The 101 is queued: the door may greet the client (welcome, connection_established).
    virtual void ws_opened() = 0;
    // One whole message from the client (`text`: a text message, checked as UTF-8).
    virtual void ws_message(bool text, std::string_view payload) = 0;
    // The connection is gone: leave everything (detach the session). Called once.
    virtual void ws_closed() = 0;

   protected:
    ~Door() = default;
  };

  struct Close {
    std::uint16_t code;
    std::string_view reason;
  };
  // What tells the doors apart on the wire; one static instance per door.
  struct Dialect {
    std::string_view name;  // "ws", "pusher": logs
    Frame::Wire frames;     // the event's wire form: WsJson (frame.json) or WsPusher (frame.pusher)
    Close slow_consumer;    // the send queue overflowed
    Close flushed;          // close_after_flush() unless the door said otherwise: the shutdown close
  };

  WsStreamTransport(boost::asio::ip::tcp::socket socket, const Dialect& dialect, ServerContext& context,
                    StreamSession& session, Door& door);

  // --- the WebSocket, for the door ---
  // Answers the upgrade (WsTransport::accept); false: refused, the session is never opened.
  bool accept(const WsTransport::Request& request, const std::string& server_name) {
    return ws_.accept(request, server_name);
  }
  void heartbeat() { ws_.heartbeat(); }
  // Starts the close handshake now (after what is queued); see WsTransport::close.
  void close(std::uint16_t code, std::string_view reason) { ws_.close(code, reason); }
  // The close the session's close_after_flush() ends with (the last door decision wins; the default is
  // the dialect's `flushed`).
  void close_when_flushed(std::uint16_t code, std::string reason) {
    flushed_code_ = code;
    flushed_reason_ = std::move(reason);
  }
  void end_within_grace() { ws_.end_within_grace(); }
  bool close_sent() const { return ws_.close_sent(); }
  boost::asio::any_io_executor get_executor() { return ws_.get_executor(); }
  std::string peer_address() const { return ws_.peer_address(); }

  // --- StreamTransport ---
  std::string_view name() const override { return dialect_.name; }
  const std::string& frame_bytes(const Frame& frame) const override {
    return dialect_.frames == Frame::Wire::WsPusher ? WsTransport::pusher_frame(frame)
                                                    : WsTransport::json_frame(frame);
  }
  std::string control_bytes(const std::string& json, const std::string&) const override {
    return WsTransport::text_frame(json);
  }
  // Whole frames, many per write: a backlog is one system call.
  std::size_t max_frames_per_write() const override { return 64; }
  void write(const std::vector<boost::asio::const_buffer>& buffers, WriteDone done) override {
    ws_.write(buffers, std::move(done));
  }
  void close(StreamClose why) override;

 private:
  // The close of close_after_flush(): the door's last decision, else the dialect's.
  Close flushed_close() const {
    return flushed_code_ != 0 ? Close{flushed_code_, flushed_reason_} : dialect_.flushed;
  }

  // WsTransportOwner
  void ws_opened() override { door_.ws_opened(); }
  void ws_message(bool text, std::string_view payload) override { door_.ws_message(text, payload); }
  void ws_refused(std::uint16_t code, std::string_view reason) override;
  void ws_send(std::string bytes, bool last) override;
  void ws_closed() override;
  std::shared_ptr<void> ws_keep_alive() override;

  const Dialect& dialect_;
  ServerContext& context_;
  StreamSession& session_;
  Door& door_;
  std::uint16_t flushed_code_ = 0;  // 0: the door decided nothing, the dialect's `flushed` holds
  std::string flushed_reason_;      // (empty until then: no copy of the default per connection)
  WsTransport ws_;  // last: it is made with (and calls back into) everything above
};

}  // namespace kabar
