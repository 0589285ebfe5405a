#pragma once
// WebhookPost: one POST of a webhook body, with a deadline, over http:// or https:// (the receiver's
// certificate verified against the system's CAs or the webhook's ca_file: gateway/outbound). The body is
// signed (X-Pusher-Signature), so it cannot be altered unnoticed even over plain HTTP.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gateway/outbound/outbound_request.h"

namespace kabar {

// "http://host[:port][/path]" or "https://...": OutboundUrl::parse.
using WebhookUrl = OutboundUrl;

using Headers = std::vector<std::pair<std::string, std::string>>;
// error: empty for a 2xx answer, else what went wrong ("HTTP 500", "TLS handshake with ...: ...").
using PostDone = std::function<void(std::optional<std::string> error)>;

// Starts the request on `context`; `done` runs there once. `tls`: for https URLs (null: the system's CAs).
void post_webhook(boost::asio::io_context& context, const WebhookUrl& url, std::string body, Headers headers,
                  std::chrono::milliseconds timeout, std::shared_ptr<boost::asio::ssl::context> tls,
                  PostDone done);

}  // namespace kabar
