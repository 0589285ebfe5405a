// libFuzzer target: policy evaluation (authz/policy.cpp, authz/pattern.cpp) with hostile inputs, and
// policy files themselves (authz/policy_loader.cpp).
// First byte: bit 0 picks the mode. Evaluation mode: the rest is "<claims JSON>\n<name>", asked of the
// built-in policy and of a policy using every feature (deny, subjects, anonymous, prefixes, '*'), as
// read and publish, as channel and topic. Policy mode: the rest is a policy document; if it loads,
// a fixed set of requests is evaluated with it.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "authz/policy.h"

namespace {
using namespace kabar::authz;
using nlohmann::json;

const char* kFeaturePolicy = R"({
  "version": 1, "roles": ["kasir", "admin", "ops"], "role_claim": "role", "public_channels": "authenticated",
  "rules": [
    {"name": "own", "roles": ["kasir"], "actions": ["read"], "channels": ["private-cabang.{cabang}"],
     "topics": ["cabang/{cabang}/#"], "where": {"cabang": {"in_claim": "cabang"}}},
    {"name": "own-desk", "roles": ["kasir"], "actions": ["read"], "channels": ["presence-kasir.{cabang}.{sub}"],
     "topics": ["cabang/{cabang}/+/{sub}"], "where": {"cabang": {"in_claim": "cabang"}, "sub": {"in_claim": "sub"}}},
    {"name": "users", "roles": ["*"], "actions": ["read", "publish"], "channels": ["private-user-{id}.*", "private-App.Models.User.{id}"],
     "where": {"id": {"in_claim": "sub"}}},
    {"name": "svc", "subjects": ["svc"], "actions": ["publish"], "topics": ["#", "$SYS/#"], "channels": ["*"]},
    {"name": "lobby", "anonymous": true, "actions": ["read"], "channels": ["presence-lobby"], "topics": ["lobby/+"]},
    {"name": "no-audit", "effect": "deny", "roles": ["*"], "actions": ["read", "publish"], "channels": ["private-audit*"], "topics": ["audit/#"]}
  ]})";

const Policy& builtin() {
  static const Policy policy = Policy::builtin();
  return policy;
}

const Policy& features() {
  static const Policy policy = Policy::parse(kFeaturePolicy, "fuzz policy");
  return policy;
}

void ask(const Policy& policy, const Claims& claims, const std::string& name) {
  for (const Action action : {Action::Read, Action::Publish}) {
    for (const Resource& resource : {Resource::channel(name), Resource::topic(name)}) {
      const Decision decision = policy.decide(claims, action, resource);
      if (decision.code.empty() || decision.reason.empty()) __builtin_trap();  // every decision says why
      const Explanation explanation = policy.explain(claims, action, resource);
      if (explanation.decision.allowed != decision.allowed) __builtin_trap();  // explain == decide
    }
  }
}

void evaluate(std::string_view input) {
  const auto newline = input.find('\n');
  const std::string_view claims_text = input.substr(0, newline);
  const std::string name(newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1));
  json payload = json::parse(claims_text, nullptr, /*allow_exceptions=*/false);
  const Claims claims = payload.is_discarded() ? Claims::anonymous() : Claims::from_payload(payload);
  ask(builtin(), claims, name);
  ask(features(), claims, name);
}

void load(std::string_view input) {
  try {
    const Policy policy = Policy::parse(input, "fuzz input");
    const Claims kasir = Claims::from_payload({{"sub", "u"}, {"role", "kasir"}, {"cabang", {3, "*"}}});
    for (const char* name : {"private-cabang.3", "cabang/3/omset", "cabang/+/omset", "#", "x"}) {
      ask(policy, kasir, name);
      ask(policy, Claims::anonymous(), name);
    }
  } catch (const PolicyError& error) {
    if (std::string_view(error.what()).empty()) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    load(rest);
  } else {
    evaluate(rest);
  }
  return 0;
}
