#include "gateway/pusher/pusher_service.h"

#include <nlohmann/json.hpp>

#include "bridge/schema_registry.h"
#include "core/clock.h"
#include "gateway/http/access.h"
#include "gateway/http/refusal.h"

namespace kabar {
namespace {
// Publishes wait on PUBACKs, not on CPU: a few threads keep several REST calls in flight.
constexpr std::size_t kPublishThreads = 4;

// The bridge's rule (docs/bridge.md "Payloads"), for the topic the event is re-published to: the route's
// schema when the event is the route's own, else the schema named after the event, if there is one. So
// an App\\Events\\Foo published on private-cabang.3 (topic cabang/3/omset) is not held to omset.updated.
// A Pusher publish's data is JSON encoded in a string; the schema applies to what the string holds.
RestApi::Validate schema_check(const SchemaRegistry& schemas, const RouteTable& routes,
                               const EventRepublisher& republisher) {
  return [&schemas, &routes, &republisher](const std::string& channel, const std::string& event,
                                           const std::string& data_json) -> std::optional<std::string> {
    std::string schema;
    const auto match = routes.match(republisher.topic_for(channel));
    if (match && event == match->route->event && !match->route->schema.empty()) {
      schema = match->route->schema;
    } else if (event != "envelope" && event != "config" && schemas.has(event)) {
      schema = event;
    }
    if (schema.empty()) return std::nullopt;
    nlohmann::json data = nlohmann::json::parse(data_json, nullptr, false);
    if (data.is_string()) {
      nlohmann::json decoded = nlohmann::json::parse(data.get_ref<const std::string&>(), nullptr, false);
      if (!decoded.is_discarded()) data = std::move(decoded);
    }
    if (auto reason = schemas.validate(schema, data))
      return "data does not match schema '" + schema + "': " + *reason;
    return std::nullopt;
  };
}

// REST publish with a publisher token: the same authenticate/authorize as every door, so a refusal reads,
// logs and counts the same (docs/authorization.md "REST publish").
RestApi::PublisherTokens publisher_tokens(ServerContext& context) {
  RestApi::PublisherTokens tokens;
  tokens.authenticate = [&context](const std::string& token) -> std::variant<authz::Claims, RestResponse> {
    Authentication who = authenticate(context, token, "rest");
    if (!who.ok) return RestResponse{401, refused_body(Refused::authorization(401, "invalid_token", who.code, who.message))};
    return std::move(who.claims);
  };
  tokens.authorize = [&context](const authz::Claims& claims,
                                const std::string& channel) -> std::optional<RestResponse> {
    const authz::Decision decision = authorize(context, claims, authz::Action::Publish, channel, "rest");
    if (decision.allowed) return std::nullopt;
    return RestResponse{
        403, refused_body(Refused::authorization(403, "forbidden_channel", decision.code, decision.reason, channel))};
  };
  return tokens;
}

}  // namespace

std::vector<boost::asio::io_context*> PusherService::shard_contexts(ServerContext& context) {
  std::vector<boost::asio::io_context*> contexts;
  for (std::size_t shard = 0; shard < context.hub.shard_count(); ++shard) {
    contexts.push_back(&context.hub.shard_context(shard));
  }
  return contexts;
}

PusherService::PusherService(const std::vector<PusherAppConfig>& apps, PublisherOptions publisher,
                             ClusterOptions cluster, const SchemaRegistry& schemas, const RouteTable& routes,
                             ServerContext& context)
    : context_(context),
      apps_(apps),
      directory_(shard_contexts(context)),
      occupancy_(cluster.node, unix_ms()),
      republisher_(std::move(publisher), kPublishThreads, routes),
      rest_(
          apps_,
          [this](std::vector<OutgoingEvent> events, EventRepublisher::Done done) {
            republisher_.publish(std::move(events), std::move(done));
          },
          {}, schema_check(schemas, routes, republisher_), publisher_tokens(context),
          [this](const std::string& app) { return occupancy_.remote_subscriptions(app); }),
      cluster_(sharing_connections(std::move(cluster)), apps_, directory_, occupancy_,
               [this](const PusherApp& app, WebhookEvent event) { webhooks_.notify(app, std::move(event)); }),
      webhooks_(apps_) {
  cluster_.start();
}

PusherService::~PusherService() { stop(); }

// Read by the link's supervisor thread, which starts at the end of the constructor.
ClusterOptions PusherService::sharing_connections(ClusterOptions cluster) {
  cluster.connections = [this] { return door_connections(); };
  return cluster;
}

std::map<std::string, std::uint64_t> PusherService::door_connections() const {
  return {{"ws", context_.stats.ws_open.load(std::memory_order_relaxed)},
          {"sse", context_.stats.sse_open.load(std::memory_order_relaxed)},
          {"pusher", stats_.open.load(std::memory_order_relaxed)}};
}

LatestLookup PusherService::find_latest_now(const std::string& channel, const std::string& app_id) {
  LatestLookup lookup;
  try {
    lookup.head = context_.store.head_seq();
    if (auto event = context_.store.latest(channel, app_id)) lookup.latest = event->seq;
  } catch (const StoreError&) {
    // The store is closing: the subscriber gets a cache miss and live events, if any still come.
  }
  return lookup;
}

void PusherService::stop() {
  if (stopped_) return;
  stopped_ = true;
  republisher_.stop();
  cluster_.stop();
  webhooks_.stop();
  lookups_.join();
}

}  // namespace kabar
