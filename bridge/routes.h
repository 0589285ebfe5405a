#pragma once
// Topic -> (channel, event) routing. A route's topic pattern is an MQTT topic whose whole levels may be
// placeholders, e.g. "cabang/{id}/omset"; the channel template reuses them: "private-cabang.{id}".
// The MQTT subscription of a route is its pattern with every placeholder replaced by '+'.
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace kabar {

struct Route {
  std::string topic;    // pattern, e.g. "dokumen/{id}/updated"
  std::string channel;  // template, e.g. "dokumen.{id}"
  std::string event;    // default event name; empty: the payload's envelope must name the event
  std::string schema;   // schema file (without .schema.json) that `data` must satisfy; empty: none
};

class RouteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RouteMatch {
  const Route* route = nullptr;
  std::string channel;  // the template with placeholders filled in
};

class RouteTable {
 public:
  // Throws RouteError naming the route and the problem (unknown placeholder in the channel template,
  // a placeholder that is not a whole topic level, '#' or '+' in the pattern, duplicate pattern...).
  explicit RouteTable(std::vector<Route> routes);

  // The routes kabar serves when the config names none (docs/configuration.md lists them).
  static std::vector<Route> builtin();

  // First route whose pattern matches, with the channel it maps to; nullopt for an unknown topic or
  // when the filled-in channel name is not a valid channel name.
  std::optional<RouteMatch> match(std::string_view topic) const;

  // The reverse of match(): the topic that routes to `channel`, for publishing an event of that channel
  // where MQTT clients of that channel read (the Pusher REST API's re-publish). Among the routes whose
  // channel template yields `channel` and whose rebuilt topic match() routes back to the same route and
  // channel, the one whose template has the most literal characters (the most specific), the first on a
  // tie; nullopt when none does (e.g. a route before it takes the topic, or a placeholder of the pattern
  // that the template does not use).
  std::optional<std::string> topic_for_channel(std::string_view channel) const;

  // The MQTT topic filters to subscribe to (one per route, deduplicated).
  std::vector<std::string> subscriptions() const;

  const std::vector<Route>& routes() const { return routes_; }

 private:
  std::vector<Route> routes_;
};

}  // namespace kabar
