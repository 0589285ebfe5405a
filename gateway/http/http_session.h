#pragma once
// HttpSession: one client connection while it speaks plain HTTP. It reads requests (with the limits and
// the timeout that keep slow or oversized clients out), refuses what no door should see, and hands each
// request to the Router; a door answers it, or takes the connection over (/ws, /sse, /app/{key}).
// It is the Exchange the doors see: their one way to answer, to check an origin and to take the socket.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/parser.hpp>
#include <memory>
#include <optional>

#include "gateway/http/router.h"
#include "gateway/http/server_context.h"

namespace kabar {

class HttpSession : public std::enable_shared_from_this<HttpSession>, private Exchange {
 public:
  HttpSession(ServerContext& context, const Router& router, std::size_t shard,
              boost::asio::ip::tcp::socket&& socket);
  void run();

 private:
  void read_request();
  void on_read(const boost::system::error_code& error);
  void on_request(HttpRequest&& request);
  void note_timeout();
  void find_client(const HttpRequest& request);

  // Exchange (router.h)
  const RequestTarget& target() const override { return target_; }
  const std::string& peer() const override { return peer_; }
  std::size_t shard() const override { return shard_; }
  void send(HttpResponse&& response) override;
  std::function<void(HttpResponse&&)> reply_later() override;
  bool check_origin(std::string_view door) override;
  void allow_cross_origin() override { cors_ = true; }
  std::string cors_header_lines() const override;
  boost::beast::tcp_stream release_stream() override;
  void hand_over(const std::shared_ptr<const void>& owner) override;

  ServerContext& context_;
  const Router& router_;
  const std::size_t shard_;
  boost::beast::tcp_stream stream_;
  boost::asio::ip::address address_;  // the client, for the per-address connection cap and logs
  std::string peer_;
  boost::asio::ip::address proxy_;  // the peer, when it is a trusted proxy (http.trusted_proxies)
  bool from_proxy_ = false;         // ...and then the client is known from the first request's head
  bool counted_ = false;            // the connection is counted for address_ (ConnectionLimiter)
  bool admitted_ = true;     // false: over http.max_connections_per_ip; the request gets 429
  bool served_any_ = false;  // a keep-alive connection waiting for its next request is not slow
  RequestTarget target_;     // of the request being answered
  std::string origin_;       // its Origin header (CORS answers echo it)
  bool cors_ = false;        // a browser door's answer: CORS headers
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  bool keep_alive_ = false;
};

}  // namespace kabar
