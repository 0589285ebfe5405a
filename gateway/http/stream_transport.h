#pragma once
// StreamTransport: what a StreamSession needs from the connection under it, and nothing else (after
// Centrifugo's internal/unisse transport: Name, Write/WriteMany, Close). The session owns the
// subscriptions, the catch-up and the one bounded send queue; the transport says how a stored event and a
// control message look on its wire, writes the bytes the session hands it, and ends the connection when
// told. Implementations: SseTransport (sse_transport.h: the socket of an /sse stream) and
// WsStreamTransport (ws_stream_transport.h: WsTransport under /ws and /app/{key}).
//
// The hot path goes through here, so the interface is built not to cost: frame_bytes() returns bytes
// cached in the shared Frame (made once per event and transport kind, whatever the number of sessions),
// and it is asked once per queued frame; write() takes its completion as a concrete type (WriteDone),
// never a std::function, so a write allocates nothing more than the socket operation does.
//
// Everything here runs on the session's shard thread.
#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/hub/frame.h"

namespace kabar {

class StreamSession;

// The completion of one write: hands the result to the session whose queue the bytes came from, and
// keeps that session (and so the transport it is composed with) alive until then.
class WriteDone {
 public:
  explicit WriteDone(std::shared_ptr<StreamSession> session) : session_(std::move(session)) {}
  void operator()(const boost::system::error_code& error) const;  // stream_session.cpp

 private:
  std::shared_ptr<StreamSession> session_;
};

// Why the session asks its transport to end the connection.
enum class StreamClose {
  SlowConsumer,  // the send queue overflowed: close now, with the transport's "slow consumer" reason
  Flushed,       // close_after_flush(): everything queued is written; end the stream (a WebSocket: the
                 // close code its door chose, e.g. 1012 at shutdown)
  LastWritten,   // the bytes of send_last() (the transport's own last bytes: a close frame) are out
};

class StreamTransport {
 public:
  // For logs and counters: "sse", "websocket", "pusher".
  virtual std::string_view name() const = 0;
  // One stored event as this transport sends it: bytes cached in the Frame (frame.sse, a WebSocket text
  // frame of frame.json or frame.pusher). The reference lives as long as the frame.
  virtual const std::string& frame_bytes(const Frame& frame) const = 0;
  // A control message (one JSON object) as this transport sends it. `id`: the SSE event id it may carry
  // (a reset that covers every channel of a stream); other transports ignore it.
  virtual std::string control_bytes(const std::string& json, const std::string& id) const = 0;
  // At most this many queued items go into one gathered write (a byte stream takes many; the session
  // also stops at 64 KiB).
  virtual std::size_t max_frames_per_write() const = 0;
  // Writes the buffers, in order, in one gathered write, then calls done(error). Never called while a
  // write is in flight; the buffers stay valid until done.
  virtual void write(const std::vector<boost::asio::const_buffer>& buffers, WriteDone done) = 0;
  // Ends the connection (see StreamClose); may return before it is gone. Whoever owns the transport
  // detaches the session when the connection is gone.
  virtual void close(StreamClose why) = 0;

 protected:
  ~StreamTransport() = default;
};

}  // namespace kabar
