// The protocol decisions PusherSession takes, one rule per test, through the pure parts it calls
// (shared/docs/pusher-protocol.md §9, the compatibility checklist): ping/pong (item 3), inbound data as
// an object or a JSON string (item 4), presence others-only, first join / last leave, cleanup on
// close and version dedupe (item 6), client-event rules (item 7), toOthers and app isolation (item 8),
// and fatal errors whose pusher:error code is the close code (item 11).
#include <memory>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "gateway/hub/frame.h"
#include "gateway/pusher/admission.h"
#include "gateway/pusher/channel_directory.h"
#include "gateway/pusher/channel_membership.h"
#include "gateway/pusher/client_event_policy.h"
#include "gateway/pusher/delivery_filter.h"
#include "gateway/pusher/inbound_message.h"
#include "gateway/pusher/protocol_frames.h"
#include "gateway/pusher/pusher_app.h"

namespace kabar {
namespace {
using nlohmann::json;
using namespace std::chrono_literals;

// The data of a pusher:error frame, parsed.
json error_data(const std::string& frame) {
  const json parsed = json::parse(frame);
  EXPECT_EQ(parsed["event"], "pusher:error");
  return json::parse(parsed["data"].get<std::string>());
}

// ---- item 3: ping / pong ----

TEST(PusherInbound, PingIsAnsweredWithPongAtOnce) {
  const InboundMessage ping = parse_inbound(R"({"event":"pusher:ping","data":{}})");
  EXPECT_EQ(ping.kind, InboundKind::Ping);
  EXPECT_EQ(direct_reply(ping), std::optional<std::string>(R"({"event":"pusher:pong"})"));
  EXPECT_FALSE(is_bad_message(ping));
}

TEST(PusherInbound, PongIsAcceptedAndNotAnswered) {
  const InboundMessage pong = parse_inbound(R"({"event":"pusher:pong","data":{}})");
  EXPECT_EQ(pong.kind, InboundKind::Pong);
  EXPECT_EQ(direct_reply(pong), std::nullopt);
  EXPECT_FALSE(is_bad_message(pong));
}

TEST(PusherInbound, MalformedMessagesGetError4200AndAreCountedAsBad) {
  for (const char* text : {"this is not json", R"({"no":"event"})", R"(["pusher:ping"])", R"({"event":7})"}) {
    const InboundMessage message = parse_inbound(text);
    EXPECT_EQ(message.kind, InboundKind::NoEvent) << text;
    EXPECT_TRUE(is_bad_message(message)) << text;
    ASSERT_TRUE(direct_reply(message)) << text;
    EXPECT_EQ(error_data(*direct_reply(message)),
              json::parse(R"({"code":4200,"message":"Invalid message format"})"));
  }
}

TEST(PusherInbound, UnknownEventsGetError4200NamingTheEvent) {
  const InboundMessage message = parse_inbound(R"({"event":"pusher:nonsense","data":{}})");
  EXPECT_EQ(message.kind, InboundKind::Unsupported);
  EXPECT_TRUE(is_bad_message(message));
  EXPECT_EQ(error_data(*direct_reply(message))["message"], R"(Unsupported event "pusher:nonsense")");
}

TEST(PusherInbound, SessionHandledKindsHaveNoDirectReply) {
  EXPECT_EQ(parse_inbound(R"({"event":"pusher:subscribe","data":{"channel":"a"}})").kind,
            InboundKind::Subscribe);
  EXPECT_EQ(parse_inbound(R"({"event":"pusher:unsubscribe","data":{"channel":"a"}})").kind,
            InboundKind::Unsubscribe);
  EXPECT_EQ(parse_inbound(R"({"event":"client-typing","channel":"private-a"})").kind,
            InboundKind::ClientEvent);
  for (const char* text : {R"({"event":"pusher:subscribe"})", R"({"event":"client-x"})"})
    EXPECT_EQ(direct_reply(parse_inbound(text)), std::nullopt) << text;
}

// ---- item 4: data as an object or as a JSON string ----

TEST(PusherInbound, DataAsObjectAndDataAsJsonStringGiveTheSameValue) {
  const json as_object =
      parse_inbound(R"({"event":"pusher:subscribe","data":{"auth":"","channel":"d.1"}})").data;
  const json as_string =
      parse_inbound(R"({"event":"pusher:subscribe","data":"{\"auth\":\"\",\"channel\":\"d.1\"}"})").data;
  EXPECT_EQ(as_object, as_string);
  EXPECT_EQ(*string_member(as_string, "channel"), "d.1");
}

TEST(PusherInbound, DataThatIsAPlainStringStaysAString) {
  EXPECT_EQ(data_of(json::parse(R"({"data":"hello"})")), json("hello"));
  EXPECT_EQ(data_of(json::parse(R"({"data":"{broken"})")), json("{broken"));
}

TEST(PusherInbound, MissingDataIsAnEmptyObject) {
  EXPECT_EQ(data_of(json::parse(R"({"event":"pusher:ping"})")), json::object());
  EXPECT_EQ(data_of(json::parse(R"({"data":null})")), json(nullptr));
}

TEST(PusherInbound, StringMemberIgnoresOtherTypes) {
  const json object = json::parse(R"({"s":"x","n":1,"o":{}})");
  EXPECT_EQ(*string_member(object, "s"), "x");
  EXPECT_EQ(string_member(object, "n"), nullptr);
  EXPECT_EQ(string_member(object, "missing"), nullptr);
  EXPECT_EQ(string_member(json("x"), "s"), nullptr);
}

// ---- presence identity (channel_data) ----

TEST(PusherPresenceIdentity, StringAndIntegerUserIdsAreKeptAsWritten) {
  const auto text = presence_identity(R"({"user_id":"1","user_info":{"name":"Ana"}})");
  ASSERT_TRUE(text);
  EXPECT_EQ(text->user_key, "1");
  EXPECT_EQ(text->user_id_json, R"("1")");
  EXPECT_EQ(text->user_info_json, R"({"name":"Ana"})");
  const auto number = presence_identity(R"({"user_id":2})");
  ASSERT_TRUE(number);
  EXPECT_EQ(number->user_key, "2");
  EXPECT_EQ(number->user_id_json, "2");
  EXPECT_EQ(number->user_info_json, "");
}

TEST(PusherPresenceIdentity, ChannelDataWithoutAUsableUserIdIsRefused) {
  for (const char* text : {"", "not json", "[]", R"({"user_info":{}})", R"({"user_id":""})",
                           R"({"user_id":1.5})", R"({"user_id":null})", R"({"user_id":{"a":1}})"})
    EXPECT_EQ(presence_identity(text), std::nullopt) << text;
}

// ---- item 6: presence, through channel membership ----

PresenceIdentity user(const std::string& id) {
  return *presence_identity(R"({"user_id":")" + id + R"(","user_info":{"name":"u)" + id + R"("}})");
}

TEST(PusherMembership, FirstSubscriberOccupiesTheChannelAndGetsPlainSuccess) {
  PusherApp app(PusherAppConfig{"a", "k", "s"});
  const JoinOutcome first = join_channel(app, "dokumen.1", nullptr);
  EXPECT_TRUE(first.occupied);
  EXPECT_EQ(first.reply, pusher_frame::subscription_succeeded("dokumen.1"));
  EXPECT_FALSE(first.member_added);
  EXPECT_FALSE(join_channel(app, "dokumen.1", nullptr).occupied);
}

TEST(PusherMembership, ANewMemberIsAnnouncedToTheOthersAndSeesEveryoneInItsSnapshot) {
  PusherApp app(PusherAppConfig{"a", "k", "s"});
  const PresenceIdentity ana = user("1"), budi = user("2");
  const JoinOutcome first = join_channel(app, "presence-room", &ana);
  ASSERT_TRUE(first.member_added);
  const JoinOutcome second = join_channel(app, "presence-room", &budi);
  ASSERT_TRUE(second.member_added);
  EXPECT_EQ(
      second.member_added->frame,
      R"({"event":"pusher_internal:member_added","data":"{\"user_id\":\"2\",\"user_info\":{\"name\":\"u2\"}}","channel":"presence-room"})");
  EXPECT_EQ(second.member_added->user_key, "2");
  const json reply = json::parse(second.reply);
  const json presence = json::parse(reply["data"].get<std::string>())["presence"];
  EXPECT_EQ(presence["ids"], json::parse(R"(["1","2"])"));
  EXPECT_EQ(presence["count"], 2);
  EXPECT_EQ(presence["hash"]["2"]["name"], "u2");  // the subscriber itself is in the hash
  // The newcomer's snapshot already covers its own arrival.
  EXPECT_EQ(second.snapshot_version, second.member_added->version);
  EXPECT_GT(second.member_added->version, first.member_added->version);
}

TEST(PusherMembership, ASecondConnectionOfTheSameUserIsNotAnnounced) {
  PusherApp app(PusherAppConfig{"a", "k", "s"});
  const PresenceIdentity ana = user("1");
  join_channel(app, "presence-room", &ana);
  const JoinOutcome tab = join_channel(app, "presence-room", &ana);
  EXPECT_FALSE(tab.member_added);
  EXPECT_EQ(json::parse(json::parse(tab.reply)["data"].get<std::string>())["presence"]["count"], 1);
}

TEST(PusherMembership, OnlyTheLastConnectionOfAUserLeavingIsAnnounced) {
  PusherApp app(PusherAppConfig{"a", "k", "s"});
  const PresenceIdentity ana = user("1");
  join_channel(app, "presence-room", &ana);
  join_channel(app, "presence-room", &ana);
  const LeaveOutcome first_tab = leave_channel(app, "presence-room", ChannelKind::Presence, "1");
  EXPECT_FALSE(first_tab.member_removed);
  EXPECT_FALSE(first_tab.vacated);
  const LeaveOutcome last_tab = leave_channel(app, "presence-room", ChannelKind::Presence, "1");
  ASSERT_TRUE(last_tab.member_removed);
  EXPECT_EQ(
      last_tab.member_removed->frame,
      R"({"event":"pusher_internal:member_removed","data":"{\"user_id\":\"1\"}","channel":"presence-room"})");
  EXPECT_TRUE(last_tab.vacated);
}

// A closing socket leaves every channel it held through leave_channel: afterwards nothing of it is left
// in the app, and the others were told of each member it was.
TEST(PusherMembership, CleanupOnCloseLeavesNothingBehind) {
  PusherApp app(PusherAppConfig{"a", "k", "s"});
  const PresenceIdentity ana = user("1"), budi = user("2");
  join_channel(app, "presence-room", &budi);  // another connection stays
  join_channel(app, "presence-room", &ana);
  join_channel(app, "presence-other", &ana);
  join_channel(app, "dokumen.1", nullptr);
  int removed = 0, vacated = 0;
  for (const auto& [channel, kind] :
       {std::pair{"presence-room", ChannelKind::Presence}, std::pair{"presence-other", ChannelKind::Presence},
        std::pair{"dokumen.1", ChannelKind::Public}}) {
    const LeaveOutcome left = leave_channel(app, channel, kind, "1");
    removed += left.member_removed ? 1 : 0;
    vacated += left.vacated ? 1 : 0;
  }
  EXPECT_EQ(removed, 2);
  EXPECT_EQ(vacated, 2);  // presence-room still has Budi
  EXPECT_EQ(app.users("presence-room"), std::vector<std::string>{"2"});
  EXPECT_TRUE(app.users("presence-other").empty());
  EXPECT_FALSE(app.channel("presence-other"));
  EXPECT_FALSE(app.channel("dokumen.1"));
  EXPECT_EQ(app.local_members().size(), 1u);
}

TEST(PusherMembership, LeavingAChannelNeverJoinedChangesNothing) {
  PusherApp app(PusherAppConfig{"a", "k", "s"});
  const LeaveOutcome left = leave_channel(app, "presence-room", ChannelKind::Presence, "1");
  EXPECT_FALSE(left.member_removed);
  EXPECT_FALSE(left.vacated);
}

// ---- items 6, 7: who gets a relayed frame ----

RelayedFrame relayed(std::string except, std::uint64_t version = 0) {
  RelayedFrame frame;
  frame.app_id = "a";
  frame.channel = "presence-room";
  frame.text = "{}";
  frame.except_socket_id = std::move(except);
  frame.presence_version = version;
  return frame;
}

TEST(PusherDelivery, AClientEventIsNeverEchoedToItsSender) {
  EXPECT_FALSE(relayed_frame_wanted(relayed("1.1"), "1.1", 0));
  EXPECT_TRUE(relayed_frame_wanted(relayed("1.1"), "1.2", 0));
}

TEST(PusherDelivery, AMemberIsNotToldOfItself) {
  EXPECT_FALSE(relayed_frame_wanted(relayed("1.1", 5), "1.1", 0));
}

TEST(PusherDelivery, OnlySubscribersOfTheChannelGetRelayedFrames) {
  EXPECT_FALSE(relayed_frame_wanted(relayed("1.1"), "1.2", std::nullopt));
}

TEST(PusherDelivery, MemberEventsTheSnapshotCoversAreDropped) {
  EXPECT_FALSE(relayed_frame_wanted(relayed("1.1", 4), "1.2", 5));
  EXPECT_FALSE(relayed_frame_wanted(relayed("1.1", 5), "1.2", 5));
  EXPECT_TRUE(relayed_frame_wanted(relayed("1.1", 6), "1.2", 5));
  // Members of other nodes (cluster link) have no sender socket.
  EXPECT_TRUE(relayed_frame_wanted(relayed("", 6), "1.2", 5));
}

TEST(PusherDelivery, ClientEventsIgnoreTheSnapshotVersion) {
  EXPECT_TRUE(relayed_frame_wanted(relayed("1.1", 0), "1.2", 99));
}

// ---- item 8: toOthers, and app isolation ----

// A Frame is made once and shared, never copied or moved (it caches its wire forms).
std::unique_ptr<Frame> event(std::string socket_id, std::string app) {
  auto frame = std::make_unique<Frame>();
  frame->channel = "dokumen.1";
  frame->socket_id = std::move(socket_id);
  frame->app = std::move(app);
  frame->pusher = "{}";
  return frame;
}

TEST(PusherDelivery, ToOthersSkipsOnlyThePublishersSocket) {
  EXPECT_FALSE(event_frame_wanted(*event("1.1", ""), "1.1", "a"));
  EXPECT_TRUE(event_frame_wanted(*event("1.1", ""), "1.2", "a"));
  EXPECT_TRUE(event_frame_wanted(*event("", ""), "1.1", "a"));
}

TEST(PusherDelivery, AnEventOfAnotherAppIsNotDelivered) {
  EXPECT_TRUE(event_frame_wanted(*event("", "a"), "1.1", "a"));
  EXPECT_FALSE(event_frame_wanted(*event("", "b"), "1.1", "a"));
  EXPECT_FALSE(event_frame_wanted(*event("", "a"), "1.1", ""));  // a session without an app
  EXPECT_TRUE(event_frame_wanted(*event("", ""), "1.1", "a"));   // MQTT events reach every app
}

// ---- item 7: client-event rules ----

ClientEventFacts whisper(std::string_view channel) {
  ClientEventFacts facts;
  facts.event = "client-typing";
  facts.channel = channel;
  facts.sender_subscribed = true;
  facts.data_bytes = 2;
  return facts;
}

TEST(PusherClientEvents, AllowedOnPrivateAndPresenceChannels) {
  EXPECT_EQ(client_event_refusal(whisper("private-chat.1")), std::nullopt);
  EXPECT_EQ(client_event_refusal(whisper("presence-chat.1")), std::nullopt);
  EXPECT_EQ(client_event_refusal(whisper("private-cache-chat.1")), std::nullopt);
  EXPECT_EQ(client_event_refusal(whisper("presence-cache-chat.1")), std::nullopt);
}

TEST(PusherClientEvents, RefusedOnPublicAndPrivateEncryptedChannelsWith4301) {
  for (const char* channel :
       {"chat.1", "cache-chat.1", "private-encrypted-chat.1", "private-encrypted-cache-x"}) {
    const auto refusal = client_event_refusal(whisper(channel));
    ASSERT_TRUE(refusal) << channel;
    EXPECT_EQ(refusal->code, 4301) << channel;
    EXPECT_EQ(refusal->message, "Client events are only allowed on private and presence channels.");
  }
}

TEST(PusherClientEvents, RefusedWhenTheAppDisabledThem) {
  ClientEventFacts facts = whisper("private-chat.1");
  facts.client_messages_enabled = false;
  const auto refusal = client_event_refusal(facts);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->code, 4301);
  EXPECT_EQ(refusal->message, "The app does not have client messaging enabled.");
}

TEST(PusherClientEvents, ANonMemberIsRefusedWith4009) {
  ClientEventFacts facts = whisper("private-chat.1");
  facts.sender_subscribed = false;
  const auto refusal = client_event_refusal(facts);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->code, 4009);
}

TEST(PusherClientEvents, EventNamesUpTo200BytesPass) {
  const std::string at_limit = "client-" + std::string(200 - 7, 'x');
  const std::string over = at_limit + "x";
  ClientEventFacts facts = whisper("private-chat.1");
  facts.event = at_limit;
  EXPECT_EQ(client_event_refusal(facts), std::nullopt);
  facts.event = over;
  const auto refusal = client_event_refusal(facts);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->code, 4301);
  EXPECT_EQ(refusal->message, "Event names are at most 200 bytes.");
}

TEST(PusherClientEvents, DataUpTo10KBPasses) {
  ClientEventFacts facts = whisper("private-chat.1");
  facts.data_bytes = 10 * 1024;
  EXPECT_EQ(client_event_refusal(facts), std::nullopt);
  facts.data_bytes = 10 * 1024 + 1;
  const auto refusal = client_event_refusal(facts);
  ASSERT_TRUE(refusal);
  EXPECT_EQ(refusal->code, 4301);
  EXPECT_EQ(refusal->message, "Client event data is over 10 KB.");
}

TEST(PusherClientEvents, TheAppSwitchIsCheckedFirst) {
  ClientEventFacts facts = whisper("chat.1");
  facts.client_messages_enabled = false;
  facts.sender_subscribed = false;
  EXPECT_EQ(client_event_refusal(facts)->message, "The app does not have client messaging enabled.");
}

TEST(PusherClientEvents, TenPerSecondThenRefusedUntilTheWindowEnds) {
  ClientEventRate rate;
  const auto t0 = ClientEventRate::Clock::time_point{} + 100s;
  for (int i = 0; i < kClientEventsPerSecond; ++i) EXPECT_TRUE(rate.take(t0 + i * 10ms)) << i;
  EXPECT_FALSE(rate.take(t0 + 500ms));
  EXPECT_FALSE(rate.take(t0 + 999ms));
  EXPECT_TRUE(rate.take(t0 + 1000ms));  // a new window
  EXPECT_EQ(client_event_rate_exceeded().code, 4301);
}

TEST(PusherClientEvents, UserIdIsAddedOnPresenceChannelsOnly) {
  EXPECT_EQ(client_event_user(ChannelKind::Presence, "7"), "7");
  EXPECT_EQ(client_event_user(ChannelKind::Private, "7"), "");
  EXPECT_EQ(pusher_frame::client_event("client-typing", "presence-r", R"({"a":1})",
                                       client_event_user(ChannelKind::Presence, "7")),
            R"({"event":"client-typing","channel":"presence-r","data":{"a":1},"user_id":"7"})");
  EXPECT_EQ(pusher_frame::client_event("client-typing", "private-r", R"({"a":1})",
                                       client_event_user(ChannelKind::Private, "7")),
            R"({"event":"client-typing","channel":"private-r","data":{"a":1}})");
}

// ---- item 11: refusals and close codes ----

AdmissionFacts good_connection() {
  AdmissionFacts facts;
  facts.app_known = true;
  facts.protocol = "7";
  return facts;
}

TEST(PusherAdmission, AGoodConnectionIsLetIn) {
  EXPECT_EQ(admission_refusal(good_connection()), std::nullopt);
  AdmissionFacts no_protocol = good_connection();
  no_protocol.protocol.reset();  // missing is fine
  EXPECT_EQ(admission_refusal(no_protocol), std::nullopt);
}

TEST(PusherAdmission, UnknownAppIs4001) {
  AdmissionFacts facts = good_connection();
  facts.app_known = false;
  EXPECT_EQ(admission_refusal(facts)->code, 4001);
  EXPECT_EQ(admission_refusal(facts)->message, "Application does not exist");
}

TEST(PusherAdmission, ProtocolNotANumberIs4006AndOutside4To7Is4007) {
  for (const char* bad : {"abc", "", "7a", "7.0", " 7"})
    EXPECT_EQ(protocol_refusal(std::string(bad))->code, 4006) << bad;
  for (const char* unsupported : {"3", "8", "0", "-1"})
    EXPECT_EQ(protocol_refusal(std::string(unsupported))->code, 4007) << unsupported;
  for (const char* fine : {"4", "5", "6", "7"})
    EXPECT_EQ(protocol_refusal(std::string(fine)), std::nullopt) << fine;
  EXPECT_EQ(protocol_refusal(std::nullopt), std::nullopt);
}

TEST(PusherAdmission, RefusedOriginIs4009AndShutdownIs4200) {
  AdmissionFacts origin = good_connection();
  origin.origin_allowed = false;
  EXPECT_EQ(admission_refusal(origin)->code, 4009);
  AdmissionFacts closing = good_connection();
  closing.shutting_down = true;
  EXPECT_EQ(admission_refusal(closing)->code, 4200);
  EXPECT_EQ(over_quota().code, 4004);
}

TEST(PusherAdmission, ChecksRunInTheDocumentedOrder) {
  AdmissionFacts everything_wrong;
  everything_wrong.protocol = "abc";
  everything_wrong.origin_allowed = false;
  everything_wrong.shutting_down = true;
  EXPECT_EQ(admission_refusal(everything_wrong)->code, 4001);
  everything_wrong.app_known = true;
  EXPECT_EQ(admission_refusal(everything_wrong)->code, 4006);
  everything_wrong.protocol = "7";
  EXPECT_EQ(admission_refusal(everything_wrong)->code, 4009);
  everything_wrong.origin_allowed = true;
  EXPECT_EQ(admission_refusal(everything_wrong)->code, 4200);
}

// The session closes with PusherError::code after sending PusherError::frame(): one value, so the
// code pusher-js reads in the error and the close code it acts on are the same number.
TEST(PusherAdmission, TheErrorFrameCarriesTheCloseCode) {
  for (const PusherError& error :
       {over_quota(), server_closing(), PusherError{pusher_code::kAppDoesNotExist, "x"},
        PusherError{pusher_code::kSlowConsumer, "y"}}) {
    const json data = error_data(error.frame());
    EXPECT_EQ(data["code"], error.code);
    EXPECT_EQ(data["message"], error.message);
  }
  EXPECT_EQ(
      server_closing().frame(),
      R"({"event":"pusher:error","data":"{\"code\":4200,\"message\":\"Server is closing. Please reconnect shortly.\"}"})");
}

TEST(PusherAdmission, CodesFallInTheRangesThatDriveTheClient) {
  // 40xx: the client gives up; 41xx: it backs off; 42xx: it reconnects at once (§1.3).
  for (std::uint16_t code : {pusher_code::kAppDoesNotExist, pusher_code::kOverQuota, pusher_code::kBadVersion,
                             pusher_code::kUnsupportedProtocol, pusher_code::kUnauthorized})
    EXPECT_EQ(code / 100, 40) << code;
  EXPECT_EQ(pusher_code::kSlowConsumer / 100, 41);
  EXPECT_EQ(pusher_code::kReconnect / 100, 42);
}

TEST(PusherAdmission, ErrorsAboutAChannelNameIt) {
  const json frame = json::parse(PusherError{4301, "no"}.frame("private-a"));
  EXPECT_EQ(frame["channel"], "private-a");
}

// ---- the policy refusal of a public channel ----

TEST(PusherFramesPolicy, APolicyRefusalIsA403SubscriptionErrorWithTheReason) {
  EXPECT_EQ(
      pusher_frame::subscription_error("news.secret", "AuthError", "denied by rule x", 403, "denied"),
      R"({"event":"pusher:subscription_error","channel":"news.secret","data":{"type":"AuthError","error":"denied by rule x","status":403,"reason":"denied"}})");
  // Without a reason the frame stays Soketi's.
  EXPECT_EQ(
      json::parse(pusher_frame::subscription_error("c", "AuthError", "m", 401))["data"].contains("reason"),
      false);
}

}  // namespace
}  // namespace kabar
