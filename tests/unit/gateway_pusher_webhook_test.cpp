// Webhook bodies and signatures (shared/docs/pusher-protocol.md §7 and the §8 vector), event objects
// of each kind, and webhook URLs.
#include <gtest/gtest.h>

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
  EXPECT_FALSE(WebhookUrl::parse("https://app.test/hook"));
  EXPECT_FALSE(WebhookUrl::parse("http://:80/x"));
  EXPECT_FALSE(WebhookUrl::parse("ftp://x"));
  EXPECT_FALSE(WebhookUrl::parse("http://user:pw@app.test/hook"));  // userinfo would pass for the host
}

}  // namespace
}  // namespace kabar
