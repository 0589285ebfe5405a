#include "gateway/http/ws_stream_transport.h"

#include <spdlog/spdlog.h>

#include "gateway/http/stream_session.h"
#include "gateway/websocket/frame_codec.h"

namespace kabar {

WsStreamTransport::WsStreamTransport(boost::asio::ip::tcp::socket socket, const Dialect& dialect,
                                     ServerContext& context, StreamSession& session, Door& door)
    : dialect_(dialect),
      context_(context),
      session_(session),
      door_(door),
      ws_(std::move(socket), *this, context.limits.max_message_bytes) {}

void WsStreamTransport::close(StreamClose why) {
  switch (why) {
    case StreamClose::SlowConsumer:
      ws_.note_end(Disconnect::SlowConsumer);
      ws_.close(dialect_.slow_consumer.code, dialect_.slow_consumer.reason);
      break;
    case StreamClose::Flushed: {
      const Close close = flushed_close();
      ws_.close(close.code, close.reason);
      break;
    }
    case StreamClose::LastWritten:
      ws_.last_written();
      break;
  }
}

void WsStreamTransport::ws_closed() {
  note_disconnect(context_.stats.streams, dialect_.name, ws_.end_reason(), session_.claims().subject);
  door_.ws_closed();
}

void WsStreamTransport::ws_refused(std::uint16_t code, std::string_view reason) {
  if (code == websocket::close_code::too_big) {
    context_.stats.oversized_messages.fetch_add(1, std::memory_order_relaxed);
    spdlog::info("{}: message over {} bytes: closing with 1009", dialect_.name,
                 context_.limits.max_message_bytes);
  } else {
    spdlog::debug("{}: websocket protocol error from {}: {} ({})", dialect_.name, ws_.peer_address(), reason,
                  code);
  }
}

// The transport's own frames share the session's one queue, so they go out whole and in order.
void WsStreamTransport::ws_send(std::string bytes, bool last) {
  if (last) {
    session_.send_last(std::move(bytes));
  } else {
    session_.send_raw(std::move(bytes));
  }
}

std::shared_ptr<void> WsStreamTransport::ws_keep_alive() { return session_.shared_from_this(); }

}  // namespace kabar
