#pragma once
// The Pusher door (docs/pusher.md): what unmodified pusher-js, Laravel Echo and Pusher server SDKs talk to.
//   /app/{key}             WebSocket upgrade, handed to a PusherSession (gateway/pusher/pusher_session.h)
//   /apps/{id}/...         the REST API (events, batch events, channel queries), answered by RestApi
//   POST /pusher/auth[/{key}]  kabar's channel authorization for apps without their own (a browser door)
// The protocol itself lives in gateway/pusher; this door only routes HTTP to it.
namespace kabar {

class PusherService;
class Router;
struct ServerContext;

void open_pusher_door(Router& router, ServerContext& context, PusherService& pusher);

}  // namespace kabar
