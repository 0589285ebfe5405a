// The pure parts behind the doors' hardening and the new authorization doors: origin matching, the
// per-address connection cap, the /ws message rate, the /ws and /sse request parsers, and the presence
// member a token makes. End to end: tests/e2e/hardening.test.mjs, authz_doors.test.mjs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "gateway/doors/sse/sse_request.h"
#include "gateway/http/hardening.h"
#include "gateway/http/ws_request.h"
#include "gateway/pusher/channel_auth_endpoint.h"

namespace kabar {
namespace {
using namespace std::chrono_literals;

TEST(OriginTest, HostsGlobsAndWholeOrigins) {
  const std::vector<std::string> allowed = {"app.example.com", "*.pos.example", "https://admin.example.com:8443"};
  EXPECT_TRUE(origin_matches(allowed, "https://app.example.com"));
  EXPECT_TRUE(origin_matches(allowed, "http://APP.example.com:3000"));
  EXPECT_TRUE(origin_matches(allowed, "https://cabang3.pos.example"));
  EXPECT_TRUE(origin_matches(allowed, "https://admin.example.com:8443"));
  EXPECT_FALSE(origin_matches(allowed, "https://admin.example.com"));
  EXPECT_FALSE(origin_matches(allowed, "https://app.example.com.evil.net"));
  EXPECT_FALSE(origin_matches(allowed, "null"));
  EXPECT_FALSE(origin_matches(allowed, ""));
  EXPECT_TRUE(origin_allowed(allowed, ""));  // non-browser clients send no Origin
  EXPECT_TRUE(origin_matches({"*"}, "https://anything.example"));
}

TEST(ConnectionLimiterTest, CountsLiveOwnersAndFollowsTransfers) {
  ConnectionLimiter limiter(2);
  const auto address = boost::asio::ip::make_address("10.0.0.1");
  const auto other = boost::asio::ip::make_address("10.0.0.2");
  auto first = std::make_shared<int>(1);
  auto second = std::make_shared<int>(2);
  EXPECT_TRUE(limiter.admit(address, first));
  EXPECT_TRUE(limiter.admit(address, second));
  EXPECT_FALSE(limiter.admit(address, std::make_shared<int>(3)));
  EXPECT_TRUE(limiter.admit(other, std::make_shared<int>(4)));  // per address
  // The HttpSession hands its socket to a stream session: the connection stays counted.
  auto stream = std::make_shared<int>(5);
  limiter.transfer(address, first.get(), stream);
  first.reset();
  EXPECT_EQ(limiter.count(address), 2u);
  EXPECT_FALSE(limiter.admit(address, std::make_shared<int>(6)));
  stream.reset();  // the stream ended
  EXPECT_EQ(limiter.count(address), 1u);
  EXPECT_TRUE(limiter.admit(address, std::make_shared<int>(7)));
  EXPECT_TRUE(ConnectionLimiter(0).admit(address, second));  // 0: no limit
}

TEST(MessageRateLimiterTest, BurstThenRate) {
  MessageRateLimiter limiter(5, 10);
  const auto start = MessageRateLimiter::Clock::now();
  int allowed = 0;
  for (int i = 0; i < 20; ++i) allowed += limiter.allow(start) ? 1 : 0;
  EXPECT_EQ(allowed, 10);
  EXPECT_FALSE(limiter.allow(start + 100ms));  // half a token
  EXPECT_TRUE(limiter.allow(start + 200ms));   // one token after 1/5 s
  EXPECT_TRUE(MessageRateLimiter(0, 1).allow(start));
}

TEST(WsRequestTest, ParsesRequestsAndNamesErrors) {
  auto subscribe = std::get<WsRequest>(parse_ws_request(R"({"type":"subscribe","channel":"a.b","since":"e:1","ref":7})"));
  EXPECT_EQ(subscribe.type, WsRequest::Type::Subscribe);
  EXPECT_EQ(subscribe.channel, "a.b");
  EXPECT_EQ(subscribe.since, "e:1");
  EXPECT_EQ(subscribe.ref, "7");
  auto auth = std::get<WsRequest>(parse_ws_request(R"({"type":"auth","token":"t","ref":"x"})"));
  EXPECT_EQ(auth.token, "t");
  EXPECT_EQ(auth.ref, R"("x")");
  const auto code = [](std::string_view text) { return std::get<WsRequestError>(parse_ws_request(text)).code; };
  EXPECT_EQ(code("{"), "bad_json");
  EXPECT_EQ(code("[1]"), "bad_request");
  EXPECT_EQ(code(R"({"type":"subscribe"})"), "bad_request");
  EXPECT_EQ(code(R"({"type":"subscribe","channel":"bad name"})"), "invalid_channel");
  EXPECT_EQ(code(R"({"type":"subscribe","channel":"a","since":1})"), "bad_request");
  EXPECT_EQ(code(R"({"type":"auth"})"), "bad_request");
  EXPECT_EQ(code(R"({"type":"nope","ref":{"a":1}})"), "unknown_type");
  EXPECT_EQ(std::get<WsRequestError>(parse_ws_request(R"({"type":"nope","ref":{"a":1}})")).ref, "");
}

TEST(SseRequestTest, ChannelsSortedAndStartFromHeaderFirst) {
  const auto target = parse_request_target("/sse?channel=b&channel=a&channel=b&since=e:1&last_event_id=e:2");
  ASSERT_TRUE(target);
  auto request = std::get<SseRequest>(parse_sse_request(*target, std::nullopt, 10));
  EXPECT_EQ(request.channels, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(request.since, "e:2");
  EXPECT_EQ(std::get<SseRequest>(parse_sse_request(*target, "e:3", 10)).since, "e:3");
  EXPECT_EQ(std::get<SseRequestError>(parse_sse_request(*target, std::nullopt, 1)).code, "too_many_subscriptions");
  EXPECT_EQ(std::get<SseRequestError>(parse_sse_request(*parse_request_target("/sse"), std::nullopt, 10)).code,
            "bad_request");
  EXPECT_EQ(std::get<SseRequestError>(parse_sse_request(*parse_request_target("/sse?channel=a%20b"), std::nullopt, 10)).code,
            "invalid_channel");
}

TEST(ChannelAuthTest, PresenceMemberFromTheToken) {
  authz::Claims claims = authz::Claims::from_payload({{"sub", "boss"}, {"name", "Bu Ani"}, {"role", "super_admin"}});
  EXPECT_EQ(presence_channel_data(claims), R"({"user_id":"boss","user_info":{"name":"Bu Ani"}})");
  claims = authz::Claims::from_payload({{"sub", "u1"}});
  EXPECT_EQ(presence_channel_data(claims), R"({"user_id":"u1","user_info":{}})");
}

TEST(ChannelAuthTest, TheTokensExpiryTravelsInTheSignedChannelData) {
  authz::Claims claims = authz::Claims::from_payload({{"sub", "k"}, {"exp", 1700000000}});
  EXPECT_EQ(private_channel_data(claims), R"({"kabar_exp":1700000000})");
  EXPECT_EQ(presence_channel_data(claims), R"({"kabar_exp":1700000000,"user_id":"k","user_info":{}})");
  EXPECT_EQ(signed_expiry(private_channel_data(claims)), 1700000000);
  EXPECT_EQ(signed_expiry(presence_channel_data(claims)), 1700000000);
  // No exp: no channel_data for a private channel, exactly Laravel's answer.
  EXPECT_EQ(private_channel_data(authz::Claims::from_payload({{"sub", "k"}})), "");
}

TEST(ChannelAuthTest, ChannelDataWithoutAnIntegerExpiryHasNone) {
  EXPECT_EQ(signed_expiry(""), std::nullopt);
  EXPECT_EQ(signed_expiry("not json"), std::nullopt);
  EXPECT_EQ(signed_expiry("[1]"), std::nullopt);
  EXPECT_EQ(signed_expiry(R"({"user_id":"1"})"), std::nullopt);
  EXPECT_EQ(signed_expiry(R"({"kabar_exp":"1700000000"})"), std::nullopt);
  EXPECT_EQ(signed_expiry(R"({"kabar_exp":1.5})"), std::nullopt);
}

}  // namespace
}  // namespace kabar
