#pragma once
// The WebSocket door (docs/protocol.md "/ws"): a GET /ws with an upgrade from an allowed origin is handed
// to a WsSession, which speaks kabar's own protocol from there on; anything else is refused here.
namespace kabar {

class Router;
struct ServerContext;

void open_ws_door(Router& router, ServerContext& context);

}  // namespace kabar
