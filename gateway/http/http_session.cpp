#include "gateway/http/http_session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/post.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/range/iterator_range.hpp>

#include "gateway/http/cors.h"
#include "gateway/http/refusal.h"

namespace kabar {
namespace beast = boost::beast;
namespace http = beast::http;

HttpSession::HttpSession(ServerContext& context, const Router& router, std::size_t shard,
                         boost::asio::ip::tcp::socket&& socket)
    : context_(context), router_(router), shard_(shard), stream_(std::move(socket)) {}

void HttpSession::run() {
  boost::system::error_code error;
  const auto endpoint = stream_.socket().remote_endpoint(error);
  if (!error) {
    address_ = endpoint.address();
    peer_ = address_.to_string();
  }
  // Counted from here until the session holding the socket ends (see ConnectionLimiter). A refused
  // connection still has its request read, so the client sees a 429 rather than a reset. A trusted
  // proxy's connection is counted for the client its first request names (find_client).
  from_proxy_ = !error && context_.trusted_proxies.contains(address_);
  if (from_proxy_) {
    proxy_ = address_;
  } else if (context_.connections && !error) {
    admitted_ = context_.connections->admit(address_, shared_from_this());
    counted_ = true;
  }
  read_request();
}

// Behind a trusted proxy: the client is X-Forwarded-For's right-most untrusted address. The connection is
// counted for the client of its first request; a proxy that reuses its connection for other clients'
// requests (nginx with upstream keepalive) only changes whom the logs name.
void HttpSession::find_client(const HttpRequest& request) {
  std::vector<std::string_view> forwarded;
  for (const auto& field : boost::make_iterator_range(request.equal_range("X-Forwarded-For")))
    forwarded.emplace_back(field.value().data(), field.value().size());
  const auto client = context_.trusted_proxies.client_of(proxy_, forwarded);
  peer_ = client.to_string();
  if (counted_) return;
  address_ = client;
  counted_ = true;
  if (context_.connections) admitted_ = context_.connections->admit(address_, shared_from_this());
}

void HttpSession::note_timeout() {
  // Idle keep-alive connections time out by design; a request that does not arrive in time is slowloris.
  if (served_any_ && !parser_->got_some()) return;
  note_refusal(
      context_, Refusal::RequestTimeout, "http", peer_,
      "request not complete within " + std::to_string(context_.limits.request_timeout.count()) + " ms");
}

void HttpSession::read_request() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(context_.limits.max_header_bytes));
  parser_->body_limit(context_.limits.max_message_bytes);
  // A client that is slow to send its request head is cut off (slowloris).
  stream_.expires_after(context_.limits.request_timeout);
  http::async_read(stream_, buffer_, *parser_,
                   [self = shared_from_this()](const boost::system::error_code& error, std::size_t) {
                     self->on_read(error);
                   });
}

void HttpSession::on_read(const boost::system::error_code& error) {
  if (error == http::error::end_of_stream || error == beast::error::timeout) {
    if (error == beast::error::timeout) note_timeout();
    boost::system::error_code ignored;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    return;
  }
  if (error) {
    if (error == http::error::header_limit || error == http::error::body_limit) {
      context_.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
      const bool body = error == http::error::body_limit;
      note_refusal(context_, body ? Refusal::BodyTooLarge : Refusal::HeaderTooLarge, "http", peer_,
                   body ? "body over " + std::to_string(context_.limits.max_message_bytes) + " bytes"
                        : "head over " + std::to_string(context_.limits.max_header_bytes) + " bytes");
      keep_alive_ = false;
      send(refused_response(Refused::plain(body ? 413 : 431, "too_large", error.message())));
      return;
    }
    if (error != boost::asio::error::operation_aborted && error != boost::asio::error::connection_reset) {
      context_.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("bad HTTP request: {}", error.message());
    }
    return;
  }
  on_request(parser_->release());
}

// What no door should see is refused here; everything else is the router's.
void HttpSession::on_request(HttpRequest&& request) {
  keep_alive_ = request.keep_alive();
  cors_ = false;
  served_any_ = true;
  if (from_proxy_) find_client(request);
  if (!admitted_) {
    keep_alive_ = false;
    note_refusal(context_, Refusal::TooManyConnections, "http", peer_,
                 "already " + std::to_string(context_.connections->limit()) + " open connections");
    send(refused_response(
        Refused::plain(429, "too_many_connections", "too many open connections from your address")));
    return;
  }
  auto target = parse_request_target(std::string(request.target()));
  if (!target) {
    context_.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
    send(refused_response(Refused::plain(400, "bad_request", "malformed percent-encoding in the URL")));
    return;
  }
  target_ = std::move(*target);
  origin_.clear();
  if (auto origin = request.find(http::field::origin); origin != request.end())
    origin_ = std::string(origin->value());
  router_.dispatch(std::move(request), *this);
}

bool HttpSession::check_origin(std::string_view door) {
  if (origin_allowed(context_.allowed_origins, origin_)) return true;
  note_refusal(context_, Refusal::OriginNotAllowed, door, peer_, "origin " + origin_.substr(0, 200));
  keep_alive_ = false;
  send(refused_response(Refused::plain(
      403, "origin_not_allowed",
      "pages of this origin may not use " + std::string(door) + " here (http.allowed_origins)")));
  return false;
}

std::string HttpSession::cors_header_lines() const {
  return kabar::cors_header_lines(cors_answer(context_.allowed_origins, origin_));
}

boost::beast::tcp_stream HttpSession::release_stream() {
  stream_.expires_never();  // the new owner keeps its own time
  return std::move(stream_);
}

void HttpSession::hand_over(const std::shared_ptr<const void>& owner) {
  if (context_.connections) context_.connections->transfer(address_, this, owner);
}

std::function<void(HttpResponse&&)> HttpSession::reply_later() {
  return [self = shared_from_this()](HttpResponse&& response) {
    boost::asio::post(self->stream_.get_executor(),
                      [self, response = std::move(response)]() mutable { self->send(std::move(response)); });
  };
}

void HttpSession::send(HttpResponse&& response) {
  response.set(http::field::server, context_.server_name);
  if (cors_) add_cors_headers(response, cors_answer(context_.allowed_origins, origin_));
  response.keep_alive(keep_alive_);
  response.prepare_payload();
  auto shared = std::make_shared<HttpResponse>(std::move(response));
  stream_.expires_after(context_.limits.request_timeout);
  http::async_write(stream_, *shared,
                    [self = shared_from_this(), shared](const boost::system::error_code& error, std::size_t) {
                      if (error || !self->keep_alive_) {
                        boost::system::error_code ignored;
                        self->stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
                        return;
                      }
                      self->read_request();
                    });
}

}  // namespace kabar
