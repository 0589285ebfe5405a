#include "gateway/pusher/rest_api.h"

#include <chrono>
#include <nlohmann/json.hpp>

#include "core/channel.h"
#include "gateway/http/refusal.h"
#include "gateway/hub/frame.h"
#include "gateway/pusher/socket_id.h"

namespace kabar {
namespace {
using nlohmann::json;

RestResponse reply(int status, const std::string& code, const std::string& message) {
  return RestResponse{status, refused_body(Refused::plain(static_cast<unsigned>(status), code, message))};
}

RestResponse ok(const json& body) {
  return RestResponse{200, body.dump(-1, ' ', false, json::error_handler_t::replace)};
}

std::int64_t system_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string param_or(const QueryParams& params, std::string_view name, std::string fallback = {}) {
  for (const auto& [key, value] : params) {
    if (key == name) return value;
  }
  return fallback;
}

std::vector<std::string> split_commas(const std::string& text) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!part.empty()) parts.push_back(std::move(part));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return parts;
}

bool contains(const std::vector<std::string>& list, std::string_view item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool is_presence(const std::string& channel) { return channel_kind(channel) == ChannelKind::Presence; }

// One event of a publish request, checked.
struct EventRequest {
  std::vector<std::string> channels;
  std::string name;
  std::string data_json;
  std::string socket_id;
  std::vector<std::string> info;
};

std::optional<RestResponse> read_channels(const json& item, EventRequest& out, bool batch) {
  if (auto it = item.find("channel"); it != item.end()) {
    if (!it->is_string()) return reply(400, "bad_request", "\"channel\" must be a string");
    out.channels.push_back(it->get<std::string>());
  } else if (auto list = item.find("channels"); list != item.end() && !batch) {
    if (!list->is_array() || list->empty())
      return reply(400, "bad_request", "\"channels\" must be a non-empty array");
    for (const auto& channel : *list) {
      if (!channel.is_string()) return reply(400, "bad_request", "\"channels\" must hold strings");
      out.channels.push_back(channel.get<std::string>());
    }
  } else {
    return reply(400, "bad_request",
                 batch ? "every batch item needs \"channel\"" : "give \"channel\" or \"channels\"");
  }
  if (out.channels.size() > RestApi::kMaxChannelsPerEvent)
    return reply(400, "too_many_channels", "at most 100 channels per event");
  for (const auto& channel : out.channels) {
    if (!is_valid_channel_name(channel))
      return reply(
          400, "invalid_channel",
          "invalid channel name " + json_quote(channel) + ": 1-164 characters of A-Z a-z 0-9 _ - = @ , . ;");
  }
  return std::nullopt;
}

std::optional<RestResponse> read_event(const json& item, EventRequest& out, bool batch) {
  if (!item.is_object()) return reply(400, "bad_request", "an event must be a JSON object");
  auto name = item.find("name");
  if (name == item.end() || !name->is_string() || name->get_ref<const std::string&>().empty())
    return reply(400, "bad_request", "\"name\" (the event name) is required");
  out.name = name->get<std::string>();
  if (out.name.size() > RestApi::kMaxEventNameBytes)
    return reply(400, "event_name_too_long", "event names are at most 200 bytes");
  auto data = item.find("data");
  if (data == item.end()) return reply(400, "bad_request", "\"data\" is required");
  // Pusher's data is a string (Laravel sends json_encode($payload)); it travels as a JSON string so the
  // client receives it unchanged. Other JSON is tolerated and forwarded as its compact text.
  const std::size_t data_bytes =
      data->is_string() ? data->get_ref<const std::string&>().size() : data->dump().size();
  if (data_bytes > RestApi::kMaxDataBytes)
    return reply(413, "data_too_large",
                 "event data is " + std::to_string(data_bytes) + " bytes, more than 102400");
  out.data_json = data->dump(-1, ' ', false, json::error_handler_t::replace);
  if (auto socket = item.find("socket_id"); socket != item.end() && !socket->is_null()) {
    if (!socket->is_string() || !is_valid_socket_id(socket->get_ref<const std::string&>()))
      return reply(400, "bad_socket_id", "\"socket_id\" must look like 1234.5678");
    out.socket_id = socket->get<std::string>();
  }
  if (auto info = item.find("info"); info != item.end() && info->is_string())
    out.info = split_commas(info->get<std::string>());
  return read_channels(item, out, batch);
}

std::optional<json> parse_body(const std::string& body) {
  json document = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object()) return std::nullopt;
  return document;
}

// Tagged with the publishing app, so the event reaches that app's connections only.
std::vector<OutgoingEvent> outgoing(const EventRequest& event, const std::string& app_id) {
  std::vector<OutgoingEvent> list;
  for (const auto& channel : event.channels)
    list.push_back({channel, event.name, event.data_json, event.socket_id, app_id});
  return list;
}

// The attributes `info` asks for, for one channel (the publish response's per-channel object).
json channel_attributes(const ChannelSummary& summary, const std::vector<std::string>& info) {
  json attributes = json::object();
  if (contains(info, "user_count") && is_presence(summary.name)) attributes["user_count"] = summary.users;
  if (contains(info, "subscription_count")) attributes["subscription_count"] = summary.subscriptions;
  return attributes;
}

}  // namespace

struct RestApi::Call {
  std::shared_ptr<PusherApp> app;
  std::string route;  // the path after /apps/{id}/
  RestRequest request;
  std::optional<authz::Claims> publisher;  // set when a publisher token authenticated the request
};

RestApi::RestApi(const AppRegistry& apps, Publish publish, Clock clock, Validate validate,
                 PublisherTokens tokens, RemoteSubscriptions remote)
    : apps_(apps),
      publish_(std::move(publish)),
      clock_(clock ? std::move(clock) : Clock(system_seconds)),
      validate_(std::move(validate)),
      tokens_(std::move(tokens)),
      remote_(std::move(remote)) {}

// The cluster's channels of an app: this node's live figures (subscriptions here, presence users of every
// node) plus the other nodes' subscriptions from their snapshots.
std::map<std::string, ChannelSummary> RestApi::cluster_channels(const PusherApp& app,
                                                                std::string_view prefix) const {
  std::map<std::string, ChannelSummary> channels;
  for (auto& summary : app.channels(prefix)) channels.emplace(summary.name, summary);
  if (!remote_) return channels;
  for (const auto& [name, count] : remote_(app.id())) {
    if (!name.starts_with(prefix)) continue;
    auto [it, added] = channels.try_emplace(name, ChannelSummary{name, 0, 0});
    it->second.subscriptions += count;
  }
  return channels;
}

ChannelSummary RestApi::cluster_channel(const PusherApp& app, const std::string& name) const {
  const auto channels = cluster_channels(app, name);
  auto it = channels.find(name);
  return it == channels.end() ? ChannelSummary{name, 0, 0} : it->second;
}

// A publisher token stands in for the app signature on publishing only: the queries (channels, users,
// connections) reveal who is online, which the policy's channel rules do not describe.
std::optional<RestResponse> RestApi::authenticate_publisher(Call& call, const RestRequest& request) const {
  if (!tokens_.authenticate) return reply(401, "token_not_accepted", "sign the request with the app secret");
  if (call.route != "events" && call.route != "batch_events")
    return reply(403, "signature_required",
                 "a publisher token is accepted for publishing (events, batch_events) only; sign queries with "
                 "the app secret");
  auto who = tokens_.authenticate(request.bearer_token);
  if (auto* refusal = std::get_if<RestResponse>(&who)) return *refusal;
  call.publisher = std::get<authz::Claims>(std::move(who));
  return std::nullopt;
}

// Signed requests may publish anywhere in their app; a token only where the policy lets it publish.
std::optional<RestResponse> RestApi::refused_channel(const Call& call, const std::vector<std::string>& channels) const {
  if (!call.publisher) return std::nullopt;
  for (const auto& channel : channels) {
    if (auto refusal = tokens_.authorize(*call.publisher, channel)) return refusal;
  }
  return std::nullopt;
}

std::optional<RestResponse> RestApi::invalid_data(const std::vector<std::string>& channels,
                                                  const std::string& event,
                                                  const std::string& data_json) const {
  if (!validate_) return std::nullopt;
  for (const auto& channel : channels) {
    if (auto reason = validate_(channel, event, data_json)) return reply(422, "invalid_data", *reason);
  }
  return std::nullopt;
}

void RestApi::handle(RestRequest request, std::function<void(RestResponse)> done) const {
  // "/apps/{id}/{route}"
  const std::string_view rest = std::string_view(request.path).substr(6);
  const auto slash = rest.find('/');
  Call call;
  call.app = apps_.by_id(rest.substr(0, slash));
  if (!call.app)
    return done(
        reply(404, "unknown_app", "no app with id " + json_quote(std::string(rest.substr(0, slash)))));
  call.route = slash == std::string_view::npos ? std::string() : std::string(rest.substr(slash + 1));
  if (!request.bearer_token.empty()) {
    if (auto refusal = authenticate_publisher(call, request)) return done(*refusal);
  } else {
    const RestAuth auth(call.app->key(), call.app->secret());
    if (auto failure = auth.verify({request.method, request.path, request.params, request.body}, clock_()))
      return done(reply(401, failure->code, failure->message));
  }
  call.request = std::move(request);

  const std::string& route = call.route;
  const bool get = call.request.method == "GET" || call.request.method == "HEAD";
  const bool post = call.request.method == "POST";
  if (route == "events" || route == "batch_events") {
    if (!post) return done(reply(405, "method_not_allowed", "publish with POST"));
    return route == "events" ? publish_events(call, std::move(done)) : publish_batch(call, std::move(done));
  }
  if (route == "channels" || route == "connections" || route.starts_with("channels/")) {
    if (!get) return done(reply(405, "method_not_allowed", "query with GET"));
    if (route == "channels") return done(list_channels(call));
    if (route == "connections") return done(ok({{"connections", call.app->connections()}}));
    std::string channel = route.substr(9);
    if (channel.ends_with("/users")) return done(list_users(call, channel.substr(0, channel.size() - 6)));
    return done(show_channel(call, channel));
  }
  done(reply(404, "not_found", "no such endpoint: " + call.request.path));
}

void RestApi::publish_events(const Call& call, std::function<void(RestResponse)> done) const {
  auto body = parse_body(call.request.body);
  if (!body) return done(reply(400, "bad_json", "the body must be a JSON object"));
  EventRequest event;
  if (auto problem = read_event(*body, event, /*batch=*/false)) return done(*problem);
  if (auto refusal = refused_channel(call, event.channels)) return done(*refusal);
  if (auto problem = invalid_data(event.channels, event.name, event.data_json)) return done(*problem);
  publish_(outgoing(event, call.app->id()),
           [this, app = call.app, event, done = std::move(done)](std::optional<std::string> error) {
             if (error)
               return done(reply(503, "broker_unavailable", "the event was not published: " + *error));
             if (event.info.empty()) return done(ok(json::object()));
             json channels = json::object();
             for (const auto& channel : event.channels)
               channels[channel] = channel_attributes(cluster_channel(*app, channel), event.info);
             done(ok({{"channels", channels}}));
           });
}

void RestApi::publish_batch(const Call& call, std::function<void(RestResponse)> done) const {
  auto body = parse_body(call.request.body);
  if (!body) return done(reply(400, "bad_json", "the body must be a JSON object"));
  auto batch = body->find("batch");
  if (batch == body->end() || !batch->is_array())
    return done(reply(400, "bad_request", "\"batch\" must be an array"));
  if (batch->size() > kMaxBatchSize)
    return done(reply(400, "batch_too_large", "at most 10 events per batch"));
  std::vector<EventRequest> events(batch->size());
  std::vector<OutgoingEvent> all;
  bool any_info = false;
  for (std::size_t i = 0; i < batch->size(); ++i) {
    if (auto problem = read_event((*batch)[i], events[i], /*batch=*/true)) return done(*problem);
    if (auto refusal = refused_channel(call, events[i].channels)) return done(*refusal);
    if (auto problem = invalid_data(events[i].channels, events[i].name, events[i].data_json))
      return done(*problem);
    any_info = any_info || !events[i].info.empty();
    for (auto& item : outgoing(events[i], call.app->id())) all.push_back(std::move(item));
  }
  publish_(std::move(all), [this, app = call.app, events = std::move(events), any_info,
                            done = std::move(done)](std::optional<std::string> error) {
    if (error) return done(reply(503, "broker_unavailable", "the batch was not published: " + *error));
    if (!any_info) return done(ok(json::object()));
    json items = json::array();
    for (const auto& event : events)
      items.push_back(channel_attributes(cluster_channel(*app, event.channels.front()), event.info));
    done(ok({{"batch", items}}));
  });
}

RestResponse RestApi::list_channels(const Call& call) const {
  const std::string prefix = param_or(call.request.params, "filter_by_prefix");
  const auto info = split_commas(param_or(call.request.params, "info"));
  const bool user_count = contains(info, "user_count");
  if (user_count && !prefix.starts_with("presence-"))
    return reply(400, "bad_request", "info=user_count needs filter_by_prefix=presence-");
  json channels = json::object();
  for (const auto& [name, summary] : cluster_channels(*call.app, prefix)) {
    if (summary.subscriptions == 0 && summary.users == 0) continue;
    json attributes = json::object();
    if (user_count) attributes["user_count"] = summary.users;
    if (contains(info, "subscription_count")) attributes["subscription_count"] = summary.subscriptions;
    channels[summary.name] = attributes;
  }
  return ok({{"channels", channels}});
}

RestResponse RestApi::show_channel(const Call& call, const std::string& channel) const {
  if (!is_valid_channel_name(channel))
    return reply(400, "invalid_channel", "invalid channel name " + json_quote(channel));
  const auto info = split_commas(param_or(call.request.params, "info"));
  if (contains(info, "user_count") && !is_presence(channel))
    return reply(400, "bad_request", "user_count is only available for presence channels");
  const ChannelSummary summary = cluster_channel(*call.app, channel);
  const std::size_t subscriptions = summary.subscriptions;
  const std::size_t users = summary.users;
  json body = {{"occupied", subscriptions > 0 || users > 0}};
  if (contains(info, "user_count")) body["user_count"] = users;
  if (contains(info, "subscription_count")) body["subscription_count"] = subscriptions;
  return ok(body);
}

RestResponse RestApi::list_users(const Call& call, const std::string& channel) const {
  if (!is_valid_channel_name(channel))
    return reply(400, "invalid_channel", "invalid channel name " + json_quote(channel));
  if (!is_presence(channel)) return reply(400, "bad_request", "users are only listed for presence channels");
  json users = json::array();
  for (const auto& id : call.app->users(channel)) users.push_back({{"id", id}});
  return ok({{"users", users}});
}

}  // namespace kabar
