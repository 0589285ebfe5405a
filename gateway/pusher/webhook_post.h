#pragma once
// WebhookPost: one HTTP POST of a webhook body, with a deadline. Plain HTTP (webhook receivers sit next
// to the app, usually behind the same proxy); the body is signed, so it cannot be altered unnoticed.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace kabar {

struct WebhookUrl {
  std::string host;
  std::string port = "80";
  std::string target = "/";

  // "http://host[:port][/path]"; nullopt for anything else.
  static std::optional<WebhookUrl> parse(const std::string& url);
};

using Headers = std::vector<std::pair<std::string, std::string>>;
// error: empty for a 2xx answer, else what went wrong.
using PostDone = std::function<void(std::optional<std::string> error)>;

// Starts the request on `context`; `done` runs there once.
void post_webhook(boost::asio::io_context& context, const WebhookUrl& url, std::string body, Headers headers,
                  std::chrono::milliseconds timeout, PostDone done);

}  // namespace kabar
