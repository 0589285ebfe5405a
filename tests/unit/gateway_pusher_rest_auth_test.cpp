// RestAuth::verify: what a REST request must carry, and the documented failure of each part
// (docs/pusher.md "REST API"): the signature, the key, body_md5 against the raw body, the 600 s window.
#include <gtest/gtest.h>

#include "gateway/pusher/rest_auth.h"
#include "gateway/pusher/signature.h"

namespace kabar {
namespace {

constexpr const char* kKey = "278d425bdf160c739803";
constexpr const char* kSecret = "7ad3773142a6692b25b8";
constexpr std::int64_t kNow = 1353088179;
const std::string kBody = R"({"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"})";

QueryParams signed_params(const std::string& body, std::int64_t timestamp, const std::string& method = "POST",
                          const std::string& path = "/apps/3/events") {
  QueryParams params = {
      {"auth_key", kKey}, {"auth_timestamp", std::to_string(timestamp)}, {"auth_version", "1.0"}};
  if (!body.empty()) params.emplace_back("body_md5", md5_hex(body));
  params.emplace_back("auth_signature", RestAuth(kKey, kSecret).sign(method, path, params));
  return params;
}

std::optional<std::string> failure_code(const QueryParams& params, const std::string& body,
                                        std::int64_t now = kNow, const std::string& method = "POST",
                                        const std::string& path = "/apps/3/events") {
  auto failure = RestAuth(kKey, kSecret).verify({method, path, params, body}, now);
  if (!failure) return std::nullopt;
  return failure->code;
}

TEST(PusherRestAuth, AcceptsTheDocsRequest) {
  const QueryParams params = {
      {"auth_key", kKey},
      {"auth_timestamp", "1353088179"},
      {"auth_version", "1.0"},
      {"body_md5", "ec365a775a4cd0599faeb73354201b6f"},
      {"auth_signature", "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c"}};
  EXPECT_EQ(failure_code(params, kBody), std::nullopt);
}

TEST(PusherRestAuth, AcceptsASignedGetWithoutBody) {
  EXPECT_EQ(
      failure_code(signed_params("", kNow, "GET", "/apps/3/channels"), "", kNow, "GET", "/apps/3/channels"),
      std::nullopt);
}

TEST(PusherRestAuth, AcceptsClockSkewWithinTheWindow) {
  EXPECT_EQ(failure_code(signed_params(kBody, kNow - 600), kBody), std::nullopt);
  EXPECT_EQ(failure_code(signed_params(kBody, kNow + 600), kBody), std::nullopt);
}

TEST(PusherRestAuth, RefusesAStaleOrFutureTimestamp) {
  EXPECT_EQ(failure_code(signed_params(kBody, kNow - 601), kBody), "stale_timestamp");
  EXPECT_EQ(failure_code(signed_params(kBody, kNow + 601), kBody), "stale_timestamp");
}

TEST(PusherRestAuth, RefusesATamperedBody) {
  const std::string tampered = R"({"name":"foo","channels":["project-4"],"data":"{\"some\":\"data\"}"})";
  EXPECT_EQ(failure_code(signed_params(kBody, kNow), tampered), "bad_body_md5");
}

TEST(PusherRestAuth, RefusesABodyWithoutMd5) {
  QueryParams params = {
      {"auth_key", kKey}, {"auth_timestamp", std::to_string(kNow)}, {"auth_version", "1.0"}};
  params.emplace_back("auth_signature", RestAuth(kKey, kSecret).sign("POST", "/apps/3/events", params));
  EXPECT_EQ(failure_code(params, kBody), "bad_body_md5");
}

TEST(PusherRestAuth, RefusesAWrongSignature) {
  QueryParams params = signed_params(kBody, kNow);
  params.back().second[0] = params.back().second[0] == 'a' ? 'b' : 'a';
  EXPECT_EQ(failure_code(params, kBody), "bad_signature");
}

TEST(PusherRestAuth, SignatureCoversMethodAndPath) {
  EXPECT_EQ(failure_code(signed_params(kBody, kNow), kBody, kNow, "POST", "/apps/4/events"), "bad_signature");
  EXPECT_EQ(failure_code(signed_params(kBody, kNow), kBody, kNow, "PUT"), "bad_signature");
}

TEST(PusherRestAuth, SignatureCoversEveryParameter) {
  QueryParams params = signed_params(kBody, kNow);
  params.emplace_back("info", "user_count");
  EXPECT_EQ(failure_code(params, kBody), "bad_signature");
}

TEST(PusherRestAuth, RefusesAnotherAppsKey) {
  QueryParams params = signed_params(kBody, kNow);
  params[0].second = "someone-else";
  EXPECT_EQ(failure_code(params, kBody), "wrong_key");
}

TEST(PusherRestAuth, RefusesMissingOrMalformedParameters) {
  EXPECT_EQ(failure_code({}, kBody), "missing_auth");
  QueryParams params = signed_params(kBody, kNow);
  params[1].second = "yesterday";
  EXPECT_EQ(failure_code(params, kBody), "bad_timestamp");
  params = signed_params(kBody, kNow);
  params[2].second = "2.0";
  EXPECT_EQ(failure_code(params, kBody), "bad_auth_version");
}

TEST(PusherRestAuth, CanonicalQueryLowercasesKeysSortsAndDropsTheSignature) {
  const QueryParams params = {{"B", "2"}, {"auth_signature", "x"}, {"a", "1,2"}, {"Auth_Key", "k"}};
  EXPECT_EQ(RestAuth::canonical_query(params), "a=1,2&auth_key=k&b=2");
}

}  // namespace
}  // namespace kabar
