// Webhook bodies and signatures (shared/docs/pusher-protocol.md §7 and the §8 vector), event objects
// of each kind, webhook URLs (http and https), and the TLS settings of https receivers. Over a real https
// receiver: tests/e2e/webhooks_https.test.mjs.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "gateway/pusher/signature.h"
#include "gateway/pusher/webhook_post.h"
#include "gateway/pusher/webhook_sender.h"

namespace kabar {
namespace {
using nlohmann::json;

TEST(PusherWebhook, BodyAndSignatureOfTheTestVector) {
  const std::string body = WebhookSender::body_json(
      1327078148132,
      {WebhookSender::event_json(WebhookEvent::about_channel("channel_occupied", "my-channel"))});
  EXPECT_EQ(body,
            R"({"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"my-channel"}]})");
  EXPECT_EQ(hmac_sha256_hex("7ad3773142a6692b25b8", body),
            "c19001ae3963ccb13bf618e5b16ba9848e7e74df0993aa0689168e341c6833cf");
}

TEST(PusherWebhook, EventObjects) {
  EXPECT_EQ(
      json::parse(WebhookSender::event_json(WebhookEvent::about_member("member_added", "presence-a", "1"))),
      json::parse(R"({"name":"member_added","channel":"presence-a","user_id":"1"})"));
  const json client = json::parse(WebhookSender::event_json(
      WebhookEvent::client_event("private-chat", "client-typing", R"({"typing":true})", "1.2", "")));
  EXPECT_EQ(client, json::parse(R"({"name":"client_event","channel":"private-chat","event":"client-typing",
                                   "data":"{\"typing\":true}","socket_id":"1.2"})"));
  EXPECT_FALSE(client.contains("user_id"));
  EXPECT_EQ(WebhookSender::body_json(1, {}), R"({"time_ms":1,"events":[]})");
}

TEST(PusherWebhook, Urls) {
  auto url = WebhookUrl::parse("http://hooks.internal:9000/pusher/webhook?x=1");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "hooks.internal");
  EXPECT_EQ(url->port, "9000");
  EXPECT_EQ(url->target, "/pusher/webhook?x=1");
  url = WebhookUrl::parse("http://app.test");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->port, "80");
  EXPECT_EQ(url->target, "/");
  EXPECT_FALSE(url->tls);
  url = WebhookUrl::parse("https://app.test/hook");
  ASSERT_TRUE(url);
  EXPECT_TRUE(url->tls);
  EXPECT_EQ(url->port, "443");
  EXPECT_EQ(url->host_header(), "app.test");
  url = WebhookUrl::parse("https://[::1]:8443/hook?token=secret");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->host, "::1");
  EXPECT_EQ(url->host_header(), "[::1]:8443");
  EXPECT_EQ(url->loggable(), "https://[::1]:8443/hook");  // no query: receivers put tokens there
  url = WebhookUrl::parse("http://app.test:8080?x=1");
  ASSERT_TRUE(url);
  EXPECT_EQ(url->target, "/?x=1");
  EXPECT_EQ(url->host_header(), "app.test:8080");
  EXPECT_FALSE(WebhookUrl::parse("http://:80/x"));
  EXPECT_FALSE(WebhookUrl::parse("http://app.test:/x"));
  EXPECT_FALSE(WebhookUrl::parse("http://app.test:80a/x"));
  EXPECT_FALSE(WebhookUrl::parse("https://[::1/x"));
  EXPECT_FALSE(WebhookUrl::parse("ftp://x"));
  EXPECT_FALSE(WebhookUrl::parse("http://user:pw@app.test/hook"));  // userinfo would pass for the host
}

TEST(PusherWebhook, CaFiles) {
  EXPECT_NO_THROW(make_tls_context(""));  // the system's CAs
  EXPECT_THROW(make_tls_context("/nonexistent/ca.pem"), std::runtime_error);
  const std::string not_pem = testing::TempDir() + "kabar-not-a-ca.pem";
  std::ofstream(not_pem) << "not a certificate\n";
  EXPECT_THROW(make_tls_context(not_pem), std::runtime_error);
}

}  // namespace
}  // namespace kabar
