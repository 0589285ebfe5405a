#pragma once
// HttpSession: reads requests on one connection and routes them: plain endpoints are answered here;
// /ws and /sse hand the connection over to a WsSession or SseSession.
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <memory>
#include <optional>

#include "gateway/http/request_target.h"
#include "gateway/http/server_context.h"

namespace kabar {

class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  using Response = boost::beast::http::response<boost::beast::http::string_body>;

  HttpSession(ServerContext& context, std::size_t shard, boost::asio::ip::tcp::socket&& socket);
  void run();

 private:
  void read_request();
  void on_read(const boost::system::error_code& error);
  void route(Request&& request);
  void start_sse(const Request& request, const RequestTarget& target);
  void start_ws(Request&& request);
  void start_pusher_socket(Request&& request, std::string_view key);
  void forward_to_rest(Request&& request, const RequestTarget& target);
  void pusher_channel_auth(const Request& request, const RequestTarget& target);
  // Browser origins (http.allowed_origins): false after answering 403 origin_not_allowed.
  bool check_origin(const Request& request, std::string_view door);
  void answer_preflight(const Request& request);
  struct Cors {
    std::string allow_origin;  // empty: no CORS headers
    bool credentials = false;
  };
  Cors cors() const;
  void add_cors(Response& response) const;
  std::string cors_header_lines() const;  // the same answer as raw header lines, for the SSE head
  void note_timeout();
  void send(Response&& response);
  Response json_response(boost::beast::http::status status, const std::string& body) const;
  Response error_response(boost::beast::http::status status, const std::string& code,
                          const std::string& message) const;
  void serve_dead_letters(const Request& request, const RequestTarget& target);
  void serve_demo(const Request& request, const RequestTarget& target);
  void serve_static(const Request& request, const std::string& path);
  void serve_history(const Request& request, const RequestTarget& target);
  Response refusal(boost::beast::http::status status, const std::string& error, const std::string& reason,
                   const std::string& message, const std::string& channel = {}) const;

  ServerContext& context_;
  const std::size_t shard_;
  boost::beast::tcp_stream stream_;
  boost::asio::ip::address address_;  // the peer, for the per-address connection cap and logs
  std::string peer_;
  bool admitted_ = true;       // false: over http.max_connections_per_ip; the request gets 429
  bool served_any_ = false;    // a keep-alive connection waiting for its next request is not slow
  std::string origin_;         // the request's Origin header (CORS answers echo it)
  bool cors_ = false;          // a browser door (/sse, /api/history, /pusher/auth): CORS headers
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  bool keep_alive_ = false;
};

}  // namespace kabar
