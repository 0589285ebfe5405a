#include "gateway/pusher/pusher_service.h"

#include <nlohmann/json.hpp>

#include "bridge/schema_registry.h"

namespace kabar {
namespace {
// Publishes wait on PUBACKs, not on CPU: a few threads keep several REST calls in flight.
constexpr std::size_t kPublishThreads = 4;

// The bridge's rule for events on kabar/c/{channel} (docs/bridge.md): data must satisfy the schema
// named after the event, if there is one. A Pusher publish's data is JSON encoded in a string; the
// schema applies to what the string holds.
RestApi::Validate schema_check(const SchemaRegistry& schemas) {
  return [&schemas](const std::string& event, const std::string& data_json) -> std::optional<std::string> {
    if (event == "envelope" || event == "config" || !schemas.has(event)) return std::nullopt;
    nlohmann::json data = nlohmann::json::parse(data_json, nullptr, false);
    if (data.is_string()) {
      nlohmann::json decoded = nlohmann::json::parse(data.get_ref<const std::string&>(), nullptr, false);
      if (!decoded.is_discarded()) data = std::move(decoded);
    }
    if (auto reason = schemas.validate(event, data))
      return "data does not match schema '" + event + "': " + *reason;
    return std::nullopt;
  };
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
                             ClusterOptions cluster, const SchemaRegistry& schemas, ServerContext& context)
    : context_(context),
      apps_(apps),
      directory_(shard_contexts(context)),
      republisher_(std::move(publisher), kPublishThreads),
      rest_(
          apps_,
          [this](std::vector<OutgoingEvent> events, EventRepublisher::Done done) {
            republisher_.publish(std::move(events), std::move(done));
          },
          {}, schema_check(schemas)),
      cluster_(std::move(cluster), apps_, directory_),
      webhooks_(apps_) {
  cluster_.start();
}

PusherService::~PusherService() { stop(); }

LatestLookup PusherService::find_latest_now(const std::string& channel) {
  LatestLookup lookup;
  try {
    lookup.head = context_.store.head_seq();
    if (auto event = context_.store.latest(channel)) lookup.latest = event->seq;
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
