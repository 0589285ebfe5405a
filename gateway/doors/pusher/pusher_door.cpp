// The Pusher door: /app/{key}, /apps/{id}/... and /pusher/auth (pusher_door.h).
#include "gateway/doors/pusher/pusher_door.h"

#include <boost/beast/websocket/rfc6455.hpp>

#include "gateway/http/access.h"
#include "gateway/http/refusal.h"
#include "gateway/http/router.h"
#include "gateway/http/server_context.h"
#include "gateway/pusher/channel_auth_endpoint.h"
#include "gateway/pusher/pusher_service.h"
#include "gateway/pusher/pusher_session.h"

namespace kabar {
namespace http = boost::beast::http;
namespace {

constexpr std::string_view kSocketPrefix = "/app/";
constexpr std::string_view kAuthPath = "/pusher/auth";

// An unknown key is still upgraded: Pusher clients expect to be told 4001 on the socket, not a 404.
void start_socket(ServerContext& context, PusherService& pusher, HttpRequest&& request, Exchange& exchange) {
  if (!boost::beast::websocket::is_upgrade(request)) {
    exchange.send(
        refused_response(Refused::plain(426, "upgrade_required", "/app/{key} is a WebSocket endpoint")));
    return;
  }
  auto app = pusher.apps().by_key(std::string_view(exchange.target().path).substr(kSocketPrefix.size()));
  auto session = std::make_shared<PusherSession>(context, pusher, exchange.shard(), exchange.release_stream(),
                                                 std::move(app));
  exchange.hand_over(session);
  session->run(std::move(request));
}

void forward_to_rest(PusherService& pusher, HttpRequest&& request, Exchange& exchange) {
  const RequestTarget& target = exchange.target();
  RestRequest rest{
      std::string(request.method_string()), target.path, target.params, std::move(request.body()), {}};
  // Only the Authorization header carries a publisher token here: a cookie would let any page the
  // publisher visits publish in their name (CSRF), and a URL ends up in logs.
  rest.bearer_token = authorization_bearer(request);
  // The answer may come from a publishing thread (after the broker's PUBACK).
  pusher.rest().handle(std::move(rest), [reply = exchange.reply_later()](RestResponse response) {
    reply(json_response(static_cast<unsigned>(response.status), std::move(response.body)));
  });
}

// POST /pusher/auth[/{key}] (gateway/pusher/channel_auth_endpoint.h). The app is the one named by key, or
// the only one configured.
void channel_auth(ServerContext& context, PusherService& pusher, const HttpRequest& request,
                  Exchange& exchange) {
  if (!exchange.check_origin("pusher-auth")) return;
  const std::string_view rest = std::string_view(exchange.target().path).substr(kAuthPath.size());
  std::shared_ptr<PusherApp> app;
  if (rest.size() > 1) {
    app = pusher.apps().by_key(rest.substr(1));
  } else if (pusher.apps().all().size() == 1) {
    app = pusher.apps().all().front();
  }
  const FoundToken found = find_token(context, request, exchange.target(), /*allow_query=*/false);
  if (!app) {
    exchange.send(refused_response(Refused::plain(
        404, "unknown_app", "no such app: POST to /pusher/auth/{app key} (or /pusher/auth with one app)")));
  } else if (found.query_refused) {
    exchange.send(refused_response(Refused::authorization(
        401, "invalid_token", "query_token_disabled",
        "send the token as Authorization: Bearer or the kabar_token cookie, not in the URL")));
  } else {
    const ChannelAuthAnswer answer = answer_channel_auth(context, *app, found.token, request.body());
    HttpResponse response = json_response(static_cast<unsigned>(answer.status), answer.body);
    if (answer.status == 401) response.set(http::field::www_authenticate, R"(Bearer error="invalid_token")");
    exchange.send(std::move(response));
  }
}

}  // namespace

void open_pusher_door(Router& router, ServerContext& context, PusherService& pusher) {
  router.prefix(std::string(kSocketPrefix), RouteRules::any_method(),
                [&context, &pusher](HttpRequest&& request, Exchange& exchange) {
                  start_socket(context, pusher, std::move(request), exchange);
                });
  router.prefix(std::string(RestApi::kPathPrefix), RouteRules::any_method(),
                [&pusher](HttpRequest&& request, Exchange& exchange) {
                  forward_to_rest(pusher, std::move(request), exchange);
                });
  RouteRules auth{{http::verb::post}, "POST the socket_id and channel_name", /*browser=*/true};
  auto answer = [&context, &pusher](HttpRequest&& request, Exchange& exchange) {
    channel_auth(context, pusher, request, exchange);
  };
  router.exact(std::string(kAuthPath), auth, answer);
  router.prefix(std::string(kAuthPath) + "/", auth, answer);
}

}  // namespace kabar
