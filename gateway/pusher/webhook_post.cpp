#include "gateway/pusher/webhook_post.h"

namespace kabar {
namespace http = boost::beast::http;

void post_webhook(boost::asio::io_context& context, const WebhookUrl& url, std::string body, Headers headers,
                  std::chrono::milliseconds timeout, std::shared_ptr<boost::asio::ssl::context> tls,
                  PostDone done) {
  http::request<http::string_body> request;
  request.method(http::verb::post);
  request.set(http::field::user_agent, "kabar-webhooks");
  request.set(http::field::content_type, "application/json");
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = std::move(body);
  OutboundOptions options;
  options.timeout = timeout;
  options.tls = std::move(tls);
  send_request(context, url, std::move(request), std::move(options),
               [done = std::move(done)](std::optional<std::string> error, OutboundResponse response) {
                 if (error) return done(std::move(error));
                 const unsigned status = response.result_int();
                 if (status < 200 || status > 299) return done("HTTP " + std::to_string(status));
                 done(std::nullopt);
               });
}

}  // namespace kabar
