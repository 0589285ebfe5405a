// Router: route lookup and the rules every door shares (router.h).
#include "gateway/http/router.h"

#include <algorithm>
#include <stdexcept>

#include "gateway/http/cors.h"
#include "gateway/http/refusal.h"

namespace kabar {
namespace http = boost::beast::http;

RouteRules RouteRules::reads() {
  return {{http::verb::get, http::verb::head}, "only GET is served here", false};
}

RouteRules RouteRules::browser_reads() {
  RouteRules rules = reads();
  rules.browser = true;
  return rules;
}

void Router::exact(std::string path, RouteRules rules, RouteHandler handler) {
  if (exact_.contains(path)) throw std::logic_error("route registered twice: " + path);
  exact_.emplace(std::move(path), Route{std::move(rules), std::move(handler)});
}

void Router::prefix(std::string prefix, RouteRules rules, RouteHandler handler) {
  for (const auto& [known, route] : prefixes_)
    if (known == prefix) throw std::logic_error("route registered twice: " + prefix + "*");
  prefixes_.emplace_back(std::move(prefix), Route{std::move(rules), std::move(handler)});
  std::stable_sort(prefixes_.begin(), prefixes_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

void Router::fallback(RouteRules rules, RouteHandler handler) {
  if (fallback_) throw std::logic_error("fallback route registered twice");
  fallback_ = Route{std::move(rules), std::move(handler)};
}

const Router::Route* Router::find(std::string_view path) const {
  if (auto found = exact_.find(path); found != exact_.end()) return &found->second;
  for (const auto& [prefix, route] : prefixes_)
    if (path.starts_with(prefix)) return &route;
  return fallback_ ? &*fallback_ : nullptr;
}

void Router::dispatch(HttpRequest&& request, Exchange& exchange) const {
  const Route* route = find(exchange.target().path);
  if (!route) {
    exchange.send(refused_response(
        Refused::plain(404, "not_found", "no such endpoint or page: " + exchange.target().path)));
    return;
  }
  if (route->rules.browser) {
    exchange.allow_cross_origin();  // errors included: a page may read why it was refused
    if (request.method() == http::verb::options) {
      if (exchange.check_origin("preflight")) exchange.send(preflight_response());
      return;
    }
  }
  const auto& methods = route->rules.methods;
  if (!methods.empty() && std::find(methods.begin(), methods.end(), request.method()) == methods.end()) {
    exchange.send(refused_response(Refused::plain(405, "method_not_allowed", route->rules.wrong_method)));
    return;
  }
  route->handler(std::move(request), exchange);
}

}  // namespace kabar
