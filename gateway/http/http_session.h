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
  void send(Response&& response);
  Response json_response(boost::beast::http::status status, const std::string& body) const;
  Response error_response(boost::beast::http::status status, const std::string& code,
                          const std::string& message) const;
  Response dead_letters(const RequestTarget& target) const;
  Response refusal(boost::beast::http::status status, const std::string& error, const std::string& reason,
                   const std::string& message, const std::string& channel = {}) const;

  ServerContext& context_;
  const std::size_t shard_;
  boost::beast::tcp_stream stream_;
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  bool keep_alive_ = false;
};

}  // namespace kabar
