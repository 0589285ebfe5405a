#include "gateway/http/http_session.h"

#include <boost/asio/post.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "bridge/channel.h"
#include "gateway/http/access.h"
#include "gateway/http/sse_session.h"
#include "gateway/http/ws_session.h"
#include "gateway/pusher/pusher_service.h"
#include "gateway/pusher/pusher_session.h"
#include "gateway/web/embedded_web.h"

namespace kabar {
namespace beast = boost::beast;
namespace http = beast::http;

HttpSession::HttpSession(ServerContext& context, std::size_t shard, boost::asio::ip::tcp::socket&& socket)
    : context_(context), shard_(shard), stream_(std::move(socket)) {}

void HttpSession::run() { read_request(); }

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
    boost::system::error_code ignored;
    stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    return;
  }
  if (error) {
    if (error == http::error::header_limit || error == http::error::body_limit) {
      context_.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
      keep_alive_ = false;
      send(error_response(error == http::error::body_limit ? http::status::payload_too_large
                                                           : http::status::request_header_fields_too_large,
                          "too_large", error.message()));
      return;
    }
    if (error != boost::asio::error::operation_aborted && error != boost::asio::error::connection_reset) {
      context_.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
      spdlog::debug("bad HTTP request: {}", error.message());
    }
    return;
  }
  route(parser_->release());
}

void HttpSession::route(Request&& request) {
  keep_alive_ = request.keep_alive();
  auto target = parse_request_target(std::string(request.target()));
  if (!target) {
    context_.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
    send(error_response(http::status::bad_request, "bad_request", "malformed percent-encoding in the URL"));
    return;
  }
  const std::string& path = target->path;

  if (path == "/ws") {
    if (!beast::websocket::is_upgrade(request)) {
      send(error_response(http::status::upgrade_required, "upgrade_required", "/ws is a WebSocket endpoint"));
      return;
    }
    stream_.expires_never();
    auto session = std::make_shared<WsSession>(context_, shard_, std::move(stream_));
    session->run(std::move(request));
    return;
  }
  // The Pusher door (docs/pusher.md): /app/{key} WebSocket and the /apps/{id}/... REST API.
  if (context_.pusher && path.starts_with("/app/")) {
    if (!beast::websocket::is_upgrade(request)) {
      send(error_response(http::status::upgrade_required, "upgrade_required",
                          "/app/{key} is a WebSocket endpoint"));
      return;
    }
    stream_.expires_never();
    auto app = context_.pusher->apps().by_key(std::string_view(path).substr(5));
    auto session = std::make_shared<PusherSession>(context_, shard_, std::move(stream_), std::move(app));
    session->run(std::move(request));
    return;
  }
  if (context_.pusher && RestApi::handles(path)) {
    RestRequest rest{std::string(request.method_string()), path, target->params, std::move(request.body())};
    // The answer may come from a publishing thread (after the broker's PUBACK): back to this shard.
    context_.pusher->rest().handle(std::move(rest), [self = shared_from_this()](RestResponse response) {
      boost::asio::post(self->stream_.get_executor(), [self, response = std::move(response)] {
        self->send(self->json_response(static_cast<http::status>(response.status), response.body));
      });
    });
    return;
  }
  if (request.method() != http::verb::get && request.method() != http::verb::head) {
    send(error_response(http::status::method_not_allowed, "method_not_allowed", "only GET is served here"));
    return;
  }
  if (path == "/sse") {
    start_sse(request, *target);
  } else if (path == "/healthz") {
    send(json_response(http::status::ok, R"({"status":"ok"})"));
  } else if (path == "/readyz") {
    const Readiness ready = context_.readiness();
    const bool ok = ready.store && ready.broker && !context_.shutting_down.load();
    nlohmann::json body = {{"ready", ok}, {"store", ready.store}, {"broker", ready.broker}};
    send(json_response(ok ? http::status::ok : http::status::service_unavailable, body.dump()));
  } else if (path == "/metrics") {
    Response response{http::status::ok, request.version()};
    response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    response.body() = context_.metrics_text();
    send(std::move(response));
  } else if (path == "/api/dead-letters") {
    send(dead_letters(*target));
  } else if (path == "/" || path == "/index.html") {
    Response response{http::status::ok, request.version()};
    response.set(http::field::content_type, "text/html; charset=utf-8");
    response.body() = std::string(embedded_web::find("index.html"));
    send(std::move(response));
  } else {
    send(error_response(http::status::not_found, "not_found", "no such endpoint: " + path));
  }
}

void HttpSession::start_sse(const Request& request, const RequestTarget& target) {
  std::vector<std::string> channels = target.all("channel");
  if (channels.empty()) {
    context_.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
    send(error_response(http::status::bad_request, "bad_request", "give at least one ?channel=NAME"));
    return;
  }
  std::sort(channels.begin(), channels.end());
  channels.erase(std::unique(channels.begin(), channels.end()), channels.end());
  if (channels.size() > context_.limits.max_subscriptions) {
    send(error_response(http::status::bad_request, "too_many_subscriptions",
                        "at most " + std::to_string(context_.limits.max_subscriptions) + " channels per stream"));
    return;
  }
  for (const auto& channel : channels) {
    if (!is_valid_channel_name(channel)) {
      context_.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
      send(error_response(http::status::bad_request, "invalid_channel",
                          "invalid channel name " + nlohmann::json(channel).dump(-1, ' ', false,
                                                                                 nlohmann::json::error_handler_t::replace)));
      return;
    }
  }
  // Who is asking, then whether they may read every channel asked for (docs/authorization.md).
  const FoundToken found = find_token(request, target, context_.allow_query_token);
  if (found.query_refused) {
    send(refusal(http::status::unauthorized, "invalid_token", "query_token_disabled",
                 "?token= is turned off here (auth.query_token): send Authorization: Bearer or the "
                 "kabar_token cookie"));
    return;
  }
  Authentication who = authenticate(context_, found.token, "sse");
  if (!who.ok) {
    send(refusal(http::status::unauthorized, "invalid_token", who.code, who.message));
    return;
  }
  for (const auto& channel : channels) {
    const authz::Decision decision = authorize(context_, who.claims, authz::Action::Read, channel, "sse");
    if (decision.allowed) continue;
    // 403 for every policy refusal, token or not; "reason": "token_required" says a token would help.
    // 401 is kept for tokens that were given and refused.
    send(refusal(http::status::forbidden, "forbidden_channel", decision.code, decision.reason, channel));
    return;
  }
  // The browser's own Last-Event-ID (sent on every automatic reconnect) wins over the query, which is
  // only how a page passes a position it kept itself on its first connect.
  std::string since;
  if (auto header = request.find("Last-Event-ID"); header != request.end()) {
    since = std::string(header->value());
  } else if (auto query = target.first("last_event_id")) {
    since = *query;
  } else if (auto query_since = target.first("since")) {
    since = *query_since;
  }
  stream_.expires_never();
  auto session = std::make_shared<SseSession>(context_, shard_, stream_.release_socket());
  session->set_claims(std::move(who.claims));
  session->start(channels, StartPoint::parse(since));
}

HttpSession::Response HttpSession::dead_letters(const RequestTarget& target) const {
  std::size_t limit = 100;
  if (auto text = target.first("limit")) {
    try {
      limit = std::clamp<std::size_t>(std::stoul(*text), 1, 1000);
    } catch (const std::exception&) {
      return error_response(http::status::bad_request, "bad_request", "limit must be a number");
    }
  }
  nlohmann::json list = nlohmann::json::array();
  for (const auto& letter : context_.store.dead_letters(limit)) {
    list.push_back({{"id", letter.id},
                    {"time_ms", letter.time_ms},
                    {"topic", letter.topic},
                    {"payload", letter.payload},
                    {"reason", letter.reason}});
  }
  return json_response(http::status::ok, list.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

HttpSession::Response HttpSession::json_response(http::status status, const std::string& body) const {
  Response response{status, 11};
  response.set(http::field::content_type, "application/json");
  response.body() = body;
  return response;
}

// An authorization refusal: the error code doors share, the policy's (or the token check's) reason code
// and message, and the channel. 401s carry WWW-Authenticate so HTTP clients know a bearer token helps.
HttpSession::Response HttpSession::refusal(http::status status, const std::string& error,
                                           const std::string& reason, const std::string& message,
                                           const std::string& channel) const {
  nlohmann::json body = {{"error", error}, {"reason", reason}, {"message", message}};
  if (!channel.empty()) body["channel"] = channel;
  Response response =
      json_response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  if (status == http::status::unauthorized) {
    response.set(http::field::www_authenticate,
                 error == "invalid_token" ? R"(Bearer error="invalid_token")" : "Bearer");
  }
  return response;
}

HttpSession::Response HttpSession::error_response(http::status status, const std::string& code,
                                                  const std::string& message) const {
  nlohmann::json body = {{"error", code}, {"message", message}};
  return json_response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void HttpSession::send(Response&& response) {
  response.set(http::field::server, context_.server_name);
  response.keep_alive(keep_alive_);
  response.prepare_payload();
  auto shared = std::make_shared<Response>(std::move(response));
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
