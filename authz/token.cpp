#include "authz/token.h"

#include <openssl/crypto.h>

#include <chrono>
#include <jwt/jwt.hpp>
#include <nlohmann/json.hpp>

#include "authz/base64url.h"
#include "authz/key_ring.h"

namespace kabar::authz {
namespace {
using nlohmann::json;

TokenResult fail(TokenFailure failure, std::string message) {
  TokenResult result;
  result.failure = failure;
  result.message = std::move(message);
  return result;
}

struct Parts {
  std::string_view header, payload, signature, signing_input;
};

std::optional<Parts> split(std::string_view token) {
  const auto first = token.find('.');
  if (first == std::string_view::npos) return std::nullopt;
  const auto second = token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos)
    return std::nullopt;
  Parts parts{token.substr(0, first), token.substr(first + 1, second - first - 1), token.substr(second + 1),
              token.substr(0, second)};
  if (parts.header.empty() || parts.payload.empty()) return std::nullopt;
  return parts;
}

std::optional<json> decode_object(std::string_view part) {
  auto bytes = base64url_decode(part);
  if (!bytes) return std::nullopt;
  json object = json::parse(*bytes, nullptr, /*allow_exceptions=*/false);
  if (object.is_discarded() || !object.is_object()) return std::nullopt;
  return object;
}

// HS256 with a constant-time comparison (cpp-jwt's own HMAC verify compares with ==).
bool hmac_matches(const VerificationKey& key, const Parts& parts) {
  auto expected = jwt::HMACSign<jwt::algo::HS256>::sign(key.material, parts.signing_input);
  const auto given = base64url_decode(parts.signature);
  if (expected.second || !given || given->size() != expected.first.size()) return false;
  return CRYPTO_memcmp(given->data(), expected.first.data(), given->size()) == 0;
}

bool signature_matches(const VerificationKey& key, const Parts& parts) {
  if (parts.signature.empty() || !base64url_decode(parts.signature)) return false;
  try {
    switch (key.algorithm) {
      case Algorithm::HS256:
        return hmac_matches(key, parts);
      case Algorithm::RS256: {
        auto result =
            jwt::PEMSign<jwt::algo::RS256>::verify(key.material, parts.signing_input, parts.signature);
        return result.first && !result.second;
      }
      case Algorithm::ES256: {
        auto result =
            jwt::PEMSign<jwt::algo::ES256>::verify(key.material, parts.signing_input, parts.signature);
        return result.first && !result.second;
      }
    }
  } catch (const std::exception&) {
    return false;  // allocation failures inside OpenSSL: not a valid signature either way
  }
  return false;
}

std::string accepted_algorithms(const std::vector<const VerificationKey*>& keys) {
  std::string text;
  for (const auto* key : keys) {
    const std::string name(to_string(key->algorithm));
    if (text.find(name) == std::string::npos) text += (text.empty() ? "" : ", ") + name;
  }
  return text;
}

std::optional<TokenResult> check_audience(const json& payload, const std::string& audience) {
  if (audience.empty()) return std::nullopt;
  const auto aud = payload.find("aud");
  bool found = false;
  if (aud != payload.end() && aud->is_string()) found = *aud == audience;
  if (aud != payload.end() && aud->is_array()) {
    for (const auto& item : *aud) found = found || (item.is_string() && item == audience);
  }
  if (found) return std::nullopt;
  return fail(TokenFailure::WrongAudience, "the token is not meant for this audience");
}

std::optional<TokenResult> check_times(const json& payload, std::int64_t now,
                                       const VerifierOptions& options) {
  const std::int64_t skew = options.clock_skew_s;
  if (auto exp = payload.find("exp"); exp != payload.end()) {
    const auto seconds = numeric_date(*exp);
    if (!seconds) return fail(TokenFailure::Malformed, "exp is not a number");
    // Compared without subtracting claim values, which could overflow for absurd ones.
    if (*seconds <= now - skew)
      return fail(TokenFailure::Expired, "the token expired (exp " + std::to_string(*seconds) + ", now " +
                                             std::to_string(now) + ", clock skew " + std::to_string(skew) +
                                             " s)");
  } else if (options.require_exp) {
    return fail(TokenFailure::Malformed, "the token has no exp; tokens must expire");
  }
  if (auto nbf = payload.find("nbf"); nbf != payload.end()) {
    const auto seconds = numeric_date(*nbf);
    if (!seconds) return fail(TokenFailure::Malformed, "nbf is not a number");
    if (*seconds > now + skew)
      return fail(TokenFailure::NotYetValid, "the token is not valid yet (nbf " + std::to_string(*seconds) +
                                                 ", now " + std::to_string(now) + ", clock skew " +
                                                 std::to_string(skew) + " s)");
  }
  if (auto iat = payload.find("iat"); iat != payload.end() && !iat->is_number())
    return fail(TokenFailure::Malformed, "iat is not a number");
  return std::nullopt;
}

std::optional<TokenResult> check_claims(const json& payload, std::int64_t now,
                                        const VerifierOptions& options) {
  if (auto sub = payload.find("sub"); sub != payload.end() && !sub->is_string())
    return fail(TokenFailure::Malformed, "sub is not a string");
  if (auto problem = check_times(payload, now, options)) return problem;
  if (!options.issuer.empty()) {
    const auto iss = payload.find("iss");
    if (iss == payload.end() || !iss->is_string() || *iss != options.issuer)
      return fail(TokenFailure::WrongIssuer, "the token was not issued by the expected issuer");
  }
  return check_audience(payload, options.audience);
}

}  // namespace

std::string_view to_string(Algorithm algorithm) {
  switch (algorithm) {
    case Algorithm::HS256:
      return "HS256";
    case Algorithm::RS256:
      return "RS256";
    case Algorithm::ES256:
      return "ES256";
  }
  return "?";
}

std::optional<Algorithm> algorithm_from(std::string_view name) {
  if (name == "HS256") return Algorithm::HS256;
  if (name == "RS256") return Algorithm::RS256;
  if (name == "ES256") return Algorithm::ES256;
  return std::nullopt;
}

std::string_view to_string(TokenFailure failure) {
  switch (failure) {
    case TokenFailure::Malformed:
      return "malformed";
    case TokenFailure::TooLarge:
      return "too_large";
    case TokenFailure::WrongAlgorithm:
      return "wrong_algorithm";
    case TokenFailure::UnknownKey:
      return "unknown_key";
    case TokenFailure::BadSignature:
      return "bad_signature";
    case TokenFailure::Expired:
      return "expired";
    case TokenFailure::NotYetValid:
      return "not_yet_valid";
    case TokenFailure::WrongIssuer:
      return "wrong_issuer";
    case TokenFailure::WrongAudience:
      return "wrong_audience";
    case TokenFailure::NoKeys:
      return "no_keys";
  }
  return "malformed";
}

TokenVerifier::TokenVerifier(std::vector<VerificationKey> keys, VerifierOptions options,
                             std::shared_ptr<const KeyRing> ring)
    : keys_(std::move(keys)), options_(std::move(options)), ring_(std::move(ring)) {}

TokenVerifier TokenVerifier::from_settings(const JwtSettings& settings) {
  return TokenVerifier(load_keys(settings), settings.options, settings.key_ring);
}

TokenResult TokenVerifier::verify(std::string_view token) const {
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  return verify(token, now.count());
}

TokenResult TokenVerifier::verify(std::string_view token, std::int64_t now_s) const {
  if (token.size() > options_.max_token_bytes)
    return fail(TokenFailure::TooLarge, "the token is " + std::to_string(token.size()) +
                                            " bytes; the limit is " +
                                            std::to_string(options_.max_token_bytes));
  if (!has_keys()) return fail(TokenFailure::NoKeys, "this server has no key to verify tokens with");
  const auto parts = split(token);
  if (!parts) return fail(TokenFailure::Malformed, "a JWT is three base64url parts separated by dots");
  const auto header = decode_object(parts->header);
  if (!header) return fail(TokenFailure::Malformed, "the JWT header is not base64url-encoded JSON");
  const auto alg = header->find("alg");
  if (alg == header->end() || !alg->is_string())
    return fail(TokenFailure::Malformed, "the JWT header has no alg");
  if (header->contains("crit"))
    return fail(TokenFailure::Malformed, "JWT header parameter crit is not supported");
  const auto kid = header->find("kid");
  if (kid != header->end() && !kid->is_string()) return fail(TokenFailure::Malformed, "kid is not a string");
  const std::string kid_text = kid == header->end() ? std::string() : kid->get<std::string>();

  // The keys this token may be checked with: those named by its kid, else those without a kid. The
  // ring's keys (a JWKS from a URL) count as well; `fetched` holds the set read for this token.
  const auto fetched = ring_ ? ring_->keys() : std::make_shared<const std::vector<VerificationKey>>();
  std::vector<const VerificationKey*> all;
  for (const auto& key : keys_) all.push_back(&key);
  for (const auto& key : *fetched) all.push_back(&key);
  std::vector<const VerificationKey*> candidates;
  for (const auto* key : all) {
    if (!kid_text.empty() && key->kid == kid_text) candidates.push_back(key);
  }
  // A kid no key has: the ring's owner may fetch the document again (rate-limited there).
  if (candidates.empty() && ring_ && !kid_text.empty()) ring_->report_unknown_kid(kid_text);
  if (candidates.empty()) {
    for (const auto* key : all) {
      if (key->kid.empty()) candidates.push_back(key);
    }
  }
  if (candidates.empty() && kid_text.empty() && all.size() == 1) candidates.push_back(all.front());
  if (candidates.empty()) {
    if (ring_ && fetched->empty())
      return fail(TokenFailure::UnknownKey, "no key has the token's kid (" + ring_->origin() + " has not been loaded yet)");
    return fail(TokenFailure::UnknownKey, "no key has the token's kid");
  }

  const std::string alg_name = alg->get<std::string>();
  const auto algorithm = algorithm_from(alg_name);
  bool algorithm_fits = false;
  bool verified = false;
  for (const auto* key : candidates) {
    if (!algorithm || key->algorithm != *algorithm) continue;
    algorithm_fits = true;
    if (signature_matches(*key, *parts)) {
      verified = true;
      break;
    }
  }
  if (!algorithm_fits) {
    const std::string shown = alg_name.size() > 16 ? alg_name.substr(0, 16) + "..." : alg_name;
    return fail(
        TokenFailure::WrongAlgorithm,
        "the token is signed with '" + shown + "'; this server accepts " + accepted_algorithms(candidates));
  }
  if (!verified) return fail(TokenFailure::BadSignature, "the signature does not match");

  const auto payload = decode_object(parts->payload);
  if (!payload) return fail(TokenFailure::Malformed, "the JWT payload is not base64url-encoded JSON object");
  if (auto problem = check_claims(*payload, now_s, options_)) return *problem;
  TokenResult result;
  result.claims = Claims::from_payload(*payload);
  return result;
}

std::optional<json> decode_unverified(std::string_view token) {
  const auto parts = split(token);
  if (!parts) return std::nullopt;
  return decode_object(parts->payload);
}

std::string sign_token(const json& claims, Algorithm algorithm, std::string_view key,
                       const std::string& kid) {
  json header = {{"alg", to_string(algorithm)}, {"typ", "JWT"}};
  if (!kid.empty()) header["kid"] = kid;
  const std::string input = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  jwt::sign_result_t signature;
  switch (algorithm) {
    case Algorithm::HS256:
      signature = jwt::HMACSign<jwt::algo::HS256>::sign(key, input);
      break;
    case Algorithm::RS256:
      signature = jwt::PEMSign<jwt::algo::RS256>::sign(key, input);
      break;
    case Algorithm::ES256:
      signature = jwt::PEMSign<jwt::algo::ES256>::sign(key, input);
      break;
  }
  if (signature.second || signature.first.empty())
    throw KeyError(std::string("cannot sign with this key as ") + std::string(to_string(algorithm)) +
                   " (RS256 needs an RSA private key in PEM, ES256 a P-256 private key)");
  return input + "." + base64url_encode(signature.first);
}

}  // namespace kabar::authz
