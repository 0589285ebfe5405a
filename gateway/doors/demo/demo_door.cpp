// The HTTP side of `kabar demo` (demo_door.h).
#include "gateway/doors/demo/demo_door.h"

#include "gateway/demo/demo_service.h"
#include "gateway/http/access.h"
#include "gateway/http/refusal.h"
#include "gateway/http/router.h"

namespace kabar {
namespace {

void answer_demo(ServerContext& context, DemoService* service, const HttpRequest& request,
                 Exchange& exchange) {
  auto refuse = [&exchange](unsigned status, const std::string& code, const std::string& message) {
    exchange.send(refused_response(Refused::plain(status, code, message)));
  };
  if (!service) {
    refuse(
        403, "demo_disabled",
        "development logins and sample data are served by `kabar demo` only: it runs on the loopback with "
        "its "
        "own development key. This gateway runs `kabar serve`; get tokens from your backend (docs/demo.md)");
    return;
  }
  DemoRequest demo;
  demo.method = std::string(request.method_string());
  demo.path = exchange.target().path;
  demo.body = request.body();
  // Only a bearer token acts in someone's name: a cookie would let any page the user visits approve
  // documents for them (CSRF).
  if (const std::string token = authorization_bearer(request); !token.empty()) {
    Authentication who = authenticate(context, token, "demo");
    if (!who.ok) {
      refuse(401, "invalid_token", who.code + ": " + who.message);
      return;
    }
    demo.who = std::move(who.claims);
  }
  if (auto socket = request.find("X-Socket-ID"); socket != request.end())
    demo.socket_id = std::string(socket->value()).substr(0, 64);
  // Answered on the demo's thread, sent from this connection's.
  service->handle(std::move(demo), [reply = exchange.reply_later()](DemoAnswer answer) {
    reply(json_response(static_cast<unsigned>(answer.status), std::move(answer.body)));
  });
}

}  // namespace

void open_demo_door(Router& router, ServerContext& context, DemoService* demo) {
  router.prefix("/demo/", RouteRules::any_method(),
                [&context, demo](HttpRequest&& request, Exchange& exchange) {
                  answer_demo(context, demo, request, exchange);
                });
}

}  // namespace kabar
