// The WebSocket door: the /ws upgrade (ws_door.h).
#include "gateway/doors/ws/ws_door.h"

#include <boost/beast/websocket/rfc6455.hpp>

#include "gateway/http/refusal.h"
#include "gateway/http/router.h"
#include "gateway/http/server_context.h"
#include "gateway/http/ws_session.h"

namespace kabar {

void open_ws_door(Router& router, ServerContext& context) {
  // Any method: a request that is not an upgrade learns what /ws is rather than a bare 405.
  router.exact("/ws", RouteRules::any_method(), [&context](HttpRequest&& request, Exchange& exchange) {
    if (!boost::beast::websocket::is_upgrade(request)) {
      exchange.send(refused_response(Refused::plain(426, "upgrade_required", "/ws is a WebSocket endpoint")));
      return;
    }
    if (!exchange.check_origin("ws")) return;
    auto session = std::make_shared<WsSession>(context, exchange.shard(), exchange.release_stream());
    exchange.hand_over(session);
    session->run(std::move(request));
  });
}

}  // namespace kabar
