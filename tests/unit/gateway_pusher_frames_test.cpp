// The frames kabar sends to Pusher clients, against the bytes Laravel Reverb's test suite pins
// (shared/docs/pusher-protocol.md §10), and the shape pusher-js requires of the others (§2, §9).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "core/channel.h"
#include "gateway/hub/frame.h"
#include "gateway/pusher/protocol_frames.h"
#include "gateway/pusher/socket_id.h"

namespace kabar {
namespace {
using nlohmann::json;

TEST(PusherFrames, GoldenFramesOfReverb) {
  EXPECT_EQ(
      pusher_frame::subscription_succeeded("private-test-channel"),
      R"({"event":"pusher_internal:subscription_succeeded","data":"{}","channel":"private-test-channel"})");
  EXPECT_EQ(
      pusher_frame::member_added("presence-test-channel", "2", R"({"name":"Test User 2"})"),
      R"({"event":"pusher_internal:member_added","data":"{\"user_id\":2,\"user_info\":{\"name\":\"Test User 2\"}}","channel":"presence-test-channel"})");
  EXPECT_EQ(
      pusher_frame::member_removed("presence-test-channel", "3"),
      R"({"event":"pusher_internal:member_removed","data":"{\"user_id\":3}","channel":"presence-test-channel"})");
  EXPECT_EQ(pusher_frame::cache_miss("cache-test-channel"),
            R"({"event":"pusher:cache_miss","channel":"cache-test-channel"})");
  EXPECT_EQ(pusher_frame::pong(), R"({"event":"pusher:pong"})");
  EXPECT_EQ(pusher_frame::ping(), R"({"event":"pusher:ping"})");
  EXPECT_EQ(
      pusher_frame::error(4201, "Pong reply not received in time"),
      R"({"event":"pusher:error","data":"{\"code\":4201,\"message\":\"Pong reply not received in time\"}"})");
  EXPECT_EQ(
      pusher_frame::error(4009, "Connection is unauthorized"),
      R"({"event":"pusher:error","data":"{\"code\":4009,\"message\":\"Connection is unauthorized\"}"})");
  EXPECT_EQ(
      pusher_frame::error(4001, "Application does not exist"),
      R"({"event":"pusher:error","data":"{\"code\":4001,\"message\":\"Application does not exist\"}"})");
  EXPECT_EQ(pusher_frame::error(4009, "Origin not allowed"),
            R"({"event":"pusher:error","data":"{\"code\":4009,\"message\":\"Origin not allowed\"}"})");
  EXPECT_EQ(
      pusher_frame::error(4004, "Application is over connection quota"),
      R"({"event":"pusher:error","data":"{\"code\":4004,\"message\":\"Application is over connection quota\"}"})");
  EXPECT_EQ(
      pusher_frame::client_event("client-start-typing", "test-channel", R"({"id":123,"name":"Joe Dixon"})"),
      R"({"event":"client-start-typing","channel":"test-channel","data":{"id":123,"name":"Joe Dixon"}})");
}

TEST(PusherFrames, GoldenServerEventWithKabarsPosition) {
  Envelope envelope;
  envelope.event = R"(App\Events\TestEvent)";
  envelope.channel = "test-channel";
  envelope.data = R"("{\"foo\":\"bar\"}")";  // a REST publish keeps the publisher's string
  const std::string frame = encode_pusher_event(envelope, "e1:42");
  EXPECT_EQ(
      frame,
      R"({"event":"App\\Events\\TestEvent","data":"{\"foo\":\"bar\"}","channel":"test-channel","position":"e1:42"})");
  // Without kabar's extension it is Reverb's golden frame, byte for byte.
  EXPECT_EQ(frame.substr(0, frame.find(R"(,"position")")) + "}",
            R"({"event":"App\\Events\\TestEvent","data":"{\"foo\":\"bar\"}","channel":"test-channel"})");
}

TEST(PusherFrames, PublisherStringDataIsForwardedByteForByte) {
  // Laravel's json_encode escapes '/' and non-ASCII; the client must get exactly that string.
  const std::string laravel = R"({"url":"https:\/\/x.test\/d\/7","nama":"\u00c9va"})";
  Envelope envelope;
  envelope.event = "dokumen.updated";
  envelope.channel = "dokumen.7";
  envelope.data = json(laravel).dump();  // what the bridge stores for the REST path's JSON string
  const json frame = json::parse(encode_pusher_event(envelope, "e:1"));
  ASSERT_TRUE(frame["data"].is_string());
  EXPECT_EQ(frame["data"].get<std::string>(), laravel);
}

TEST(PusherFrames, MqttDataBecomesAJsonEncodedString) {
  Envelope envelope;
  envelope.event = "dokumen.updated";
  envelope.channel = "dokumen.7";
  envelope.data = R"({"dokumen":{"id":7,"status":"approved"}})";
  const json frame = json::parse(encode_pusher_event(envelope, "e:9"));
  EXPECT_EQ(frame["event"], "dokumen.updated");
  EXPECT_EQ(frame["channel"], "dokumen.7");
  EXPECT_EQ(frame["position"], "e:9");
  ASSERT_TRUE(frame["data"].is_string());
  EXPECT_EQ(json::parse(frame["data"].get<std::string>()), json::parse(envelope.data));
}

TEST(PusherFrames, EncodeFrameCarriesThePusherEncodingAndTheSocketToSkip) {
  StoredEvent event;
  event.seq = 5;
  event.envelope.id = "a1";
  event.envelope.event = "e";
  event.envelope.channel = "c";
  event.envelope.data = "[1,2]";
  event.envelope.socket_id = "1.2";
  event.envelope.app = "shop-a";
  const FramePtr frame = encode_frame(event, "ep");
  EXPECT_EQ(frame->socket_id, "1.2");
  EXPECT_EQ(frame->app, "shop-a");  // the only app whose sessions deliver it
  // The app is routing information, not part of what any client receives.
  EXPECT_EQ(frame->pusher, R"({"event":"e","data":"[1,2]","channel":"c","position":"ep:5:a1"})");
  EXPECT_EQ(frame->json.find("shop-a"), std::string::npos);
}

TEST(PusherFrames, ConnectionEstablishedHasSocketIdAndNonZeroActivityTimeout) {
  const json frame = json::parse(pusher_frame::connection_established("123.456", 30));
  EXPECT_EQ(frame["event"], "pusher:connection_established");
  ASSERT_TRUE(frame["data"].is_string());  // double-encoded, as pusher-js requires
  const json data = json::parse(frame["data"].get<std::string>());
  EXPECT_EQ(data["socket_id"], "123.456");
  EXPECT_EQ(data["activity_timeout"], 30);
}

TEST(PusherFrames, PresenceSubscriptionSucceededCarriesTheMembers) {
  const json frame = json::parse(pusher_frame::presence_subscription_succeeded(
      "presence-dokumen.7",
      R"({"ids":["1","2"],"hash":{"1":{"name":"Ana"},"2":{"name":"Budi"}},"count":2})"));
  EXPECT_EQ(frame["channel"], "presence-dokumen.7");
  const json data = json::parse(frame["data"].get<std::string>());
  EXPECT_EQ(data["presence"]["count"], 2);
  EXPECT_EQ(data["presence"]["hash"]["2"]["name"], "Budi");
}

TEST(PusherFrames, SubscriptionErrorInSoketisForm) {
  const json frame = json::parse(pusher_frame::subscription_error("private-x", "AuthError", "bad", 401));
  EXPECT_EQ(frame, json::parse(R"({"event":"pusher:subscription_error","channel":"private-x",
                                   "data":{"type":"AuthError","error":"bad","status":401}})"));
}

TEST(PusherFrames, ClientEventOnPresenceNamesTheSender) {
  const json frame =
      json::parse(pusher_frame::client_event("client-typing", "presence-d.7", R"({"typing":true})", "1"));
  EXPECT_EQ(frame["user_id"], "1");
  EXPECT_EQ(frame["data"]["typing"], true);
}

TEST(PusherFrames, ResetExtension) {
  const json frame = json::parse(pusher_frame::reset("dokumen.7", "history_pruned", "ep:10"));
  EXPECT_EQ(frame["event"], "kabar:reset");
  EXPECT_EQ(json::parse(frame["data"].get<std::string>())["reason"], "history_pruned");
}

TEST(PusherSocketId, MatchesWhatPusherHttpPhpAccepts) {
  SocketIdGenerator generator;
  const std::regex laravel(R"(^\d+\.\d+$)");
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    const std::string id = generator.next();
    EXPECT_TRUE(std::regex_match(id, laravel)) << id;
    EXPECT_TRUE(is_valid_socket_id(id)) << id;
    EXPECT_TRUE(seen.insert(id).second) << "duplicate " << id;
  }
}

TEST(PusherSocketId, NodesDiffer) {
  // Two gateway nodes on one broker must not hand out the same id (toOthers across nodes).
  std::set<std::uint32_t> nodes;
  for (int i = 0; i < 20; ++i) nodes.insert(SocketIdGenerator().node());
  EXPECT_GT(nodes.size(), 18u);
  EXPECT_EQ(SocketIdGenerator(7, 41).next(), "7.41");
}

TEST(PusherSocketId, Validation) {
  EXPECT_TRUE(is_valid_socket_id("1234.1234"));
  EXPECT_FALSE(is_valid_socket_id("1234"));
  EXPECT_FALSE(is_valid_socket_id(".1"));
  EXPECT_FALSE(is_valid_socket_id("1."));
  EXPECT_FALSE(is_valid_socket_id("1.2.3"));
  EXPECT_FALSE(is_valid_socket_id("a.1"));
  EXPECT_FALSE(is_valid_socket_id(""));
}

TEST(PusherChannels, KindsByPrefix) {
  EXPECT_EQ(channel_kind("dokumen.7"), ChannelKind::Public);
  EXPECT_EQ(channel_kind("private-dokumen.7"), ChannelKind::Private);
  EXPECT_EQ(channel_kind("private-encrypted-x"), ChannelKind::PrivateEncrypted);
  EXPECT_EQ(channel_kind("presence-dokumen.7"), ChannelKind::Presence);
  EXPECT_EQ(channel_kind("private-cache-x"), ChannelKind::Private);
  EXPECT_EQ(channel_kind("presence-cache-x"), ChannelKind::Presence);
  EXPECT_TRUE(is_cache_channel("cache-x"));
  EXPECT_TRUE(is_cache_channel("private-cache-x"));
  EXPECT_TRUE(is_cache_channel("private-encrypted-cache-x"));
  EXPECT_TRUE(is_cache_channel("presence-cache-x"));
  EXPECT_FALSE(is_cache_channel("cachex"));
  EXPECT_FALSE(is_valid_channel_name("#server-to-user-1"));
  EXPECT_FALSE(is_valid_channel_name(std::string(165, 'a')));
  EXPECT_TRUE(is_valid_channel_name(std::string(164, 'a')));
  EXPECT_TRUE(is_valid_channel_name("a-Z_0=9@,.;"));
}

}  // namespace
}  // namespace kabar
