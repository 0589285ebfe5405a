#pragma once
// Authorizer: what a door needs, in one object: "who is this token?" and "may they read/publish this?".
// The gateway's /ws and /sse doors, kabar's Pusher auth endpoint and the mosquitto plugin each hold one
// and ask it the same questions, so the answer cannot differ between doors. Immutable after
// construction, hence safe to share between threads without a lock.
#include <memory>
#include <string>
#include <string_view>

#include "authz/policy.h"
#include "authz/token.h"

namespace kabar::authz {

class Authorizer {
 public:
  Authorizer(Policy policy, TokenVerifier verifier)
      : policy_(std::move(policy)), verifier_(std::move(verifier)) {}

  // policy_file empty: the built-in policy. Throws PolicyError or KeyError with a message for the operator.
  static std::shared_ptr<const Authorizer> load(const std::string& policy_file, const JwtSettings& jwt);

  // An empty token is anonymous (valid, with anonymous Claims). A token that is given but fails is
  // refused: a client with a bad token is told so, instead of silently getting public channels only.
  TokenResult authenticate(std::string_view token) const;
  TokenResult authenticate(std::string_view token, std::int64_t now_s) const;

  Decision decide(const Claims& claims, Action action, const Resource& resource) const {
    return policy_.decide(claims, action, resource);
  }
  Explanation explain(const Claims& claims, Action action, const Resource& resource) const {
    return policy_.explain(claims, action, resource);
  }

  const Policy& policy() const { return policy_; }
  const TokenVerifier& verifier() const { return verifier_; }

 private:
  Policy policy_;
  TokenVerifier verifier_;
};

}  // namespace kabar::authz
