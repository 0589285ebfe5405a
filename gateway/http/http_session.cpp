#include "gateway/http/http_session.h"

#include <boost/asio/post.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/channel.h"
#include "gateway/http/access.h"
#include "gateway/http/dead_letters_view.h"
#include "gateway/http/demo_door.h"
#include "gateway/http/history_view.h"
#include "gateway/http/sse_request.h"
#include "gateway/http/sse_session.h"
#include "gateway/http/ws_session.h"
#include "gateway/pusher/channel_auth_endpoint.h"
#include "gateway/pusher/pusher_service.h"
#include "gateway/pusher/pusher_session.h"
#include "gateway/http/static_files.h"

namespace kabar {
namespace beast = boost::beast;
namespace http = beast::http;

HttpSession::HttpSession(ServerContext& context, std::size_t shard, boost::asio::ip::tcp::socket&& socket)
    : context_(context), shard_(shard), stream_(std::move(socket)) {}

namespace {
constexpr std::string_view kPusherAuthPath = "/pusher/auth";
bool is_pusher_auth(std::string_view path) {
  return path == kPusherAuthPath || (path.starts_with(kPusherAuthPath) && path.size() > kPusherAuthPath.size() &&
                                     path[kPusherAuthPath.size()] == '/');
}
}  // namespace

void HttpSession::run() {
  boost::system::error_code error;
  const auto endpoint = stream_.socket().remote_endpoint(error);
  if (!error) {
    address_ = endpoint.address();
    peer_ = address_.to_string();
  }
  // Counted from here until the session holding the socket ends (see ConnectionLimiter). A refused
  // connection still has its request read, so the client sees a 429 rather than a reset.
  if (context_.connections && !error) admitted_ = context_.connections->admit(address_, shared_from_this());
  read_request();
}

void HttpSession::note_timeout() {
  // Idle keep-alive connections time out by design; a request that does not arrive in time is slowloris.
  if (served_any_ && !parser_->got_some()) return;
  note_refusal(context_, Refusal::RequestTimeout, "http", peer_,
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
  cors_ = false;
  served_any_ = true;
  if (!admitted_) {
    keep_alive_ = false;
    note_refusal(context_, Refusal::TooManyConnections, "http", peer_,
                 "already " + std::to_string(context_.connections->limit()) + " open connections");
    send(error_response(http::status::too_many_requests, "too_many_connections",
                        "too many open connections from your address"));
    return;
  }
  auto target = parse_request_target(std::string(request.target()));
  if (!target) {
    context_.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
    send(error_response(http::status::bad_request, "bad_request", "malformed percent-encoding in the URL"));
    return;
  }
  const std::string& path = target->path;
  origin_.clear();
  if (auto origin = request.find(http::field::origin); origin != request.end()) origin_ = std::string(origin->value());

  if (path == "/ws") {
    if (!beast::websocket::is_upgrade(request)) {
      send(error_response(http::status::upgrade_required, "upgrade_required", "/ws is a WebSocket endpoint"));
      return;
    }
    if (check_origin(request, "ws")) start_ws(std::move(request));
    return;
  }
  // The Pusher door (docs/pusher.md): /app/{key} WebSocket and the /apps/{id}/... REST API.
  if (context_.pusher && path.starts_with("/app/")) {
    if (!beast::websocket::is_upgrade(request)) {
      send(error_response(http::status::upgrade_required, "upgrade_required",
                          "/app/{key} is a WebSocket endpoint"));
      return;
    }
    start_pusher_socket(std::move(request), std::string_view(path).substr(5));
    return;
  }
  if (context_.pusher && RestApi::handles(path)) {
    forward_to_rest(std::move(request), *target);
    return;
  }
  const bool browser_door =
      path == "/sse" || path == kHistoryPath || (context_.pusher && is_pusher_auth(path));
  cors_ = browser_door;  // every answer of these doors, errors included, is readable by allowed pages
  if (browser_door && request.method() == http::verb::options) {
    answer_preflight(request);
    return;
  }
  if (context_.pusher && is_pusher_auth(path)) {
    if (request.method() != http::verb::post) {
      send(error_response(http::status::method_not_allowed, "method_not_allowed", "POST the socket_id and channel_name"));
      return;
    }
    if (check_origin(request, "pusher-auth")) pusher_channel_auth(request, *target);
    return;
  }
  if (path.starts_with("/demo/")) {
    serve_demo(request, *target);
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
    serve_dead_letters(request, *target);
  } else if (path == kHistoryPath) {
    if (check_origin(request, "history")) serve_history(request, *target);
  } else {
    serve_static(request, path);
  }
}

// /demo/... of `kabar demo` (gateway/http/demo_door.h): answered on the demo's thread, sent from here.
void HttpSession::serve_demo(const Request& request, const RequestTarget& target) {
  answer_demo(context_, request, target, [self = shared_from_this()](DemoAnswer answer) {
    boost::asio::post(self->stream_.get_executor(), [self, answer = std::move(answer)] {
      self->send(self->json_response(static_cast<http::status>(answer.status), answer.body));
    });
  });
}

// The site and the client libraries (gateway/http/static_files.h). Revalidated on every load (no-cache
// with an ETag): a new kabar binary brings new pages, and a browser must not keep the old ones.
void HttpSession::serve_static(const Request& request, const std::string& path) {
  const StaticAnswer answer = find_static_file(path);
  if (answer.kind == StaticAnswer::Kind::Redirect) {
    Response response{http::status::permanent_redirect, 11};
    response.set(http::field::location, answer.location);
    send(std::move(response));
    return;
  }
  if (answer.kind == StaticAnswer::Kind::NotFound) {
    send(error_response(http::status::not_found, "not_found", "no such endpoint or page: " + path));
    return;
  }
  Response response{http::status::ok, 11};
  response.set(http::field::content_type, std::string(answer.file.content_type));
  response.set(http::field::cache_control, "no-cache");
  response.set(http::field::etag, answer.file.etag);
  response.set("X-Content-Type-Options", "nosniff");
  if (auto match = request.find(http::field::if_none_match);
      match != request.end() && match->value().find(answer.file.etag) != beast::string_view::npos) {
    response.result(http::status::not_modified);
  } else if (request.method() != http::verb::head) {
    response.body() = std::string(answer.file.body);
  }
  send(std::move(response));
}

void HttpSession::start_sse(const Request& request, const RequestTarget& target) {
  if (!check_origin(request, "sse")) return;
  std::optional<std::string_view> last_event_id;
  if (auto header = request.find("Last-Event-ID"); header != request.end()) last_event_id = std::string_view(header->value().data(), header->value().size());
  auto parsed = parse_sse_request(target, last_event_id, context_.limits.max_subscriptions);
  if (auto* problem = std::get_if<SseRequestError>(&parsed)) {
    context_.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
    send(error_response(http::status::bad_request, problem->code, problem->message));
    return;
  }
  const auto& [channels, since] = std::get<SseRequest>(parsed);
  // Who is asking, then whether they may read every channel asked for (docs/authorization.md).
  ChannelReadAccess access = authorize_reading(context_, request, target, channels, "sse");
  if (!access.ok) {
    send(refusal(static_cast<http::status>(access.status), access.error, access.reason, access.message,
                 access.channel));
    return;
  }
  stream_.expires_never();
  auto session = std::make_shared<SseSession>(context_, shard_, stream_.release_socket());
  if (context_.connections) context_.connections->transfer(address_, this, session);
  session->set_claims(std::move(access.claims));
  session->start(channels, StartPoint::parse(since), cors_header_lines());
}

void HttpSession::start_ws(Request&& request) {
  stream_.expires_never();
  auto session = std::make_shared<WsSession>(context_, shard_, std::move(stream_));
  if (context_.connections) context_.connections->transfer(address_, this, session);
  session->run(std::move(request));
}

void HttpSession::start_pusher_socket(Request&& request, std::string_view key) {
  stream_.expires_never();
  auto app = context_.pusher->apps().by_key(key);
  auto session = std::make_shared<PusherSession>(context_, shard_, std::move(stream_), std::move(app));
  if (context_.connections) context_.connections->transfer(address_, this, session);
  session->run(std::move(request));
}

void HttpSession::forward_to_rest(Request&& request, const RequestTarget& target) {
  RestRequest rest{std::string(request.method_string()), target.path, target.params, std::move(request.body()), {}};
  // Only the Authorization header carries a publisher token here: a cookie would let any page the
  // publisher visits publish in their name (CSRF), and a URL ends up in logs.
  rest.bearer_token = authorization_bearer(request);
  // The answer may come from a publishing thread (after the broker's PUBACK): back to this shard.
  context_.pusher->rest().handle(std::move(rest), [self = shared_from_this()](RestResponse response) {
    boost::asio::post(self->stream_.get_executor(), [self, response = std::move(response)] {
      self->send(self->json_response(static_cast<http::status>(response.status), response.body));
    });
  });
}

// POST /pusher/auth[/{key}] (gateway/pusher/channel_auth_endpoint.h). The app is the one named by key, or
// the only one configured.
void HttpSession::pusher_channel_auth(const Request& request, const RequestTarget& target) {
  const std::string_view rest = std::string_view(target.path).substr(kPusherAuthPath.size());
  std::shared_ptr<PusherApp> app;
  if (rest.size() > 1) {
    app = context_.pusher->apps().by_key(rest.substr(1));
  } else if (context_.pusher->apps().all().size() == 1) {
    app = context_.pusher->apps().all().front();
  }
  Response response;
  const FoundToken found = find_token(context_, request, target, /*allow_query=*/false);
  if (!app) {
    response = error_response(http::status::not_found, "unknown_app",
                              "no such app: POST to /pusher/auth/{app key} (or /pusher/auth with one app)");
  } else if (found.query_refused) {
    response = refusal(http::status::unauthorized, "invalid_token", "query_token_disabled",
                       "send the token as Authorization: Bearer or the kabar_token cookie, not in the URL");
  } else {
    const ChannelAuthAnswer answer = answer_channel_auth(context_, *app, found.token, request.body());
    response = json_response(static_cast<http::status>(answer.status), answer.body);
    if (answer.status == 401) response.set(http::field::www_authenticate, R"(Bearer error="invalid_token")");
  }
  send(std::move(response));
}

bool HttpSession::check_origin(const Request&, std::string_view door) {
  if (origin_allowed(context_.allowed_origins, origin_)) return true;
  note_refusal(context_, Refusal::OriginNotAllowed, door, peer_, "origin " + origin_.substr(0, 200));
  keep_alive_ = false;
  send(error_response(http::status::forbidden, "origin_not_allowed",
                      "pages of this origin may not use " + std::string(door) + " here (http.allowed_origins)"));
  return false;
}

// CORS preflight of /sse (fetch-based SSE with Authorization) and /pusher/auth. The allowed request
// headers are named: "*" in Access-Control-Allow-Headers does not cover Authorization.
void HttpSession::answer_preflight(const Request& request) {
  if (!check_origin(request, "preflight")) return;
  Response response{http::status::no_content, 11};
  response.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
  response.set(http::field::access_control_allow_headers,
               "Authorization, Content-Type, Last-Event-ID, X-Requested-With, X-CSRF-TOKEN, X-Socket-ID");
  response.set(http::field::access_control_max_age, "600");
  send(std::move(response));
}

// A named origin gets itself back with credentials allowed (cookies cross-site); with "*" every origin
// may read, but without credentials: echoing any origin with credentials would let every site read a
// user's answers. One decision for plain answers and for the SSE stream's own head.
HttpSession::Cors HttpSession::cors() const {
  const auto& allowed = context_.allowed_origins;
  if (origin_.empty() || !origin_matches(allowed, origin_)) return {};  // a refused origin learns nothing
  if (std::find(allowed.begin(), allowed.end(), "*") != allowed.end()) return {"*", false};
  return {origin_, true};
}

void HttpSession::add_cors(Response& response) const {
  const Cors answer = cors();
  if (answer.allow_origin.empty()) return;
  response.set(http::field::access_control_allow_origin, answer.allow_origin);
  if (!answer.credentials) return;
  response.set(http::field::access_control_allow_credentials, "true");
  response.set(http::field::vary, "Origin");
}

std::string HttpSession::cors_header_lines() const {
  const Cors answer = cors();
  if (answer.allow_origin.empty()) return {};
  std::string lines = "Access-Control-Allow-Origin: " + answer.allow_origin + "\r\n";
  if (answer.credentials) lines += "Access-Control-Allow-Credentials: true\r\nVary: Origin\r\n";
  return lines;
}

// GET /api/dead-letters (gateway/http/dead_letters_view.h): read on a replay thread, answered here.
void HttpSession::serve_dead_letters(const Request& request, const RequestTarget& target) {
  answer_dead_letters(context_, request, target, [self = shared_from_this()](DeadLetterAnswer answer) {
    boost::asio::post(self->stream_.get_executor(), [self, answer = std::move(answer)] {
      Response response = self->json_response(static_cast<http::status>(answer.status), answer.body);
      if (!answer.www_authenticate.empty()) response.set(http::field::www_authenticate, answer.www_authenticate);
      self->send(std::move(response));
    });
  });
}

// GET /api/history (gateway/http/history_view.h): checked here, read on a replay thread, answered here.
void HttpSession::serve_history(const Request& request, const RequestTarget& target) {
  answer_history(context_, request, target, [self = shared_from_this()](HistoryAnswer answer) {
    boost::asio::post(self->stream_.get_executor(), [self, answer = std::move(answer)] {
      Response response = self->json_response(static_cast<http::status>(answer.status), answer.body);
      if (!answer.www_authenticate.empty())
        response.set(http::field::www_authenticate, answer.www_authenticate);
      self->send(std::move(response));
    });
  });
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
  Response response = json_response(status, refusal_body(error, reason, message, channel));
  if (status == http::status::unauthorized)
    response.set(http::field::www_authenticate, www_authenticate_for(error));
  return response;
}

HttpSession::Response HttpSession::error_response(http::status status, const std::string& code,
                                                  const std::string& message) const {
  nlohmann::json body = {{"error", code}, {"message", message}};
  return json_response(status, body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void HttpSession::send(Response&& response) {
  response.set(http::field::server, context_.server_name);
  if (cors_) add_cors(response);
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
