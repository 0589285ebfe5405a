#include "gateway/http/sse_session.h"

#include "gateway/http/access.h"

namespace kabar {

SseSession::SseSession(ServerContext& context, std::size_t shard, boost::asio::ip::tcp::socket&& socket)
    : StreamSession(context, shard, transport_), transport_(std::move(socket)) {}

SseSession::~SseSession() {
  if (started_) context_.stats.sse_open.fetch_sub(1, std::memory_order_relaxed);
}

void SseSession::start(const std::vector<std::string>& channels, const std::vector<std::string>& topics,
                       const StartPoint& start, const std::string& cors_headers) {
  started_ = true;
  register_session();
  context_.stats.sse_accepted.fetch_add(1, std::memory_order_relaxed);
  context_.stats.sse_open.fetch_add(1, std::memory_order_relaxed);
  transport_.open([self = std::static_pointer_cast<SseSession>(shared_from_this())] {
    note_disconnect(self->context_.stats.streams, "sse", self->transport_.end_reason(), self->claims().subject);
    self->detach();
  });
  send_raw(SseTransport::response_head(context_.server_name, cors_headers) +
           "retry: " + std::to_string(context_.limits.sse_retry.count()) + "\n\n"
           ": kabar " + context_.hub.epoch() + "\n\n");
  // All channels of a stream share one cursor (one Last-Event-ID), so a reset that covers them all
  // may move that cursor: id_on_reset.
  // With topic filters, their channels are found first and everything starts in one catch-up, so the
  // stream stays in seq order and its Last-Event-ID keeps meaning "everything up to here".
  subscribe_with_topics(channels, topics, start, /*id_on_reset=*/true);
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

void SseSession::shutdown() {
  if (closing()) return;
  send_control(R"({"type":"shutdown","reason":"server restarting","reconnect_ms":)" +
               std::to_string(context_.limits.shutdown_reconnect.count()) + "}");
  close_after_flush();
}

}  // namespace kabar
