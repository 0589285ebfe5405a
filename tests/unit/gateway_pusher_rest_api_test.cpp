// The Pusher REST API without sockets: what each request publishes (to the fake re-publisher standing in
// for MQTT), the answers Laravel's broadcaster needs (200 with a JSON object), and the documented
// status codes for bad requests (docs/pusher.md).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway/pusher/rest_api.h"
#include "gateway/pusher/signature.h"

namespace kabar {
namespace {
using nlohmann::json;

constexpr std::int64_t kNow = 1700000000;

class RestApiTest : public ::testing::Test {
 protected:
  RestApiTest()
      : apps_({{"3", "app-key", "app-secret"}}),
        api_(
            apps_,
            [this](std::vector<OutgoingEvent> events, EventRepublisher::Done done) {
              for (auto& event : events) published_.push_back(std::move(event));
              done(broker_error_);
            },
            [] { return kNow; }) {}

  RestResponse call(const std::string& method, const std::string& path, const std::string& body = {},
                    QueryParams extra = {}) {
    QueryParams params = {
        {"auth_key", "app-key"}, {"auth_timestamp", std::to_string(kNow)}, {"auth_version", "1.0"}};
    if (!body.empty()) params.emplace_back("body_md5", md5_hex(body));
    for (auto& param : extra) params.push_back(std::move(param));
    params.emplace_back("auth_signature", RestAuth("app-key", "app-secret").sign(method, path, params));
    RestResponse response;
    bool answered = false;
    api_.handle(RestRequest{method, path, params, body, {}}, [&](RestResponse r) {
      response = std::move(r);
      answered = true;
    });
    EXPECT_TRUE(answered);
    return response;
  }

  AppRegistry apps_;
  RestApi api_;
  std::vector<OutgoingEvent> published_;
  std::optional<std::string> broker_error_;
};

TEST_F(RestApiTest, PublishesOneEventPerChannelWithTheDataStringIntact) {
  const std::string body =
      R"({"name":"App\\Events\\DokumenUpdated","data":"{\"dokumen\":{\"id\":7,\"url\":\"https:\\\/\\\/x\"}}","channels":["dokumen.7","private-dokumen.7"],"socket_id":"1234.1234"})";
  const RestResponse response = call("POST", "/apps/3/events", body);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "{}");
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(published_[0].channel, "dokumen.7");
  EXPECT_EQ(published_[1].channel, "private-dokumen.7");
  EXPECT_EQ(published_[0].name, R"(App\Events\DokumenUpdated)");
  EXPECT_EQ(published_[0].socket_id, "1234.1234");
  // Tagged with the publishing app, so only its connections receive it (docs/pusher.md "Apps").
  EXPECT_EQ(published_[0].app, "3");
  EXPECT_EQ(published_[1].app, "3");
  // The envelope's data is the publisher's string as a JSON string: decoding gives it back exactly.
  EXPECT_EQ(json::parse(published_[0].data_json).get<std::string>(),
            R"({"dokumen":{"id":7,"url":"https:\/\/x"}})");
}

TEST_F(RestApiTest, AcceptsASingleChannel) {
  EXPECT_EQ(call("POST", "/apps/3/events", R"({"name":"e","data":"{}","channel":"dokumen.7"})").status, 200);
  ASSERT_EQ(published_.size(), 1u);
  EXPECT_EQ(published_[0].socket_id, "");
}

// The topic comes from RouteTable::topic_for_channel (bridge_routes_test.cpp); the envelope carries the
// JSON the publisher's data string holds, so MQTT apps get an object (docs/pusher.md "What a publish does").
TEST_F(RestApiTest, TheEnvelopeCarriesTheDataStringsJson) {
  const json envelope =
      json::parse(EventRepublisher::envelope_json({"c", R"(App\E)", R"("{\"a\":1}")", "1.2", ""}, "k123"));
  EXPECT_EQ(envelope, json::parse(R"({"id":"k123","event":"App\\E","data":{"a":1},"socket_id":"1.2"})"));
  // Laravel's escapes and member order reach MQTT as the publisher wrote them.
  EXPECT_EQ(EventRepublisher::envelope_data(R"("{\"u\":\"a\\/b\",\"b\":[1,null]}")"),
            R"({"u":"a\/b","b":[1,null]})");
  EXPECT_EQ(EventRepublisher::envelope_data(R"("42")"), "42");
  // Not JSON, or a JSON string inside the string (unwrapping it would make pusher-js parse it once more),
  // or data that was not a string: unchanged.
  EXPECT_EQ(EventRepublisher::envelope_data(R"("plain text")"), R"("plain text")");
  EXPECT_EQ(EventRepublisher::envelope_data(R"("\"{}\"")"), R"("\"{}\"")");
  EXPECT_EQ(EventRepublisher::envelope_data(R"("{\"a\":1} trailing")"), R"("{\"a\":1} trailing")");
  EXPECT_EQ(EventRepublisher::envelope_data(R"({"a":1})"), R"({"a":1})");
  EXPECT_FALSE(
      json::parse(EventRepublisher::envelope_json({"c", "e", "{}", "", ""}, "k1")).contains("socket_id"));
  EXPECT_FALSE(json::parse(EventRepublisher::envelope_json({"c", "e", "{}", "", ""}, "k1")).contains("app"));
  const json tagged = json::parse(EventRepublisher::envelope_json({"c", "e", "{}", "", "shop-a"}, "k1"));
  EXPECT_EQ(tagged["app"], "shop-a");
}

TEST_F(RestApiTest, Batch) {
  const std::string body =
      R"({"batch":[{"name":"a","data":"1","channel":"x"},{"name":"b","data":"2","channel":"y","socket_id":"1.1"}]})";
  const RestResponse response = call("POST", "/apps/3/batch_events", body);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "{}");
  ASSERT_EQ(published_.size(), 2u);
  EXPECT_EQ(published_[1].name, "b");
  EXPECT_EQ(published_[1].socket_id, "1.1");
  EXPECT_EQ(published_[0].app, "3");
  EXPECT_EQ(published_[1].app, "3");
}

TEST_F(RestApiTest, InfoAsksForChannelAttributes) {
  apps_.by_id("3")->add_subscriber("dokumen.7");
  const RestResponse response =
      call("POST", "/apps/3/events",
           R"({"name":"e","data":"{}","channel":"dokumen.7","info":"subscription_count"})");
  EXPECT_EQ(json::parse(response.body),
            json::parse(R"({"channels":{"dokumen.7":{"subscription_count":1}}})"));
}

TEST_F(RestApiTest, BrokerDownIs503AndNothingClaimsSuccess) {
  broker_error_ = "no answer";
  EXPECT_EQ(call("POST", "/apps/3/events", R"({"name":"e","data":"{}","channel":"c"})").status, 503);
}

TEST_F(RestApiTest, BadRequestsGetTheirCodesAndPublishNothing) {
  EXPECT_EQ(call("POST", "/apps/3/events", "not json").status, 400);
  EXPECT_EQ(call("POST", "/apps/3/events", R"({"data":"{}","channel":"c"})").status, 400);  // no name
  EXPECT_EQ(call("POST", "/apps/3/events", R"({"name":"e","channel":"c"})").status, 400);   // no data
  EXPECT_EQ(call("POST", "/apps/3/events", R"({"name":"e","data":"{}"})").status, 400);     // no channel
  EXPECT_EQ(call("POST", "/apps/3/events", R"({"name":"e","data":"{}","channel":"a b"})").status, 400);
  EXPECT_EQ(
      call("POST", "/apps/3/events", R"({"name":"e","data":"{}","channel":"c","socket_id":"x"})").status,
      400);
  json many = {{"name", "e"}, {"data", "{}"}, {"channels", json::array()}};
  for (int i = 0; i < 101; ++i) many["channels"].push_back("c" + std::to_string(i));
  EXPECT_EQ(call("POST", "/apps/3/events", many.dump()).status, 400);
  json big = {{"name", "e"}, {"data", std::string(RestApi::kMaxDataBytes + 1, 'x')}, {"channel", "c"}};
  EXPECT_EQ(call("POST", "/apps/3/events", big.dump()).status, 413);
  json long_name = {{"name", std::string(201, 'n')}, {"data", "{}"}, {"channel", "c"}};
  EXPECT_EQ(call("POST", "/apps/3/events", long_name.dump()).status, 400);
  json batch = {{"batch", json::array()}};
  for (int i = 0; i < 11; ++i) batch["batch"].push_back({{"name", "e"}, {"data", "{}"}, {"channel", "c"}});
  EXPECT_EQ(call("POST", "/apps/3/batch_events", batch.dump()).status, 400);
  EXPECT_TRUE(published_.empty());
}

TEST_F(RestApiTest, AuthenticationFailuresAre401) {
  RestResponse response;
  const std::string body = R"({"name":"e","data":"{}","channel":"c"})";
  QueryParams params = {{"auth_key", "app-key"},
                        {"auth_timestamp", std::to_string(kNow - 3600)},
                        {"auth_version", "1.0"},
                        {"body_md5", md5_hex(body)}};
  params.emplace_back("auth_signature",
                      RestAuth("app-key", "app-secret").sign("POST", "/apps/3/events", params));
  api_.handle(RestRequest{"POST", "/apps/3/events", params, body, {}}, [&](RestResponse r) { response = r; });
  EXPECT_EQ(response.status, 401);
  EXPECT_EQ(json::parse(response.body)["error"], "stale_timestamp");
  params[1].second = std::to_string(kNow);
  api_.handle(RestRequest{"POST", "/apps/3/events", params, body, {}}, [&](RestResponse r) { response = r; });
  EXPECT_EQ(json::parse(response.body)["error"], "bad_signature");
  EXPECT_TRUE(published_.empty());
}

TEST_F(RestApiTest, UnknownAppAndEndpoint) {
  EXPECT_EQ(call("POST", "/apps/9/events", R"({"name":"e","data":"{}","channel":"c"})").status, 404);
  EXPECT_EQ(call("GET", "/apps/3/nothing").status, 404);
  EXPECT_EQ(call("GET", "/apps/3/events").status, 405);
}

TEST_F(RestApiTest, ChannelQueries) {
  auto app = apps_.by_id("3");
  app->add_subscriber("dokumen.7");
  app->add_subscriber("presence-room");
  app->join("presence-room", "", "1", R"("1")", "");
  app->join("presence-room", "", "1", R"("1")", "");
  app->join("presence-room", "", "2", R"("2")", "");

  EXPECT_EQ(json::parse(call("GET", "/apps/3/channels").body),
            json::parse(R"({"channels":{"dokumen.7":{},"presence-room":{}}})"));
  EXPECT_EQ(json::parse(call("GET", "/apps/3/channels", {},
                             {{"filter_by_prefix", "presence-"}, {"info", "user_count"}})
                            .body),
            json::parse(R"({"channels":{"presence-room":{"user_count":2}}})"));
  EXPECT_EQ(call("GET", "/apps/3/channels", {}, {{"info", "user_count"}}).status, 400);
  EXPECT_EQ(json::parse(call("GET", "/apps/3/channels/dokumen.7", {}, {{"info", "subscription_count"}}).body),
            json::parse(R"({"occupied":true,"subscription_count":1})"));
  EXPECT_EQ(json::parse(call("GET", "/apps/3/channels/empty").body), json::parse(R"({"occupied":false})"));
  EXPECT_EQ(call("GET", "/apps/3/channels/dokumen.7", {}, {{"info", "user_count"}}).status, 400);
  EXPECT_EQ(json::parse(call("GET", "/apps/3/channels/presence-room", {}, {{"info", "user_count"}}).body),
            json::parse(R"({"occupied":true,"user_count":2})"));
  EXPECT_EQ(json::parse(call("GET", "/apps/3/channels/presence-room/users").body),
            json::parse(R"({"users":[{"id":"1"},{"id":"2"}]})"));
  EXPECT_EQ(call("GET", "/apps/3/channels/dokumen.7/users").status, 400);
  EXPECT_EQ(json::parse(call("GET", "/apps/3/connections").body), json::parse(R"({"connections":0})"));
}

}  // namespace
}  // namespace kabar

namespace kabar {
namespace {

TEST(RestApiValidation, DataThatItsEventSchemaRefusesIs422AndNotPublished) {
  AppRegistry apps({{"3", "app-key", "app-secret"}});
  std::size_t published = 0;
  RestApi api(
      apps,
      [&](std::vector<OutgoingEvent> events, EventRepublisher::Done done) {
        published += events.size();
        done(std::nullopt);
      },
      [] { return kNow; },
      [](const std::string&, const std::string& event,
         const std::string& data_json) -> std::optional<std::string> {
        if (event == "dokumen.updated" && data_json.find("dokumen") == std::string::npos) return "no dokumen";
        return std::nullopt;
      });
  auto call = [&](const std::string& body) {
    QueryParams params = {{"auth_key", "app-key"},
                          {"auth_timestamp", std::to_string(kNow)},
                          {"auth_version", "1.0"},
                          {"body_md5", md5_hex(body)}};
    params.emplace_back("auth_signature",
                        RestAuth("app-key", "app-secret").sign("POST", "/apps/3/events", params));
    int status = 0;
    api.handle(RestRequest{"POST", "/apps/3/events", params, body, {}},
               [&](RestResponse r) { status = r.status; });
    return status;
  };
  EXPECT_EQ(call(R"({"name":"dokumen.updated","data":"{\"x\":1}","channel":"dokumen.1"})"), 422);
  EXPECT_EQ(published, 0u);
  EXPECT_EQ(call(R"({"name":"dokumen.updated","data":"{\"dokumen\":{\"id\":1}}","channel":"dokumen.1"})"),
            200);
  EXPECT_EQ(published, 1u);
}

// A publisher token instead of the signature: authenticated once, then every channel asked of the policy
// (fakes here; the real ones are access.h's, tested end to end in tests/e2e/authz_doors.test.mjs).
TEST(RestApiTokenTest, PublisherTokensPublishWhereAllowedOnly) {
  AppRegistry apps({{"3", "app-key", "app-secret"}});
  std::size_t published = 0;
  RestApi::PublisherTokens tokens;
  tokens.authenticate = [](const std::string& token) -> std::variant<authz::Claims, RestResponse> {
    if (token != "good") return RestResponse{401, R"({"error":"invalid_token"})"};
    return authz::Claims::from_payload({{"sub", "laravel"}});
  };
  tokens.authorize = [](const authz::Claims&, const std::string& channel) -> std::optional<RestResponse> {
    if (channel == "private-cabang.7") return RestResponse{403, R"({"error":"forbidden_channel"})"};
    return std::nullopt;
  };
  RestApi api(
      apps,
      [&](std::vector<OutgoingEvent> events, EventRepublisher::Done done) {
        published += events.size();
        done(std::nullopt);
      },
      [] { return kNow; }, {}, tokens);
  auto call = [&](const std::string& method, const std::string& path, const std::string& token,
                  const std::string& body) {
    RestResponse response;
    api.handle(RestRequest{method, path, {}, body, token}, [&](RestResponse r) { response = std::move(r); });
    return response;
  };
  const std::string to3 = R"({"name":"x","data":"{}","channel":"private-cabang.3"})";
  EXPECT_EQ(call("POST", "/apps/3/events", "good", to3).status, 200);
  EXPECT_EQ(published, 1u);
  EXPECT_EQ(call("POST", "/apps/3/events", "bad", to3).status, 401);
  EXPECT_EQ(call("POST", "/apps/3/events", "good", R"({"name":"x","data":"{}","channels":["a","private-cabang.7"]})").status,
            403);
  EXPECT_EQ(call("POST", "/apps/3/batch_events", "good",
                 R"({"batch":[{"name":"x","data":"{}","channel":"a"},{"name":"y","data":"{}","channel":"private-cabang.7"}]})")
                .status,
            403);
  EXPECT_EQ(published, 1u) << "nothing of a refused request is published";
  const RestResponse query = call("GET", "/apps/3/channels", "good", "");
  EXPECT_EQ(query.status, 403);
  EXPECT_EQ(json::parse(query.body)["error"], "signature_required");
  // Without the token hooks, a bearer token is refused rather than ignored.
  RestApi plain(apps, [&](std::vector<OutgoingEvent>, EventRepublisher::Done done) { done(std::nullopt); },
                [] { return kNow; });
  RestResponse refused;
  plain.handle(RestRequest{"POST", "/apps/3/events", {}, to3, "good"}, [&](RestResponse r) { refused = std::move(r); });
  EXPECT_EQ(refused.status, 401);
}

}  // namespace
}  // namespace kabar
