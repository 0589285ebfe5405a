#pragma once
// RestApi: the Pusher HTTP API that Laravel's broadcaster (pusher-http-php) and the `pusher` npm SDK
// call (shared/docs/pusher-protocol.md §5; docs/pusher.md lists codes and limits):
//
//   POST /apps/{id}/events, /apps/{id}/batch_events    publish (re-published to MQTT, see EventRepublisher)
//   GET  /apps/{id}/channels[/{name}[/users]]           occupancy and presence members, of the cluster
//   GET  /apps/{id}/connections                         open connections (Reverb's extra)
//
// Every request is signed (RestAuth), or, for publishing only, carries a publisher token
// (Authorization: Bearer <JWT>, docs/authorization.md "REST publish") that the policy must allow to
// publish on every channel of the event. Transport-free: HttpSession hands in the request and gets the
// response through a callback, which may run on another thread.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>

#include "authz/claims.h"
#include "gateway/pusher/app_registry.h"
#include "gateway/pusher/event_republisher.h"
#include "gateway/pusher/rest_auth.h"

namespace kabar {

struct RestRequest {
  std::string method;  // "GET", "POST"...
  std::string path;    // decoded, "/apps/local/events"
  QueryParams params;  // decoded
  std::string body;
  std::string bearer_token;  // from Authorization: Bearer; non-empty: judged by the token, not a signature
};

struct RestResponse {
  int status = 200;
  std::string body;  // JSON
};

class RestApi {
 public:
  static constexpr std::size_t kMaxChannelsPerEvent = 100;
  static constexpr std::size_t kMaxBatchSize = 10;
  static constexpr std::size_t kMaxEventNameBytes = 200;
  static constexpr std::size_t kMaxDataBytes = 100 * 1024;

  using Publish = std::function<void(std::vector<OutgoingEvent>, EventRepublisher::Done)>;
  using Clock = std::function<std::int64_t()>;  // Unix seconds
  // Why an event's data would be refused downstream on this channel (the schema the bridge applies to
  // it), or nullopt. Checked before publishing, so the publisher gets 422 instead of a 200 for an event
  // that would be dead-lettered.
  using Validate = std::function<std::optional<std::string>(
      const std::string& channel, const std::string& event, const std::string& data_json)>;

  // Publisher tokens: who the token is (or the refusal to answer), and whether it may publish on a
  // channel (nullopt: yes). Without them a bearer token is refused.
  struct PublisherTokens {
    std::function<std::variant<authz::Claims, RestResponse>(const std::string& token)> authenticate;
    std::function<std::optional<RestResponse>(const authz::Claims& claims, const std::string& channel)> authorize;
  };

  // The other nodes' subscriptions of an app per channel (ClusterOccupancy), added to this node's so the
  // channel queries answer for the cluster; none: this node alone.
  using RemoteSubscriptions = std::function<std::map<std::string, std::size_t>(const std::string& app_id)>;

  RestApi(const AppRegistry& apps, Publish publish, Clock clock = {}, Validate validate = {},
          PublisherTokens tokens = {}, RemoteSubscriptions remote = {});

  static constexpr std::string_view kPathPrefix = "/apps/";  // every path of the API starts so (the door routes it)
  // `done` is called exactly once, on this thread or on a publishing thread.
  void handle(RestRequest request, std::function<void(RestResponse)> done) const;

 private:
  struct Call;
  void publish_events(const Call& call, std::function<void(RestResponse)> done) const;
  void publish_batch(const Call& call, std::function<void(RestResponse)> done) const;
  RestResponse list_channels(const Call& call) const;
  RestResponse show_channel(const Call& call, const std::string& channel) const;
  RestResponse list_users(const Call& call, const std::string& channel) const;
  std::map<std::string, ChannelSummary> cluster_channels(const PusherApp& app, std::string_view prefix) const;
  ChannelSummary cluster_channel(const PusherApp& app, const std::string& name) const;

  const AppRegistry& apps_;
  std::optional<RestResponse> invalid_data(const std::vector<std::string>& channels, const std::string& event,
                                           const std::string& data_json) const;
  std::optional<RestResponse> authenticate_publisher(Call& call, const RestRequest& request) const;
  std::optional<RestResponse> refused_channel(const Call& call, const std::vector<std::string>& channels) const;

  Publish publish_;
  Clock clock_;
  Validate validate_;
  PublisherTokens tokens_;
  RemoteSubscriptions remote_;
};

}  // namespace kabar
