// The operators' door: health, readiness, metrics and dead letters (ops_door.h).
#include "gateway/doors/ops/ops_door.h"

#include <memory>
#include <nlohmann/json.hpp>

#include "gateway/doors/ops/dead_letters_view.h"
#include "gateway/http/refusal.h"
#include "gateway/http/router.h"

namespace kabar {
namespace http = boost::beast::http;

namespace {

void answer_readiness(const OpsDoor& door, Exchange& exchange) {
  const Readiness ready = door.readiness();
  const bool ok = ready.store && ready.broker && !door.shutting_down->load();
  nlohmann::json body = {{"ready", ok}, {"store", ready.store}, {"broker", ready.broker}};
  exchange.send(json_response(ok ? 200 : 503, body.dump()));
}

void answer_metrics(const OpsDoor& door, const HttpRequest& request, Exchange& exchange) {
  HttpResponse response{http::status::ok, request.version()};
  response.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  response.body() = door.metrics_text();
  exchange.send(std::move(response));
}

// Read on a replay thread (dead_letters_view.h), answered from the connection's own thread.
void serve_dead_letters(const OpsDoor& door, const HttpRequest& request, Exchange& exchange) {
  answer_dead_letters(*door.dead_letters, request, exchange.target(),
                      [reply = exchange.reply_later()](DeadLetterAnswer answer) {
                        HttpResponse response = json_response(answer.status, std::move(answer.body));
                        if (!answer.www_authenticate.empty())
                          response.set(http::field::www_authenticate, answer.www_authenticate);
                        reply(std::move(response));
                      });
}

}  // namespace

void open_ops_door(Router& router, OpsDoor door) {
  // Its routes share one copy of what the door was given.
  auto shared = std::make_shared<const OpsDoor>(std::move(door));
  router.exact("/healthz", RouteRules::reads(), [](HttpRequest&&, Exchange& exchange) {
    exchange.send(json_response(200, R"({"status":"ok"})"));
  });
  router.exact("/readyz", RouteRules::reads(),
               [shared](HttpRequest&&, Exchange& exchange) { answer_readiness(*shared, exchange); });
  router.exact("/metrics", RouteRules::reads(), [shared](HttpRequest&& request, Exchange& exchange) {
    answer_metrics(*shared, request, exchange);
  });
  router.exact("/api/dead-letters", RouteRules::reads(), [shared](HttpRequest&& request, Exchange& exchange) {
    serve_dead_letters(*shared, request, exchange);
  });
}

}  // namespace kabar
