#include "gateway/http/listener.h"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "gateway/http/http_session.h"

namespace kabar {
namespace asio = boost::asio;
using asio::ip::tcp;

Listener::Listener(ServerContext& context, const Router& router, asio::io_context& accept_context,
                   const tcp::endpoint& endpoint)
    : context_(context), router_(router), acceptor_(accept_context), retry_timer_(accept_context) {
  boost::system::error_code error;
  const std::string where = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) throw ListenError("cannot listen on " + where + ": " + error.message());
  port_ = acceptor_.local_endpoint().port();
}

void Listener::run() { accept_next(); }

void Listener::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  retry_timer_.cancel();
}

void Listener::accept_next() {
  const std::size_t shard = next_shard_;
  next_shard_ = (next_shard_ + 1) % context_.hub.shard_count();
  acceptor_.async_accept(context_.hub.shard_context(shard), [self = shared_from_this(), shard](
                                                                const boost::system::error_code& error,
                                                                tcp::socket socket) {
    if (error == asio::error::operation_aborted) return;  // stopped
    if (error) return self->on_accept_error(error);
    auto session = std::make_shared<HttpSession>(self->context_, self->router_, shard, std::move(socket));
    asio::post(self->context_.hub.shard_context(shard), [session] { session->run(); });
    self->accept_next();
  });
}

// Out of file descriptors and similar: count it, log at most every 10 s, and try again after a pause
// (an immediate retry fails the same way and spins a core while the table stays full).
void Listener::on_accept_error(const boost::system::error_code& error) {
  constexpr auto kRetryPause = std::chrono::milliseconds(100);
  constexpr auto kLogEvery = std::chrono::seconds(10);
  context_.stats.accept_failures.fetch_add(1, std::memory_order_relaxed);
  ++errors_since_log_;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_error_log_ >= kLogEvery) {
    spdlog::warn("accept failed: {} ({} time(s) since the last such line); retrying every {} ms",
                 error.message(), errors_since_log_, kRetryPause.count());
    last_error_log_ = now;
    errors_since_log_ = 0;
  }
  retry_timer_.expires_after(kRetryPause);
  retry_timer_.async_wait([self = shared_from_this()](const boost::system::error_code& waited) {
    if (waited == asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    self->accept_next();
  });
}

}  // namespace kabar
