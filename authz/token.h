#pragma once
// JWT verification: the same check for every door and the broker plugin.
//
// Each verification key carries the one algorithm it accepts (HS256 with a secret, RS256 or ES256 with
// a public key), so a token cannot pick its algorithm: "alg": "none", or HS256 signed with an RSA public
// key as the secret, is refused as wrong_algorithm. Signatures are checked before any claim is read, so
// a forged token is told bad_signature, never "expired". exp/nbf allow a small clock skew; iss and aud
// are checked when configured. The cryptography is cpp-jwt's (OpenSSL); the parsing around it is ours,
// strict, and bounded in size. Nothing here logs, and no message ever contains a token or a key.
#include <cstdint>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "authz/claims.h"

namespace kabar::authz {

enum class Algorithm { HS256, RS256, ES256 };
std::string_view to_string(Algorithm algorithm);
std::optional<Algorithm> algorithm_from(std::string_view name);

enum class TokenFailure {
  Malformed,       // not three base64url parts, not JSON, a claim of the wrong type, no exp
  TooLarge,        // over max_token_bytes
  WrongAlgorithm,  // "none", or an algorithm the selected key is not pinned to
  UnknownKey,      // a "kid" no configured key has
  BadSignature,
  Expired,
  NotYetValid,
  WrongIssuer,
  WrongAudience,
  NoKeys,  // the server has no verification key configured
};
std::string_view to_string(TokenFailure failure);

struct TokenResult {
  std::optional<Claims> claims;  // set when the token is valid
  TokenFailure failure = TokenFailure::Malformed;
  std::string message;  // why not, for people (never contains the token)

  bool ok() const { return claims.has_value(); }
};

class KeyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct VerificationKey {
  std::string kid;  // empty: used for tokens without a kid, or whose kid no other key has
  Algorithm algorithm = Algorithm::HS256;
  std::string material;  // HS256: the secret bytes; RS256/ES256: the public key as PEM
};

struct VerifierOptions {
  std::string issuer;    // empty: iss is not checked
  std::string audience;  // empty: aud is not checked
  int clock_skew_s = 30;
  std::size_t max_token_bytes = 8192;
  bool require_exp = true;  // a token without exp never expires: refuse it unless told otherwise
};

class KeyRing;  // key_ring.h: keys that change while kabar runs (a JWKS from a URL)

// Where the keys come from (config auth.jwt, the broker plugin's options, the CLI).
struct JwtSettings {
  std::string secret_file;           // HS256 secret (at least 32 bytes; one trailing newline is ignored)
  std::string public_key_file;       // PEM public key (RSA: RS256, P-256: ES256)
  std::string public_key_algorithm;  // "RS256" or "ES256"; empty: from the key's type
  std::string jwks_file;             // a JWKS document: {"keys": [...]}, kid -> key
  std::shared_ptr<const KeyRing> key_ring;  // keys fetched and refreshed by the gateway (auth.jwt.jwks_url)
  VerifierOptions options;
};

// Key loading; each throws KeyError naming the file and the problem (never the key).
VerificationKey hmac_key(std::string secret, const std::string& origin, std::string kid = {});
VerificationKey public_key_from_pem(const std::string& pem, std::optional<Algorithm> algorithm,
                                    const std::string& origin, std::string kid = {});
std::vector<VerificationKey> keys_from_jwks(std::string_view text, const std::string& origin);
std::vector<VerificationKey> load_keys(const JwtSettings& settings);
std::string read_key_file(const std::string& path, const char* what);

class TokenVerifier {
 public:
  TokenVerifier() = default;
  // `ring`: keys that change while kabar runs, used along with `keys`; a kid neither has is reported to it.
  TokenVerifier(std::vector<VerificationKey> keys, VerifierOptions options,
                std::shared_ptr<const KeyRing> ring = nullptr);
  static TokenVerifier from_settings(const JwtSettings& settings);

  TokenResult verify(std::string_view token) const;
  TokenResult verify(std::string_view token, std::int64_t now_s) const;

  bool has_keys() const { return !keys_.empty() || ring_ != nullptr; }
  const VerifierOptions& options() const { return options_; }

 private:
  std::vector<VerificationKey> keys_;
  VerifierOptions options_;
  std::shared_ptr<const KeyRing> ring_;
};

// The payload of a token WITHOUT checking anything: for `kabar authz explain` when no key is at hand.
// Never use it to decide access.
std::optional<nlohmann::json> decode_unverified(std::string_view token);

// Signs `claims` (a JSON object) as a compact JWT: with the secret for HS256, with a PEM private key for
// RS256/ES256. For development and tests (`kabar token`). Throws KeyError when the key does not fit.
std::string sign_token(const nlohmann::json& claims, Algorithm algorithm, std::string_view key,
                       const std::string& kid = {});

}  // namespace kabar::authz
