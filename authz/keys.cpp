// Verification keys: an HS256 secret, a PEM public key, or a JWKS document. Every key is checked when it
// is loaded (type, curve, size) so a wrong key is a startup error, not a stream of bad_signature later.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "authz/base64url.h"
#include "authz/token.h"

namespace kabar::authz {
namespace {
using nlohmann::json;

constexpr std::size_t kMinSecretBytes = 32;  // RFC 7518 §3.2: at least the size of the hash
constexpr int kMinRsaBits = 2048;

struct BioFree {
  void operator()(BIO* bio) const { BIO_free(bio); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* key) const { EVP_PKEY_free(key); }
};
struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* ctx) const { EVP_PKEY_CTX_free(ctx); }
};
struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct ParamBldFree {
  void operator()(OSSL_PARAM_BLD* bld) const { OSSL_PARAM_BLD_free(bld); }
};
struct ParamFree {
  void operator()(OSSL_PARAM* params) const { OSSL_PARAM_free(params); }
};
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The algorithm a key's type allows; throws for anything else.
Algorithm algorithm_of(EVP_PKEY* key, const std::string& origin) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    if (EVP_PKEY_get_bits(key) < kMinRsaBits)
      throw KeyError(origin + ": RSA keys must have at least " + std::to_string(kMinRsaBits) + " bits");
    return Algorithm::RS256;
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {};
    std::size_t length = 0;
    if (EVP_PKEY_get_group_name(key, group, sizeof(group), &length) != 1 ||
        std::string(group) != "prime256v1")
      throw KeyError(origin + ": EC keys must be on the P-256 curve (ES256)");
    return Algorithm::ES256;
  }
  throw KeyError(origin + ": not an RSA or P-256 EC public key");
}

std::string pem_of(EVP_PKEY* key, const std::string& origin) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PUBKEY(bio.get(), key) != 1)
    throw KeyError(origin + ": cannot encode the key as PEM");
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

Pkey key_from_params(const char* type, OSSL_PARAM_BLD* builder, const std::string& origin) {
  std::unique_ptr<OSSL_PARAM, ParamFree> params(OSSL_PARAM_BLD_to_param(builder));
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* raw = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    throw KeyError(origin + ": not a usable " + type + " public key");
  Pkey key(raw);
  // An EC point that is not on the curve must not get as far as a signature check.
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr));
  if (!check || EVP_PKEY_public_check(check.get()) != 1)
    throw KeyError(origin + ": the public key does not check out");
  return key;
}

std::string jwk_bytes(const json& jwk, const char* member, const std::string& origin) {
  const auto it = jwk.find(member);
  if (it == jwk.end() || !it->is_string()) throw KeyError(origin + ": member '" + member + "' is missing");
  auto bytes = base64url_decode(it->get<std::string>());
  if (!bytes || bytes->empty()) throw KeyError(origin + ": member '" + member + "' is not base64url");
  return *bytes;
}

std::unique_ptr<BIGNUM, BnFree> big_number(const std::string& bytes) {
  return std::unique_ptr<BIGNUM, BnFree>(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()),
                                                   static_cast<int>(bytes.size()), nullptr));
}

Pkey rsa_from_jwk(const json& jwk, const std::string& origin) {
  auto n = big_number(jwk_bytes(jwk, "n", origin));
  auto e = big_number(jwk_bytes(jwk, "e", origin));
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> builder(OSSL_PARAM_BLD_new());
  if (!n || !e || !builder || OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_N, n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(builder.get(), OSSL_PKEY_PARAM_RSA_E, e.get()) != 1)
    throw KeyError(origin + ": cannot build the RSA key");
  return key_from_params("RSA", builder.get(), origin);
}

Pkey ec_from_jwk(const json& jwk, const std::string& origin) {
  if (jwk.value("crv", "") != "P-256") throw KeyError(origin + ": only crv P-256 (ES256) is supported");
  const std::string x = jwk_bytes(jwk, "x", origin);
  const std::string y = jwk_bytes(jwk, "y", origin);
  if (x.size() != 32 || y.size() != 32) throw KeyError(origin + ": x and y of a P-256 key are 32 bytes each");
  const std::string point = std::string(1, '\x04') + x + y;  // uncompressed SEC1 point
  std::unique_ptr<OSSL_PARAM_BLD, ParamBldFree> builder(OSSL_PARAM_BLD_new());
  if (!builder ||
      OSSL_PARAM_BLD_push_utf8_string(builder.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(builder.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) !=
          1)
    throw KeyError(origin + ": cannot build the EC key");
  return key_from_params("EC", builder.get(), origin);
}

// One JWK -> a key, or nullopt for keys that are not for us (encryption keys, other algorithms).
std::optional<VerificationKey> key_from_jwk(const json& jwk, const std::string& origin) {
  if (!jwk.is_object()) throw KeyError(origin + ": a key must be a JSON object");
  if (jwk.value("use", "sig") != "sig") return std::nullopt;
  const std::string kty = jwk.value("kty", "");
  const std::string kid = jwk.value("kid", "");
  std::optional<Algorithm> pinned;
  if (jwk.contains("alg")) {
    pinned = jwk["alg"].is_string() ? algorithm_from(jwk["alg"].get<std::string>()) : std::nullopt;
    if (!pinned) return std::nullopt;  // RS512, PS256...: not accepted here
  }
  VerificationKey key;
  if (kty == "oct") {
    key = hmac_key(jwk_bytes(jwk, "k", origin), origin, kid);
  } else if (kty == "RSA") {
    key = public_key_from_pem(pem_of(rsa_from_jwk(jwk, origin).get(), origin), pinned, origin, kid);
  } else if (kty == "EC") {
    key = public_key_from_pem(pem_of(ec_from_jwk(jwk, origin).get(), origin), pinned, origin, kid);
  } else {
    return std::nullopt;
  }
  if (pinned && key.algorithm != *pinned)
    throw KeyError(origin + ": alg " + std::string(to_string(*pinned)) + " does not fit a key of type " +
                   kty);
  return key;
}

}  // namespace

std::string read_key_file(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw KeyError(std::string(what) + " " + path + ": cannot be read");
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

VerificationKey hmac_key(std::string secret, const std::string& origin, std::string kid) {
  // Editors end files with a newline; it is never meant to be part of the secret.
  if (secret.ends_with("\r\n")) {
    secret.resize(secret.size() - 2);
  } else if (secret.ends_with('\n')) {
    secret.pop_back();
  }
  if (secret.size() < kMinSecretBytes)
    throw KeyError(origin + ": an HS256 secret must be at least " + std::to_string(kMinSecretBytes) +
                   " bytes, this one has " + std::to_string(secret.size()));
  return VerificationKey{std::move(kid), Algorithm::HS256, std::move(secret)};
}

VerificationKey public_key_from_pem(const std::string& pem, std::optional<Algorithm> algorithm,
                                    const std::string& origin, std::string kid) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Pkey key(bio ? PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  if (!key) throw KeyError(origin + ": not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  const Algorithm fits = algorithm_of(key.get(), origin);
  if (algorithm && *algorithm != fits)
    throw KeyError(origin + ": the key is for " + std::string(to_string(fits)) + ", not " +
                   std::string(to_string(*algorithm)));
  return VerificationKey{std::move(kid), fits, pem_of(key.get(), origin)};
}

std::vector<VerificationKey> keys_from_jwks(std::string_view text, const std::string& origin) {
  const json document = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (document.is_discarded() || !document.is_object() || !document.contains("keys") ||
      !document["keys"].is_array())
    throw KeyError(origin + ": not a JWKS document ({\"keys\": [...]})");
  std::vector<VerificationKey> keys;
  const json& list = document["keys"];
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (auto key = key_from_jwk(list[i], origin + " /keys/" + std::to_string(i)))
      keys.push_back(std::move(*key));
  }
  if (keys.empty()) throw KeyError(origin + ": no signing key for HS256, RS256 or ES256");
  return keys;
}

std::vector<VerificationKey> load_keys(const JwtSettings& settings) {
  std::vector<VerificationKey> keys;
  if (!settings.secret_file.empty()) {
    keys.push_back(hmac_key(read_key_file(settings.secret_file, "JWT secret file"),
                            "JWT secret file " + settings.secret_file));
  }
  if (!settings.public_key_file.empty()) {
    std::optional<Algorithm> algorithm;
    if (!settings.public_key_algorithm.empty()) {
      algorithm = algorithm_from(settings.public_key_algorithm);
      if (!algorithm || *algorithm == Algorithm::HS256)
        throw KeyError("JWT public key algorithm '" + settings.public_key_algorithm +
                       "': use RS256 or ES256");
    }
    const std::string origin = "JWT public key file " + settings.public_key_file;
    keys.push_back(public_key_from_pem(read_key_file(settings.public_key_file, "JWT public key file"),
                                       algorithm, origin));
  }
  if (!settings.jwks_file.empty()) {
    for (auto& key :
         keys_from_jwks(read_key_file(settings.jwks_file, "JWKS file"), "JWKS file " + settings.jwks_file))
      keys.push_back(std::move(key));
  }
  return keys;
}

}  // namespace kabar::authz
