#include "gateway/pusher/webhook_post.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <memory>

namespace kabar {
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = boost::asio::ip::tcp;

namespace {

// Owns what one request needs until it completes: resolve, connect, write, read.
class Call : public std::enable_shared_from_this<Call> {
 public:
  Call(boost::asio::io_context& context, std::chrono::milliseconds timeout, PostDone done)
      : resolver_(context), stream_(context), timeout_(timeout), done_(std::move(done)) {}

  void start(const WebhookUrl& url, std::string body, const Headers& headers) {
    request_.method(http::verb::post);
    request_.target(url.target);
    request_.version(11);
    request_.set(http::field::host, url.port == "80" ? url.host : url.host + ":" + url.port);
    request_.set(http::field::user_agent, "kabar-webhooks");
    request_.set(http::field::content_type, "application/json");
    for (const auto& [name, value] : headers) request_.set(name, value);
    request_.body() = std::move(body);
    request_.prepare_payload();
    stream_.expires_after(timeout_);
    resolver_.async_resolve(url.host, url.port, [self = shared_from_this()](auto error, auto results) {
      if (error) return self->finish("resolve: " + error.message());
      self->stream_.async_connect(results, [self](auto error, auto) {
        if (error) return self->finish("connect: " + error.message());
        self->write();
      });
    });
  }

 private:
  void write() {
    http::async_write(stream_, request_, [self = shared_from_this()](auto error, std::size_t) {
      if (error) return self->finish("write: " + error.message());
      http::async_read(self->stream_, self->buffer_, self->response_, [self](auto error, std::size_t) {
        if (error) return self->finish("read: " + error.message());
        const unsigned status = self->response_.result_int();
        if (status < 200 || status > 299) return self->finish("HTTP " + std::to_string(status));
        self->finish(std::nullopt);
      });
    });
  }

  void finish(std::optional<std::string> error) {
    boost::system::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    if (auto done = std::move(done_)) done(std::move(error));
  }

  tcp::resolver resolver_;
  beast::tcp_stream stream_;
  std::chrono::milliseconds timeout_;
  PostDone done_;
  http::request<http::string_body> request_;
  http::response<http::string_body> response_;
  beast::flat_buffer buffer_;
};

}  // namespace

std::optional<WebhookUrl> WebhookUrl::parse(const std::string& url) {
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return std::nullopt;
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  WebhookUrl parsed;
  const auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  // userinfo (user:pw@host) is not supported: it would pass for a host or a port (the config schema
  // refuses it first).
  if (authority.find('@') != std::string_view::npos) return std::nullopt;
  if (slash != std::string_view::npos) parsed.target = std::string(rest.substr(slash));
  if (const auto colon = authority.find(':'); colon != std::string_view::npos) {
    parsed.port = std::string(authority.substr(colon + 1));
    authority = authority.substr(0, colon);
  }
  parsed.host = std::string(authority);
  if (parsed.host.empty() || parsed.port.empty()) return std::nullopt;
  return parsed;
}

void post_webhook(boost::asio::io_context& context, const WebhookUrl& url, std::string body, Headers headers,
                  std::chrono::milliseconds timeout, PostDone done) {
  std::make_shared<Call>(context, timeout, std::move(done))->start(url, std::move(body), headers);
}

}  // namespace kabar
