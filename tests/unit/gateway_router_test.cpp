// The router (gateway/http/router.h) and the one refusal shape (gateway/http/refusal.h): which door a
// path reaches, and what the router answers itself (405, 404, the preflight of a browser door), byte for
// byte as the doors answered before they were split. End to end: every tests/e2e suite goes through it.
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "gateway/http/refusal.h"
#include "gateway/http/router.h"

namespace kabar {
namespace {
namespace http = boost::beast::http;

// An Exchange that records what the router and the door did with it.
class FakeExchange : public Exchange {
 public:
  explicit FakeExchange(std::string path, bool origin_ok = true) : origin_ok_(origin_ok) {
    target_.path = std::move(path);
  }
  const RequestTarget& target() const override { return target_; }
  const std::string& peer() const override { return peer_; }
  std::size_t shard() const override { return 0; }
  void send(HttpResponse&& response) override { sent.push_back(std::move(response)); }
  std::function<void(HttpResponse&&)> reply_later() override {
    return [this](HttpResponse&& response) { send(std::move(response)); };
  }
  bool check_origin(std::string_view door) override {
    origin_checked_for = std::string(door);
    return origin_ok_;
  }
  void allow_cross_origin() override { cross_origin = true; }
  std::string cors_header_lines() const override { return {}; }
  boost::beast::tcp_stream release_stream() override { throw std::logic_error("no socket in this test"); }
  void hand_over(const std::shared_ptr<const void>&) override {}

  std::vector<HttpResponse> sent;
  bool cross_origin = false;
  std::string origin_checked_for;

 private:
  RequestTarget target_;
  std::string peer_ = "127.0.0.1";
  bool origin_ok_;
};

HttpRequest request(http::verb method, const std::string& path) { return HttpRequest{method, path, 11}; }

// A handler that answers 200 with its name, so a test sees which route took the request.
RouteHandler named(const std::string& name) {
  return [name](HttpRequest&&, Exchange& exchange) { exchange.send(json_response(200, name)); };
}

std::string dispatch(const Router& router, http::verb method, const std::string& path) {
  FakeExchange exchange(path);
  router.dispatch(request(method, path), exchange);
  return exchange.sent.size() == 1 ? exchange.sent.front().body()
                                   : "<" + std::to_string(exchange.sent.size()) + " answers>";
}

TEST(RouterTest, ExactPathsWinOverPrefixesAndLongerPrefixesOverShorterOnes) {
  Router router;
  router.exact("/pusher/auth", RouteRules::any_method(), named("auth"));
  router.prefix("/pusher/", RouteRules::any_method(), named("pusher"));
  router.prefix("/pusher/auth/", RouteRules::any_method(), named("auth with key"));
  router.fallback(RouteRules::reads(), named("site"));
  EXPECT_EQ(dispatch(router, http::verb::post, "/pusher/auth"), "auth");
  EXPECT_EQ(dispatch(router, http::verb::post, "/pusher/auth/app-key"), "auth with key");
  EXPECT_EQ(dispatch(router, http::verb::post, "/pusher/other"), "pusher");
  EXPECT_EQ(dispatch(router, http::verb::get, "/pusher"), "site");
  EXPECT_EQ(dispatch(router, http::verb::get, "/"), "site");
}

TEST(RouterTest, APrefixTakesThePrefixItself) {
  Router router;
  router.prefix("/app/", RouteRules::any_method(), named("pusher socket"));
  EXPECT_EQ(dispatch(router, http::verb::get, "/app/"), "pusher socket");  // an empty key: 4001 on the socket
  EXPECT_EQ(dispatch(router, http::verb::get, "/apps/1/events"),
            R"({"error":"not_found","message":"no such endpoint or page: /apps/1/events"})");
}

TEST(RouterTest, AMethodTheRouteDoesNotTakeIs405WithTheRoutesMessage) {
  Router router;
  router.exact("/healthz", RouteRules::reads(), named("health"));
  router.exact("/pusher/auth", RouteRules{{http::verb::post}, "POST the socket_id and channel_name", true},
               named("auth"));
  router.fallback(RouteRules::reads(), named("site"));
  EXPECT_EQ(dispatch(router, http::verb::head, "/healthz"), "health");
  EXPECT_EQ(dispatch(router, http::verb::post, "/healthz"),
            R"({"error":"method_not_allowed","message":"only GET is served here"})");
  EXPECT_EQ(dispatch(router, http::verb::delete_, "/no/such/page"),
            R"({"error":"method_not_allowed","message":"only GET is served here"})");
  EXPECT_EQ(dispatch(router, http::verb::get, "/pusher/auth"),
            R"({"error":"method_not_allowed","message":"POST the socket_id and channel_name"})");
  FakeExchange exchange("/healthz");
  router.dispatch(request(http::verb::put, "/healthz"), exchange);
  ASSERT_EQ(exchange.sent.size(), 1u);
  EXPECT_EQ(exchange.sent.front().result(), http::status::method_not_allowed);
  EXPECT_EQ(exchange.sent.front()[http::field::content_type], "application/json");
}

TEST(RouterTest, AnyMethodRoutesLeaveTheMethodToTheDoor) {
  Router router;
  router.exact("/ws", RouteRules::any_method(), named("ws"));
  EXPECT_EQ(dispatch(router, http::verb::post, "/ws"), "ws");
  EXPECT_EQ(dispatch(router, http::verb::options, "/ws"), "ws");  // not a browser door: no preflight
}

TEST(RouterTest, BrowserDoorsGetCorsOnEveryAnswerAndTheirPreflightAnswered) {
  Router router;
  router.exact("/sse", RouteRules::browser_reads(), named("sse"));
  router.exact("/healthz", RouteRules::reads(), named("health"));

  FakeExchange refused_method("/sse");
  router.dispatch(request(http::verb::post, "/sse"), refused_method);
  EXPECT_TRUE(refused_method.cross_origin);  // a page may read why it was refused
  EXPECT_EQ(refused_method.sent.at(0).result(), http::status::method_not_allowed);

  FakeExchange preflight("/sse");
  router.dispatch(request(http::verb::options, "/sse"), preflight);
  EXPECT_EQ(preflight.origin_checked_for, "preflight");
  ASSERT_EQ(preflight.sent.size(), 1u);
  const HttpResponse& answer = preflight.sent.front();
  EXPECT_EQ(answer.result(), http::status::no_content);
  EXPECT_EQ(answer[http::field::access_control_allow_methods], "GET, POST, OPTIONS");
  EXPECT_EQ(answer[http::field::access_control_allow_headers],
            "Authorization, Content-Type, Last-Event-ID, X-Requested-With, X-CSRF-TOKEN, X-Socket-ID");
  EXPECT_EQ(answer[http::field::access_control_max_age], "600");

  FakeExchange foreign("/sse", /*origin_ok=*/false);  // the session itself answered 403 origin_not_allowed
  router.dispatch(request(http::verb::options, "/sse"), foreign);
  EXPECT_TRUE(foreign.sent.empty());

  FakeExchange plain("/healthz");
  router.dispatch(request(http::verb::get, "/healthz"), plain);
  EXPECT_FALSE(plain.cross_origin);
}

TEST(RouterTest, NothingTakesAPathWithoutAFallback) {
  Router router;
  FakeExchange exchange("/nowhere");
  router.dispatch(request(http::verb::get, "/nowhere"), exchange);
  ASSERT_EQ(exchange.sent.size(), 1u);
  EXPECT_EQ(exchange.sent.front().result(), http::status::not_found);
}

TEST(RouterTest, ARouteRegisteredTwiceIsAWiringMistake) {
  Router router;
  router.exact("/ws", RouteRules::any_method(), named("ws"));
  router.prefix("/app/", RouteRules::any_method(), named("app"));
  router.fallback(RouteRules::reads(), named("site"));
  EXPECT_THROW(router.exact("/ws", RouteRules::any_method(), named("again")), std::logic_error);
  EXPECT_THROW(router.prefix("/app/", RouteRules::any_method(), named("again")), std::logic_error);
  EXPECT_THROW(router.fallback(RouteRules::reads(), named("again")), std::logic_error);
}

TEST(RefusedTest, PlainRefusalsSayErrorAndMessage) {
  const HttpResponse response =
      refused_response(Refused::plain(426, "upgrade_required", "/ws is a WebSocket endpoint"));
  EXPECT_EQ(response.result(), http::status::upgrade_required);
  EXPECT_EQ(response.body(), R"({"error":"upgrade_required","message":"/ws is a WebSocket endpoint"})");
  EXPECT_EQ(response[http::field::content_type], "application/json");
  EXPECT_EQ(response.count(http::field::www_authenticate), 0u);
  // A plain 401 (the demo's) does not advertise bearer tokens: it always did without.
  EXPECT_EQ(refused_response(Refused::plain(401, "invalid_token", "expired: ..."))
                .count(http::field::www_authenticate),
            0u);
}

TEST(RefusedTest, AuthorizationRefusalsAddReasonChannelAndWwwAuthenticate) {
  const HttpResponse forbidden = refused_response(
      Refused::authorization(403, "forbidden_channel", "no_rule", "no rule allows read", "private-cabang.3"));
  EXPECT_EQ(
      forbidden.body(),
      R"({"channel":"private-cabang.3","error":"forbidden_channel","message":"no rule allows read","reason":"no_rule"})");
  EXPECT_EQ(forbidden.count(http::field::www_authenticate), 0u);

  const HttpResponse expired =
      refused_response(Refused::authorization(401, "invalid_token", "expired", "token expired"));
  EXPECT_EQ(expired.body(), R"({"error":"invalid_token","message":"token expired","reason":"expired"})");
  EXPECT_EQ(expired[http::field::www_authenticate], R"(Bearer error="invalid_token")");
  EXPECT_EQ(refused_response(Refused::authorization(401, "token_required", "token_required",
                                                    "send one"))[http::field::www_authenticate],
            "Bearer");
}

TEST(RefusedTest, InvalidUtf8InAMessageIsReplacedNotThrown) {
  const std::string body = refused_body(Refused::plain(400, "invalid_channel", std::string("bad \xff name")));
  EXPECT_EQ(nlohmann::json::parse(body)["message"], "bad \xEF\xBF\xBD name");
}

}  // namespace
}  // namespace kabar
