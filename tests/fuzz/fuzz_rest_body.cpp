// libFuzzer target: the body of a Pusher REST publish (POST /apps/{id}/events and /batch_events, what
// Laravel's broadcaster and the `pusher` npm SDK send) through RestApi::handle (gateway/pusher/rest_api.cpp).
//
// Input: one flag byte, then the body. Flag bits: 1 batch_events (else events); 2 a request signed for
// real with the app secret (RestAuth, body_md5 included; else a publisher token that a stub accepts);
// 4 the broker refuses the publish; 8 the token's policy refuses private- channels (token mode only).
//
// Checked: nothing throws or crashes; `done` is called exactly once; a correctly signed request is never
// refused as unauthentic; the status is one the API documents and the body a JSON object (errors with
// "error" and "message"); a publish happens exactly when the body is acceptable, and what is published is
// what the body says: every channel valid and at most 100 per event, at most 10 batch items, the event
// name 1..200 bytes, the data's JSON text parsing back to the body's data, socket_id and app as given.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/channel.h"
#include "gateway/pusher/app_registry.h"
#include "gateway/pusher/rest_api.h"
#include "gateway/pusher/rest_auth.h"
#include "gateway/pusher/signature.h"
#include "gateway/pusher/socket_id.h"

namespace {
using namespace kabar;
using nlohmann::json;

constexpr std::int64_t kNow = 1'700'000'000;

void require(bool condition) {
  if (!condition) std::abort();
}

const AppRegistry& apps() {
  static const AppRegistry registry([] {
    PusherAppConfig config;
    config.id = "fuzz";
    config.key = "fuzz-key";
    config.secret = "fuzz-secret";
    return std::vector<PusherAppConfig>{config};
  }());
  return registry;
}

// The members of one published item as the body gave them; `channels` as the body listed them.
void check_item(const json& item, const std::vector<OutgoingEvent>& published, std::size_t& next, bool batch) {
  require(item.is_object());
  std::vector<std::string> channels;
  if (item.contains("channel")) {
    channels.push_back(item.at("channel").get<std::string>());
  } else {
    require(!batch);
    for (const auto& channel : item.at("channels")) channels.push_back(channel.get<std::string>());
  }
  require(!channels.empty() && channels.size() <= RestApi::kMaxChannelsPerEvent);
  const std::string& name = item.at("name").get_ref<const std::string&>();
  require(!name.empty() && name.size() <= RestApi::kMaxEventNameBytes);
  for (const auto& channel : channels) {
    require(next < published.size());
    const OutgoingEvent& event = published[next++];
    require(event.channel == channel && is_valid_channel_name(event.channel));
    require(event.name == name);
    require(event.app == "fuzz");
    require(json::parse(event.data_json) == item.at("data"));
    const auto socket = item.find("socket_id");
    if (socket == item.end() || socket->is_null()) {
      require(event.socket_id.empty());
    } else {
      require(event.socket_id == socket->get<std::string>() && is_valid_socket_id(event.socket_id));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const unsigned flags = data[0];
  const bool batch = flags & 1;
  const bool signed_request = flags & 2;
  const bool broker_fails = flags & 4;
  const bool refuse_private = flags & 8;

  std::vector<OutgoingEvent> published;
  int publishes = 0;
  auto publish = [&](std::vector<OutgoingEvent> events, EventRepublisher::Done done) {
    ++publishes;
    published = std::move(events);
    done(broker_fails ? std::optional<std::string>("broker down") : std::nullopt);
  };
  auto validate = [](const std::string&, const std::string& event,
                     const std::string& data_json) -> std::optional<std::string> {
    require(!json::parse(data_json, nullptr, false).is_discarded());
    if (event == "fuzz.invalid") return "fuzz.invalid is always refused";
    return std::nullopt;
  };
  RestApi::PublisherTokens tokens;
  tokens.authenticate = [](const std::string& token) -> std::variant<authz::Claims, RestResponse> {
    require(token == "fuzz-token");
    authz::Claims claims;
    claims.authenticated = true;
    claims.subject = "fuzz";
    return claims;
  };
  tokens.authorize = [refuse_private](const authz::Claims&, const std::string& channel) -> std::optional<RestResponse> {
    require(is_valid_channel_name(channel));
    if (refuse_private && channel.starts_with("private-"))
      return RestResponse{403, R"({"error":"forbidden","message":"not this channel"})"};
    return std::nullopt;
  };
  const RestApi api(apps(), publish, [] { return kNow; }, validate, tokens);

  RestRequest request;
  request.method = "POST";
  request.path = batch ? "/apps/fuzz/batch_events" : "/apps/fuzz/events";
  request.body.assign(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (signed_request) {
    const RestAuth auth("fuzz-key", "fuzz-secret");
    request.params = {{"auth_key", "fuzz-key"},
                      {"auth_timestamp", std::to_string(kNow - 5)},
                      {"auth_version", "1.0"},
                      {"body_md5", md5_hex(request.body)}};
    request.params.emplace_back("auth_signature", auth.sign(request.method, request.path, request.params));
  } else {
    request.bearer_token = "fuzz-token";
  }

  int answers = 0;
  RestResponse response;
  api.handle(request, [&](RestResponse answer) {
    ++answers;
    response = std::move(answer);
  });
  require(answers == 1);
  require(publishes <= 1);

  static const std::set<int> kStatuses = {200, 400, 403, 413, 422, 503};
  require(kStatuses.count(response.status) == 1);
  if (response.status == 403) require(refuse_private && !signed_request);
  const json body = json::parse(response.body, nullptr, false);
  require(body.is_object());
  if (response.status != 200) {
    require(body.contains("error") && body["error"].is_string() && body.contains("message") &&
            body["message"].is_string());
  }
  require((publishes == 1) == (response.status == 200 || response.status == 503));
  require((response.status == 503) == (publishes == 1 && broker_fails));
  if (publishes == 0) return 0;

  // Published: the body was a JSON object, and what went out is exactly what it asked for.
  const json document = json::parse(request.body);
  std::size_t next = 0;
  if (batch) {
    const json& items = document.at("batch");
    require(items.is_array() && items.size() <= RestApi::kMaxBatchSize);
    for (const auto& item : items) check_item(item, published, next, /*batch=*/true);
  } else {
    check_item(document, published, next, /*batch=*/false);
  }
  require(next == published.size());
  return 0;
}
