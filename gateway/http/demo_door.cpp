#include "gateway/http/demo_door.h"

#include <nlohmann/json.hpp>

#include "gateway/http/access.h"

namespace kabar {
namespace http = boost::beast::http;

void answer_demo(ServerContext& context, const http::request<http::string_body>& request,
                 const RequestTarget& target, std::function<void(DemoAnswer)> done) {
  auto refuse = [&done](int status, const std::string& code, const std::string& message) {
    done(DemoAnswer{status, nlohmann::json{{"error", code}, {"message", message}}.dump()});
  };
  if (!context.demo) {
    refuse(403, "demo_disabled",
           "development logins and sample data are served by `kabar demo` only: it runs on the loopback with its "
           "own development key. This gateway runs `kabar serve`; get tokens from your backend (docs/demo.md)");
    return;
  }
  DemoRequest demo;
  demo.method = std::string(request.method_string());
  demo.path = target.path;
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
  context.demo->handle(std::move(demo), std::move(done));
}

}  // namespace kabar
