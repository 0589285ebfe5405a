// libFuzzer target: JWT parsing and verification (authz/token.cpp) and the claims a token becomes.
// The first byte picks the mode: 0 mod 4, the rest is a token as a client would send it; otherwise the
// rest is a JSON payload that is signed for real (HS256, RS256, ES256) so the checks after the
// signature (exp, nbf, iss, aud, claim types) are reached too.
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "authz/policy.h"
#include "authz/token.h"

namespace {
using namespace kabar::authz;
using nlohmann::json;

std::string pem(EVP_PKEY* key, bool private_key) {
  BIO* bio = BIO_new(BIO_s_mem());
  if (private_key) {
    PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr, nullptr);
  } else {
    PEM_write_bio_PUBKEY(bio, key);
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  std::string text(data, static_cast<std::size_t>(size));
  BIO_free(bio);
  return text;
}

struct Fixture {
  std::string secret = "fuzz-secret-fuzz-secret-fuzz-secret-0123";
  std::string rsa_private, ec_private;
  TokenVerifier verifier;
  Policy policy = Policy::builtin();

  Fixture() {
    EVP_PKEY* rsa = EVP_RSA_gen(2048);
    EVP_PKEY* ec = EVP_EC_gen("P-256");
    rsa_private = pem(rsa, true);
    ec_private = pem(ec, true);
    VerifierOptions options;
    options.issuer = "https://pos.example";
    options.audience = "kabar";
    verifier = TokenVerifier(
        {hmac_key(secret, "fuzz"), public_key_from_pem(pem(rsa, false), std::nullopt, "fuzz", "r1"),
         public_key_from_pem(pem(ec, false), std::nullopt, "fuzz", "e1")},
        options);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
  }
};

const Fixture& fixture() {
  static const Fixture instance;
  return instance;
}

std::string signed_token(const Fixture& f, std::uint8_t mode, std::string_view payload_text) {
  json payload = json::parse(payload_text, nullptr, /*allow_exceptions=*/false);
  if (payload.is_discarded()) return {};
  switch (mode % 4) {
    case 1:
      return sign_token(payload, Algorithm::HS256, f.secret);
    case 2:
      return sign_token(payload, Algorithm::RS256, f.rsa_private, (mode & 4) ? "r1" : "");
    default:
      return sign_token(payload, Algorithm::ES256, f.ec_private, (mode & 4) ? "e1" : "unknown");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const Fixture& f = fixture();
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::string token = data[0] % 4 == 0 ? std::string(rest) : signed_token(f, data[0], rest);
  for (const std::int64_t now :
       {std::int64_t{0}, std::int64_t{1'800'000'000}, std::int64_t{9'000'000'000'000'000'000}}) {
    const TokenResult result = f.verifier.verify(token, now);
    if (result.ok()) {
      (void)f.policy.decide(*result.claims, Action::Read, Resource::channel("private-cabang.3"));
      (void)f.policy.explain(*result.claims, Action::Publish, Resource::topic("cabang/3/omset"));
      (void)result.claims->describe();
    } else if (result.message.empty()) {
      __builtin_trap();  // every refusal must say why
    }
  }
  if (auto payload = decode_unverified(token)) (void)Claims::from_payload(*payload);
  return 0;
}
