#pragma once
// KeyRing: verification keys that change while kabar runs: a JWKS document fetched from a URL and
// refreshed (auth.jwt.jwks_url). Whoever fetches replaces the keys; each verification reads the current
// set (TokenVerifier). No networking here (the broker plugin links this library too): a token whose kid
// no key has is only reported, through the listener the fetcher sets, which must return at once (it
// runs on the thread that verifies, an I/O thread).
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "authz/token.h"

namespace kabar::authz {

class KeyRing {
 public:
  explicit KeyRing(std::string origin) : origin_(std::move(origin)) {}

  // The current keys (never null; empty until the first document arrived).
  std::shared_ptr<const std::vector<VerificationKey>> keys() const;
  void replace(std::vector<VerificationKey> keys);
  // Where the keys come from, for messages ("JWKS https://id.example.com/jwks.json").
  const std::string& origin() const { return origin_; }

  // Called with the kid of a token no key has. Null: nobody listens (the fetcher stopped).
  void set_unknown_kid_listener(std::function<void(const std::string& kid)> listener);
  void report_unknown_kid(const std::string& kid) const;

 private:
  const std::string origin_;
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<VerificationKey>> keys_ = std::make_shared<const std::vector<VerificationKey>>();
  std::function<void(const std::string&)> listener_;
};

}  // namespace kabar::authz
