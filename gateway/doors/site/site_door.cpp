// The site: the router's fallback (site_door.h).
#include "gateway/doors/site/site_door.h"

#include "gateway/doors/site/static_files.h"
#include "gateway/http/refusal.h"
#include "gateway/http/router.h"

namespace kabar {
namespace http = boost::beast::http;
namespace {

// Revalidated on every load (no-cache with an ETag): a new kabar binary brings new pages, and a browser
// must not keep the old ones.
void serve_static(const HttpRequest& request, Exchange& exchange) {
  const std::string& path = exchange.target().path;
  const StaticAnswer answer = find_static_file(path);
  if (answer.kind == StaticAnswer::Kind::Redirect) {
    HttpResponse response{http::status::permanent_redirect, 11};
    response.set(http::field::location, answer.location);
    exchange.send(std::move(response));
    return;
  }
  if (answer.kind == StaticAnswer::Kind::NotFound) {
    exchange.send(refused_response(Refused::plain(404, "not_found", "no such endpoint or page: " + path)));
    return;
  }
  HttpResponse response{http::status::ok, 11};
  response.set(http::field::content_type, std::string(answer.file.content_type));
  response.set(http::field::cache_control, "no-cache");
  response.set(http::field::etag, answer.file.etag);
  response.set("X-Content-Type-Options", "nosniff");
  if (auto match = request.find(http::field::if_none_match);
      match != request.end() && match->value().find(answer.file.etag) != boost::beast::string_view::npos) {
    response.result(http::status::not_modified);
  } else if (request.method() != http::verb::head) {
    response.body() = std::string(answer.file.body);
  }
  exchange.send(std::move(response));
}

}  // namespace

void open_site_door(Router& router) {
  router.fallback(RouteRules::reads(),
                  [](HttpRequest&& request, Exchange& exchange) { serve_static(request, exchange); });
}

}  // namespace kabar
