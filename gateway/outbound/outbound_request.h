#pragma once
// OutboundRequest: one HTTP or HTTPS request from kabar to another server, with a deadline, started on an
// io_context and answered there once. For https the server's certificate is verified (chain and host
// name) against the system's CAs, or against a CA file the operator names; SNI is sent for host names.
// A failure says which step failed: "resolve: ...", "connect: ...", "TLS handshake: certificate verify
// failed ...", "HTTP 503".
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace kabar {

struct OutboundUrl {
  bool tls = false;  // https
  std::string host;
  std::string port = "80";
  std::string target = "/";

  // "http://host[:port][/path]" or "https://host[:port][/path]" (IPv6 hosts in brackets); nullopt for
  // anything else, userinfo (user:pw@host) included: it would pass for a host or a port.
  static std::optional<OutboundUrl> parse(const std::string& url);
  // The Host header: host, with the port unless it is the scheme's default.
  std::string host_header() const;
  // scheme://host:port/path, for logs (the query is left out: receivers are often guarded by a token in it).
  std::string loggable() const;
};

// The TLS settings of https requests: peers verified against `ca_file` (PEM, one or more certificates),
// or the system's CAs when it is empty. Throws std::runtime_error when the file cannot be used. Made
// once per destination and shared by its requests.
std::shared_ptr<boost::asio::ssl::context> make_tls_context(const std::string& ca_file);

using OutboundResponse = boost::beast::http::response<boost::beast::http::string_body>;
// error: empty when a response arrived (any status), else what went wrong.
using OutboundDone = std::function<void(std::optional<std::string> error, OutboundResponse response)>;

struct OutboundOptions {
  std::chrono::milliseconds timeout{10000};      // the whole request: resolve, connect, TLS, write, read
  std::size_t max_response_bytes = 1024 * 1024;  // a larger body fails the request
  std::shared_ptr<boost::asio::ssl::context> tls;  // for https; null: make_tls_context("") per request
};

// Sends `request` (its Host, target and version are set from `url`); `done` runs on `context` once.
void send_request(boost::asio::io_context& context, const OutboundUrl& url,
                  boost::beast::http::request<boost::beast::http::string_body> request, OutboundOptions options,
                  OutboundDone done);

}  // namespace kabar
