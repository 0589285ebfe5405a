// JWT verification: every way a token can be wrong is refused with its own reason, and the good ones pass
// with HS256, RS256 and ES256 (keys from PEM or a JWKS document).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "authz/base64url.h"
#include "authz/key_ring.h"
#include "authz/token.h"

namespace kabar::authz {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::int64_t kNow = 1'800'000'000;
const std::string kSecret = "0123456789abcdef0123456789abcdef-test-secret";

struct KeyPair {
  std::string private_pem;
  std::string public_pem;
  EVP_PKEY* key = nullptr;
};

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return text;
}

// A fresh key pair per process (EVP_PKEY kept for the JWK export test).
KeyPair make_keys(bool rsa) {
  KeyPair pair;
  pair.key = rsa ? EVP_RSA_gen(2048) : EVP_EC_gen("P-256");
  BIO* priv = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(priv, pair.key, nullptr, nullptr, 0, nullptr, nullptr);
  pair.private_pem = bio_text(priv);
  BIO* pub = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(pub, pair.key);
  pair.public_pem = bio_text(pub);
  return pair;
}

const KeyPair& rsa() {
  static const KeyPair keys = make_keys(true);
  return keys;
}
const KeyPair& ec() {
  static const KeyPair keys = make_keys(false);
  return keys;
}

json claims(json extra = json::object()) {
  json payload = {{"sub", "kasir-1"}, {"role", "kasir"}, {"cabang", {3}}, {"iat", kNow}, {"exp", kNow + 600}};
  payload.update(extra);
  return payload;
}

TokenVerifier hs256(VerifierOptions options = {}) {
  return TokenVerifier({hmac_key(kSecret, "test")}, options);
}

void expect_failure(const TokenResult& result, TokenFailure failure, const std::string& message_part = {}) {
  EXPECT_FALSE(result.ok());
  EXPECT_EQ(to_string(result.failure), to_string(failure)) << result.message;
  if (!message_part.empty()) {
    EXPECT_THAT(result.message, HasSubstr(message_part));
  }
}

// header.payload.signature with any header and payload, signed with HS256 (for hand-made bad tokens).
std::string forge(const json& header, const json& payload, const std::string& secret = kSecret) {
  const std::string good = sign_token(payload, Algorithm::HS256, secret);
  const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(payload.dump());
  const std::string signature = good.substr(good.rfind('.') + 1);
  return input + "." + signature;  // the signature of another header: only used where it must not matter
}

TEST(Token, Hs256RoundTrip) {
  const TokenResult result = hs256().verify(sign_token(claims(), Algorithm::HS256, kSecret), kNow);
  ASSERT_TRUE(result.ok()) << result.message;
  EXPECT_EQ(result.claims->subject, "kasir-1");
  EXPECT_EQ(*result.claims->find("cabang"), std::vector<std::string>{"3"});
  EXPECT_EQ(result.claims->expires_at, kNow + 600);
}

TEST(Token, Rs256AndEs256WithPemKeys) {
  for (const auto* pair : {&rsa(), &ec()}) {
    const Algorithm algorithm = pair == &rsa() ? Algorithm::RS256 : Algorithm::ES256;
    const TokenVerifier verifier({public_key_from_pem(pair->public_pem, std::nullopt, "test")}, {});
    const std::string token = sign_token(claims(), algorithm, pair->private_pem);
    const TokenResult result = verifier.verify(token, kNow);
    EXPECT_TRUE(result.ok()) << to_string(algorithm) << ": " << result.message;
    // One flipped bit in the signature.
    std::string tampered = token;
    tampered[tampered.size() - 5] = tampered[tampered.size() - 5] == 'A' ? 'B' : 'A';
    expect_failure(verifier.verify(tampered, kNow), TokenFailure::BadSignature);
  }
}

TEST(Token, Expired) {
  expect_failure(hs256().verify(sign_token(claims({{"exp", kNow - 31}}), Algorithm::HS256, kSecret), kNow),
                 TokenFailure::Expired, "expired");
  // Inside the 30 s clock skew it still passes.
  EXPECT_TRUE(hs256().verify(sign_token(claims({{"exp", kNow - 29}}), Algorithm::HS256, kSecret), kNow).ok());
}

TEST(Token, NotYetValid) {
  expect_failure(hs256().verify(sign_token(claims({{"nbf", kNow + 31}}), Algorithm::HS256, kSecret), kNow),
                 TokenFailure::NotYetValid);
  EXPECT_TRUE(hs256().verify(sign_token(claims({{"nbf", kNow + 29}}), Algorithm::HS256, kSecret), kNow).ok());
}

TEST(Token, WrongSignature) {
  const std::string other_secret = "another-secret-another-secret-another-secret";
  expect_failure(hs256().verify(sign_token(claims(), Algorithm::HS256, other_secret), kNow),
                 TokenFailure::BadSignature);
}

TEST(Token, ForgedTokensSayBadSignatureEvenWhenExpired) {
  const std::string other_secret = "another-secret-another-secret-another-secret";
  const std::string token = sign_token(claims({{"exp", kNow - 1000}}), Algorithm::HS256, other_secret);
  expect_failure(hs256().verify(token, kNow), TokenFailure::BadSignature);
}

TEST(Token, AlgNoneIsRefused) {
  const std::string unsigned_token =
      base64url_encode(R"({"alg":"none","typ":"JWT"})") + "." + base64url_encode(claims().dump()) + ".";
  expect_failure(hs256().verify(unsigned_token, kNow), TokenFailure::WrongAlgorithm, "'none'");
  expect_failure(hs256().verify(unsigned_token.substr(0, unsigned_token.size() - 1), kNow),
                 TokenFailure::Malformed);
}

TEST(Token, AlgorithmIsPinnedPerKey) {
  // The classic confusion attack: HS256 "signed" with the RSA public key as the HMAC secret.
  const TokenVerifier rsa_verifier({public_key_from_pem(rsa().public_pem, Algorithm::RS256, "test")}, {});
  const std::string confused = sign_token(claims(), Algorithm::HS256, rsa().public_pem);
  expect_failure(rsa_verifier.verify(confused, kNow), TokenFailure::WrongAlgorithm, "accepts RS256");
  // ES256 token against an HS256 server, RS256 token against an ES256 key.
  expect_failure(hs256().verify(sign_token(claims(), Algorithm::ES256, ec().private_pem), kNow),
                 TokenFailure::WrongAlgorithm);
  const TokenVerifier ec_verifier({public_key_from_pem(ec().public_pem, std::nullopt, "test")}, {});
  expect_failure(ec_verifier.verify(sign_token(claims(), Algorithm::RS256, rsa().private_pem), kNow),
                 TokenFailure::WrongAlgorithm);
  expect_failure(hs256().verify(forge({{"alg", "HS512"}}, claims()), kNow), TokenFailure::WrongAlgorithm);
}

TEST(Token, Malformed) {
  const TokenVerifier verifier = hs256();
  const std::string good = sign_token(claims(), Algorithm::HS256, kSecret);
  for (const std::string& token :
       {std::string("garbage"), std::string("a.b"), std::string("a.b.c.d"), good + ".",
        std::string(".") + good, std::string("!!!.e30.sig"), base64url_encode("[1]") + ".e30.c2ln",
        base64url_encode("{}") + ".e30.c2ln", base64url_encode(R"({"alg":5})") + ".e30.c2ln",
        base64url_encode(R"({"alg":"HS256","crit":["x"]})") + ".e30.c2ln"}) {
    expect_failure(verifier.verify(token, kNow), TokenFailure::Malformed);
  }
}

TEST(Token, MalformedClaimsAfterAValidSignature) {
  const TokenVerifier verifier = hs256();
  expect_failure(verifier.verify(sign_token(claims({{"exp", "soon"}}), Algorithm::HS256, kSecret), kNow),
                 TokenFailure::Malformed, "exp");
  expect_failure(verifier.verify(sign_token(claims({{"sub", 5}}), Algorithm::HS256, kSecret), kNow),
                 TokenFailure::Malformed, "sub");
  json no_exp = claims();
  no_exp.erase("exp");
  expect_failure(verifier.verify(sign_token(no_exp, Algorithm::HS256, kSecret), kNow),
                 TokenFailure::Malformed, "no exp");
  VerifierOptions lenient;
  lenient.require_exp = false;
  EXPECT_TRUE(hs256(lenient).verify(sign_token(no_exp, Algorithm::HS256, kSecret), kNow).ok());
  // Absurd numbers do not overflow.
  expect_failure(
      verifier.verify(sign_token(claims({{"exp", -9223372036854775807LL - 1}}), Algorithm::HS256, kSecret),
                      kNow),
      TokenFailure::Expired);
  EXPECT_TRUE(verifier.verify(sign_token(claims({{"exp", 1e300}}), Algorithm::HS256, kSecret), kNow).ok());
}

TEST(Token, Oversized) {
  const std::string token = sign_token(claims({{"pad", std::string(9000, 'x')}}), Algorithm::HS256, kSecret);
  expect_failure(hs256().verify(token, kNow), TokenFailure::TooLarge, "8192");
}

TEST(Token, IssuerAndAudience) {
  VerifierOptions options;
  options.issuer = "https://pos.example";
  options.audience = "kabar";
  const TokenVerifier verifier = hs256(options);
  const json good = claims({{"iss", "https://pos.example"}, {"aud", "kabar"}});
  EXPECT_TRUE(verifier.verify(sign_token(good, Algorithm::HS256, kSecret), kNow).ok());
  EXPECT_TRUE(verifier
                  .verify(sign_token(claims({{"iss", "https://pos.example"}, {"aud", {"x", "kabar"}}}),
                                     Algorithm::HS256, kSecret),
                          kNow)
                  .ok());
  expect_failure(
      verifier.verify(sign_token(claims({{"iss", "evil"}, {"aud", "kabar"}}), Algorithm::HS256, kSecret),
                      kNow),
      TokenFailure::WrongIssuer);
  expect_failure(verifier.verify(sign_token(claims({{"aud", "kabar"}}), Algorithm::HS256, kSecret), kNow),
                 TokenFailure::WrongIssuer);
  expect_failure(verifier.verify(sign_token(claims({{"iss", "https://pos.example"}, {"aud", "other"}}),
                                            Algorithm::HS256, kSecret),
                                 kNow),
                 TokenFailure::WrongAudience);
  expect_failure(
      verifier.verify(sign_token(claims({{"iss", "https://pos.example"}}), Algorithm::HS256, kSecret), kNow),
      TokenFailure::WrongAudience);
}

TEST(Token, MessagesNeverContainTheTokenOrTheSecret) {
  const std::string token = sign_token(claims({{"exp", kNow - 100}}), Algorithm::HS256, kSecret);
  const TokenResult result = hs256().verify(token, kNow);
  EXPECT_THAT(result.message, Not(HasSubstr(token.substr(0, 20))));
  EXPECT_THAT(result.message, Not(HasSubstr(kSecret)));
}

TEST(Token, NoKeysConfigured) {
  expect_failure(TokenVerifier().verify(sign_token(claims(), Algorithm::HS256, kSecret), kNow),
                 TokenFailure::NoKeys);
}

TEST(Keys, ShortSecretsAndWrongKeysAreStartupErrors) {
  EXPECT_THROW(hmac_key("short", "test"), KeyError);
  EXPECT_NO_THROW(hmac_key(kSecret + "\n", "test"));
  EXPECT_THROW(public_key_from_pem("not a key", std::nullopt, "test"), KeyError);
  EXPECT_THROW(public_key_from_pem(rsa().public_pem, Algorithm::ES256, "test"), KeyError);
  try {
    public_key_from_pem(ec().public_pem, Algorithm::RS256, "key file k.pem");
    FAIL();
  } catch (const KeyError& error) {
    EXPECT_THAT(error.what(), HasSubstr("key file k.pem"));
    EXPECT_THAT(error.what(), HasSubstr("ES256"));
  }
}

std::string bn_b64(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, name, &bn);
  std::string bytes(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(bytes.data()));
  BN_free(bn);
  return base64url_encode(bytes);
}

std::string ec_coordinate(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, name, &bn);
  std::string bytes(32, '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(bytes.data()), 32);
  BN_free(bn);
  return base64url_encode(bytes);
}

TEST(Keys, JwksSelectsTheKeyByKid) {
  const json jwks = {{"keys",
                      {{{"kty", "RSA"},
                        {"kid", "r1"},
                        {"use", "sig"},
                        {"alg", "RS256"},
                        {"n", bn_b64(rsa().key, OSSL_PKEY_PARAM_RSA_N)},
                        {"e", bn_b64(rsa().key, OSSL_PKEY_PARAM_RSA_E)}},
                       {{"kty", "EC"},
                        {"kid", "e1"},
                        {"crv", "P-256"},
                        {"x", ec_coordinate(ec().key, OSSL_PKEY_PARAM_EC_PUB_X)},
                        {"y", ec_coordinate(ec().key, OSSL_PKEY_PARAM_EC_PUB_Y)}},
                       {{"kty", "oct"}, {"kid", "h1"}, {"k", base64url_encode(kSecret)}},
                       {{"kty", "RSA"}, {"kid", "enc"}, {"use", "enc"}, {"n", "AQAB"}, {"e", "AQAB"}}}}};
  const auto keys = keys_from_jwks(jwks.dump(), "test.jwks");
  ASSERT_EQ(keys.size(), 3u);
  const TokenVerifier verifier(keys, {});
  EXPECT_TRUE(verifier.verify(sign_token(claims(), Algorithm::RS256, rsa().private_pem, "r1"), kNow).ok());
  EXPECT_TRUE(verifier.verify(sign_token(claims(), Algorithm::ES256, ec().private_pem, "e1"), kNow).ok());
  EXPECT_TRUE(verifier.verify(sign_token(claims(), Algorithm::HS256, kSecret, "h1"), kNow).ok());
  expect_failure(verifier.verify(sign_token(claims(), Algorithm::RS256, rsa().private_pem, "nope"), kNow),
                 TokenFailure::UnknownKey);
  // The kid picks the key, and that key's algorithm is the only one it accepts.
  expect_failure(verifier.verify(sign_token(claims(), Algorithm::HS256, rsa().public_pem, "r1"), kNow),
                 TokenFailure::WrongAlgorithm);
  EXPECT_THROW(keys_from_jwks("{}", "x"), KeyError);
  EXPECT_THROW(keys_from_jwks(R"({"keys":[{"kty":"EC","crv":"P-256","x":"AAAA","y":"AAAA"}]})", "x"),
               KeyError);
}

TEST(Base64url, StrictDecoding) {
  EXPECT_EQ(base64url_decode(base64url_encode("hello?>")).value(), "hello?>");
  EXPECT_FALSE(base64url_decode("aGVsbG8=").has_value());  // padding
  EXPECT_FALSE(base64url_decode("aGVsbG8+").has_value());  // standard alphabet
  EXPECT_FALSE(base64url_decode("aGVsbG9=").has_value());
  EXPECT_FALSE(base64url_decode("A").has_value());
  EXPECT_FALSE(base64url_decode("AB").has_value());  // non-zero trailing bits
  EXPECT_TRUE(base64url_decode("AA").has_value());
}

// auth.jwt.jwks_url: keys that change while the verifier is in use (gateway/app/jwks_fetcher.h fills
// the ring). A kid no key has is reported (the fetcher refetches); keys replaced are used at once.
TEST(Token, KeyRingKeysChangeAndUnknownKidsAreReported) {
  const std::string other_secret = "another-secret-of-at-least-32-bytes-for-k2";
  auto ring = std::make_shared<KeyRing>("JWKS https://id.test/jwks.json");
  std::vector<std::string> reported;
  ring->set_unknown_kid_listener([&reported](const std::string& kid) { reported.push_back(kid); });
  const TokenVerifier verifier({}, {}, ring);
  EXPECT_TRUE(verifier.has_keys());

  const std::string k1 = sign_token(claims(), Algorithm::HS256, kSecret, "k1");
  const std::string k2 = sign_token(claims(), Algorithm::HS256, other_secret, "k2");
  // Nothing fetched yet: refused, saying so, and reported.
  expect_failure(verifier.verify(k1, kNow), TokenFailure::UnknownKey, "has not been loaded yet");
  EXPECT_EQ(reported, std::vector<std::string>{"k1"});

  ring->replace({hmac_key(kSecret, "test", "k1")});
  EXPECT_TRUE(verifier.verify(k1, kNow).ok());
  expect_failure(verifier.verify(k2, kNow), TokenFailure::UnknownKey, "no key has the token's kid");
  EXPECT_EQ(reported, (std::vector<std::string>{"k1", "k2"}));

  // Rotated: k2 published, k1 withdrawn.
  ring->replace({hmac_key(other_secret, "test", "k2")});
  EXPECT_TRUE(verifier.verify(k2, kNow).ok());
  expect_failure(verifier.verify(k1, kNow), TokenFailure::UnknownKey);
  // A known kid with a signature of another key is a bad signature, not a reason to fetch.
  reported.clear();
  expect_failure(verifier.verify(sign_token(claims(), Algorithm::HS256, kSecret, "k2"), kNow), TokenFailure::BadSignature);
  EXPECT_TRUE(reported.empty());

  // The listener cleared (the fetcher stopped): still verifies, reports to nobody.
  ring->set_unknown_kid_listener(nullptr);
  expect_failure(verifier.verify(k1, kNow), TokenFailure::UnknownKey);
  EXPECT_TRUE(reported.empty());
}

// The configured keys and the ring's are used together.
TEST(Token, KeyRingAlongsideConfiguredKeys) {
  auto ring = std::make_shared<KeyRing>("JWKS test");
  ring->replace({hmac_key("a-fetched-secret-of-at-least-32-bytes!!", "test", "fetched")});
  const TokenVerifier verifier({hmac_key(kSecret, "test", "local")}, {}, ring);
  EXPECT_TRUE(verifier.verify(sign_token(claims(), Algorithm::HS256, kSecret, "local"), kNow).ok());
  EXPECT_TRUE(
      verifier.verify(sign_token(claims(), Algorithm::HS256, "a-fetched-secret-of-at-least-32-bytes!!", "fetched"), kNow)
          .ok());
}

}  // namespace
}  // namespace kabar::authz
