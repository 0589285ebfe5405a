#pragma once
// Router: which door answers a request. Doors (gateway/doors/*) register their routes when the Gateway
// opens them, before the listener accepts; from then on the router is only read, by every shard at once,
// without a lock. HttpSession reads a request and hands it here (Beast's chat-multi `http_session::on_read`:
// upgrade, or hand the request to a free handler); the router knows nothing of what the doors do.
//
// A route is an exact path ("/sse") or a path prefix ("/app/"); an exact route wins over a prefix, a
// longer prefix over a shorter one, and the fallback (the site) takes everything else. Rules shared by
// several doors are the router's, so they read the same everywhere: the 405 for a method the route does
// not take, and for browser doors CORS headers on every answer and the OPTIONS preflight.
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/verb.hpp>
#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/http/message.h"
#include "gateway/http/request_target.h"

namespace kabar {

// What a door may do with the connection its request came on. HttpSession implements it; a unit test
// implements it with a fake. Called on the connection's own I/O thread, except where said.
class Exchange {
 public:
  virtual ~Exchange() = default;

  virtual const RequestTarget& target() const = 0;  // the decoded path and query
  virtual const std::string& peer() const = 0;      // the client's address, for logs
  virtual std::size_t shard() const = 0;            // the I/O thread (hub shard) of this connection

  // The answer to this request: exactly one send() or reply_later() call per request, or a hand-over.
  virtual void send(HttpResponse&& response) = 0;
  // For an answer made on another thread (a replay reader, a publisher): call the result once, from any
  // thread; the answer is sent from this connection's thread.
  virtual std::function<void(HttpResponse&&)> reply_later() = 0;

  // http.allowed_origins for this request's Origin: false after answering 403 origin_not_allowed.
  virtual bool check_origin(std::string_view door) = 0;
  // Every answer to this request carries CORS headers (set by the router for browser doors).
  virtual void allow_cross_origin() = 0;
  // Those headers as raw lines, for a door that writes its own response head (the SSE stream).
  virtual std::string cors_header_lines() const = 0;

  // Upgrades and streams take the connection over: the stream, without the request timer...
  virtual boost::beast::tcp_stream release_stream() = 0;
  // ...and, once the new owner exists, the per-address connection count follows it (ConnectionLimiter).
  virtual void hand_over(const std::shared_ptr<const void>& owner) = 0;
};

using RouteHandler = std::function<void(HttpRequest&&, Exchange&)>;

struct RouteRules {
  std::vector<boost::beast::http::verb> methods;  // empty: any (upgrades and REST check their own)
  std::string wrong_method;                       // the 405's message for any other method
  bool browser = false;                           // CORS on every answer; OPTIONS is answered as a preflight

  static RouteRules any_method() { return {}; }
  // GET and HEAD, like the site and the endpoints that only report.
  static RouteRules reads();
  // A browser door taking GET and HEAD (/sse, /api/history).
  static RouteRules browser_reads();
};

class Router {
 public:
  // A path registered twice is a wiring mistake: std::logic_error.
  void exact(std::string path, RouteRules rules, RouteHandler handler);
  void prefix(std::string prefix, RouteRules rules, RouteHandler handler);
  void fallback(RouteRules rules, RouteHandler handler);

  // Hands `request` to its door, or answers for it: 405 method_not_allowed, the preflight of a browser
  // door, 404 not_found when nothing (not even a fallback) takes the path.
  void dispatch(HttpRequest&& request, Exchange& exchange) const;

  struct Route {
    RouteRules rules;
    RouteHandler handler;
  };
  // The route that takes `path`, or null (no fallback).
  const Route* find(std::string_view path) const;

 private:
  std::map<std::string, Route, std::less<>> exact_;
  std::vector<std::pair<std::string, Route>> prefixes_;  // longest first
  std::optional<Route> fallback_;
};

}  // namespace kabar
