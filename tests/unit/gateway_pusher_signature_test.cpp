// Every test vector of shared/docs/pusher-protocol.md §8: channel authorizations, user signin, REST
// request signatures with body_md5, and webhook signatures. Credentials are the Pusher docs' own.
#include <gtest/gtest.h>

#include "gateway/pusher/rest_auth.h"
#include "gateway/pusher/signature.h"

namespace kabar {
namespace {

constexpr const char* kKey = "278d425bdf160c739803";
constexpr const char* kSecret = "7ad3773142a6692b25b8";
constexpr const char* kSocket = "1234.1234";

TEST(PusherSignature, PrivateChannelDocsExample) {
  EXPECT_EQ(channel_auth_message(kSocket, "private-foobar"), "1234.1234:private-foobar");
  EXPECT_EQ(channel_auth(kKey, kSecret, kSocket, "private-foobar"),
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4");
}

TEST(PusherSignature, UserSigninDocsExample) {
  EXPECT_EQ(hmac_sha256_hex(kSecret, R"(1234.1234::user::{"id":"12345"})"),
            "4708d583dada6a56435fb8bc611c77c359a31eebde13337c16ab43aa6de336ba");
}

TEST(PusherSignature, PresenceChannelDocsRubyExampleRecomputed) {
  // The docs print afaed369...304c for this input; that value does not come out of it (§8).
  const std::string channel_data = R"({"user_id":10,"user_info":{"name":"Mr. Channels"}})";
  EXPECT_EQ(channel_auth_message(kSocket, "presence-foobar", channel_data),
            R"(1234.1234:presence-foobar:{"user_id":10,"user_info":{"name":"Mr. Channels"}})");
  EXPECT_EQ(channel_auth(kKey, kSecret, kSocket, "presence-foobar", channel_data),
            std::string(kKey) + ":31935e7d86dba64c2a90aed31fdc61869f9b22ba9d8863bba239c03ca481bc80");
}

TEST(PusherSignature, PresenceChannelLaravelStyle) {
  EXPECT_EQ(channel_auth(kKey, kSecret, kSocket, "presence-dokumen.7",
                         R"({"user_id":"1","user_info":{"name":"Ana"}})"),
            std::string(kKey) + ":da1da77983e52bc1239bfffb38c5f990e1b3c6f9314bc58855a78a2b0d212c22");
}

TEST(PusherSignature, PrivateChannelLaravelStyle) {
  EXPECT_EQ(channel_auth(kKey, kSecret, kSocket, "private-dokumen.7"),
            std::string(kKey) + ":8daf2d397188d44336e1b633d3295aac15fac0c26beced3c186a3b8ae05d604c");
}

TEST(PusherSignature, RestPublishDocsExample) {
  const std::string body = R"({"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"})";
  EXPECT_EQ(md5_hex(body), "ec365a775a4cd0599faeb73354201b6f");
  const QueryParams params = {{"auth_key", kKey},
                              {"auth_timestamp", "1353088179"},
                              {"auth_version", "1.0"},
                              {"body_md5", "ec365a775a4cd0599faeb73354201b6f"}};
  EXPECT_EQ(RestAuth::string_to_sign("POST", "/apps/3/events", params),
            "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0"
            "&body_md5=ec365a775a4cd0599faeb73354201b6f");
  EXPECT_EQ(RestAuth(kKey, kSecret).sign("POST", "/apps/3/events", params),
            "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c");
}

TEST(PusherSignature, RestPublishLaravelStyleWithSocketId) {
  const std::string body =
      R"({"name":"App\\Events\\DokumenUpdated","data":"{\"dokumen\":{\"id\":7}}","channel":"private-dokumen.7","socket_id":"1234.1234"})";
  EXPECT_EQ(md5_hex(body), "237a2429c4a292f92009d3cd75ef7875");
  const QueryParams params = {{"auth_key", kKey},
                              {"auth_timestamp", "1353088179"},
                              {"auth_version", "1.0"},
                              {"body_md5", "237a2429c4a292f92009d3cd75ef7875"}};
  EXPECT_EQ(RestAuth(kKey, kSecret).sign("POST", "/apps/3/events", params),
            "f4c2260f8d83be97e3a0d7de34b0f925ec08ec7c78e7f420d72eb90cca4e3472");
}

TEST(PusherSignature, RestGetChannels) {
  // Given out of order, as a client may send them: the canonical query sorts by key.
  const QueryParams params = {{"info", "user_count"},
                              {"filter_by_prefix", "presence-"},
                              {"auth_version", "1.0"},
                              {"auth_timestamp", "1353088179"},
                              {"auth_key", kKey}};
  EXPECT_EQ(RestAuth::string_to_sign("get", "/apps/3/channels", params),
            "GET\n/apps/3/channels\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179&auth_version=1.0"
            "&filter_by_prefix=presence-&info=user_count");
  EXPECT_EQ(RestAuth(kKey, kSecret).sign("GET", "/apps/3/channels", params),
            "16819168891cb5dfd72b5c7a5d3d602605b26c6ba1930033b5e2eeeb65010291");
}

TEST(PusherSignature, Webhook) {
  EXPECT_EQ(hmac_sha256_hex(
                kSecret,
                R"({"time_ms":1327078148132,"events":[{"name":"channel_occupied","channel":"my-channel"}]})"),
            "c19001ae3963ccb13bf618e5b16ba9848e7e74df0993aa0689168e341c6833cf");
}

TEST(PusherSignature, ConstantTimeEquals) {
  EXPECT_TRUE(constant_time_equals("", ""));
  EXPECT_TRUE(constant_time_equals("abc", "abc"));
  EXPECT_FALSE(constant_time_equals("abc", "abd"));
  EXPECT_FALSE(constant_time_equals("abc", "ab"));
  EXPECT_FALSE(constant_time_equals("abc", "abcd"));
}

TEST(PusherSignature, Md5OfEmptyBody) { EXPECT_EQ(md5_hex(""), "d41d8cd98f00b204e9800998ecf8427e"); }

}  // namespace
}  // namespace kabar
