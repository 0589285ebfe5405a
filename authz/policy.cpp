// Policy evaluation: the one place where kabar decides who may read or publish what.
#include "authz/policy.h"

#include <algorithm>
#include <optional>

namespace kabar::authz {
namespace {

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

bool is_private_channel(std::string_view name) {
  return name.starts_with("private-") || name.starts_with("presence-");
}

std::string join(const std::vector<std::string>& list, std::string_view separator = ", ") {
  std::string text;
  for (std::size_t i = 0; i < list.size(); ++i) text += (i ? std::string(separator) : "") + list[i];
  return text;
}

// How far a rule got before it failed to allow; the refusal reports the furthest any rule got.
enum class Stage { NoMatch, Principal, Action, Condition, Allowed };

// Who is asking, as far as rules are concerned.
struct Principal {
  const Claims& claims;
  std::vector<std::string> roles;          // from the policy's role claim
  std::vector<std::string> unknown_roles;  // roles the policy does not know

  bool has_known_role() const { return roles.size() > unknown_roles.size(); }
};

Principal principal_of(const Claims& claims, const Policy& policy) {
  Principal principal{claims, {}, {}};
  if (!claims.authenticated) return principal;
  if (const auto* roles = claims.find(policy.role_claim())) principal.roles = *roles;
  if (!policy.roles().empty()) {
    for (const auto& role : principal.roles) {
      if (!contains(policy.roles(), role)) principal.unknown_roles.push_back(role);
    }
  }
  return principal;
}

bool rule_fits(const Rule& rule, const Principal& principal) {
  if (!principal.claims.authenticated) return rule.anonymous;
  if (!principal.claims.subject.empty() && contains(rule.subjects, principal.claims.subject)) return true;
  if (!principal.has_known_role()) return false;  // an unknown role gets nothing from role rules
  if (contains(rule.roles, "*")) return true;
  return std::any_of(principal.roles.begin(), principal.roles.end(), [&](const std::string& role) {
    return contains(rule.roles, role) &&
           std::find(principal.unknown_roles.begin(), principal.unknown_roles.end(), role) ==
               principal.unknown_roles.end();
  });
}

// The same placeholder twice in one pattern must bind the same value.
bool consistent(const Bindings& bindings) {
  for (std::size_t i = 0; i < bindings.size(); ++i) {
    for (std::size_t j = i + 1; j < bindings.size(); ++j) {
      if (bindings[i].placeholder == bindings[j].placeholder && bindings[i].value != bindings[j].value)
        return false;
    }
  }
  return true;
}

// Empty when every condition holds; otherwise why not.
std::string failed_condition(const Rule& rule, const Bindings& bindings, const Claims& claims) {
  for (const Condition& condition : rule.conditions) {
    for (const Binding& binding : bindings) {
      if (binding.placeholder != condition.placeholder) continue;
      const auto* values = claims.find(condition.claim);
      if (values && contains(*values, "*")) continue;
      const std::string shown = binding.value == kAnyValue ? "every value ('+')" : binding.value;
      if (!values)
        return "{" + condition.placeholder + "} = " + shown + " but the token has no '" + condition.claim +
               "' claim";
      if (binding.value == kAnyValue || !contains(*values, binding.value))
        return "{" + condition.placeholder + "} = " + shown + " is not in the token's '" + condition.claim +
               "' claim [" + join(*values) + "]";
    }
  }
  return {};
}

// The first pattern of the rule that matches the resource, with its bindings.
struct PatternMatch {
  const std::string* pattern = nullptr;
  Bindings bindings;
  std::string condition_failure;
};

// Prefers a pattern whose conditions hold, so a rule with several patterns reports its best match.
PatternMatch match_patterns(const Rule& rule, const Resource& resource, const Claims& claims) {
  PatternMatch best;
  Bindings bindings;
  auto consider = [&](const std::string& text, bool matched) {
    if (!matched || !consistent(bindings)) return false;
    std::string failure = failed_condition(rule, bindings, claims);
    const bool holds = failure.empty();
    if (!best.pattern || holds) best = PatternMatch{&text, bindings, std::move(failure)};
    return holds;
  };
  static const std::string kNode = "admin";
  if (resource.kind == ResourceKind::Node) {  // only a rule granting admin speaks of the node
    if (rule.admin) best.pattern = &kNode;
  } else if (resource.kind == ResourceKind::Channel) {
    for (const auto& pattern : rule.channels) {
      if (consider(pattern.text(), pattern.match(resource.name, bindings))) break;
    }
  } else {
    for (const auto& pattern : rule.topics) {
      if (consider(pattern.text(), pattern.covers(resource.name, bindings))) break;
    }
  }
  return best;
}

std::string describe_bindings(const Bindings& bindings) {
  std::string text;
  for (const auto& binding : bindings)
    text += (text.empty() ? " with " : ", ") + binding.placeholder + "=" + binding.value;
  return text;
}

struct RuleOutcome {
  Stage stage = Stage::NoMatch;
  std::string detail;  // for the refusal reason
};

std::string trail_line(const Rule& rule, const PatternMatch& match, const RuleOutcome& outcome,
                       Action action) {
  std::string line = "rule " + rule.name + (rule.effect == Effect::Deny ? " (deny): " : " (allow): ");
  if (action == Action::Admin) {  // asked of the node: a rule speaks of it by granting admin
    if (!match.pattern) return line + "grants no admin";
    line += "grants admin";
  } else {
    if (!match.pattern) return line + "no pattern matches";
    line += "pattern " + *match.pattern + " matches" + describe_bindings(match.bindings);
  }
  switch (outcome.stage) {
    case Stage::Principal:
      return line + "; does not apply to this token (roles [" + join(rule.roles) + "]" +
             (rule.subjects.empty() ? "" : ", subjects [" + join(rule.subjects) + "]") +
             (rule.anonymous ? ", anonymous" : "") + ")";
    case Stage::Action:
      return line + "; applies, but grants no " + std::string(to_string(action));
    case Stage::Condition:
      return line + "; " + match.condition_failure;
    case Stage::Allowed:
      return line + "; applies -> " + (rule.effect == Effect::Deny ? "DENY" : "ALLOW");
    case Stage::NoMatch:
      break;
  }
  return line;
}

// How far `rule` gets for this request; the trail (explain only) gets one line about it.
RuleOutcome judge(const Rule& rule, const Principal& principal, Action action, const Resource& resource,
                  std::vector<std::string>* trail) {
  const PatternMatch match = match_patterns(rule, resource, principal.claims);
  RuleOutcome outcome;
  if (!match.pattern) {
    outcome.stage = Stage::NoMatch;
  } else if (!rule_fits(rule, principal)) {
    outcome.stage = Stage::Principal;
  } else if (!rule.grants(action)) {
    outcome.stage = Stage::Action;
    std::vector<std::string> granted;
    if (rule.read) granted.emplace_back("read");
    if (rule.publish) granted.emplace_back("publish");
    if (rule.admin) granted.emplace_back("admin");
    outcome.detail = "rule " + rule.name + " grants only " + join(granted, " and ");
  } else if (!match.condition_failure.empty()) {
    outcome.stage = Stage::Condition;
    outcome.detail = match.condition_failure + " (rule " + rule.name + ")";
  } else {
    outcome.stage = Stage::Allowed;
  }
  if (trail) trail->push_back(trail_line(rule, match, outcome, action));
  return outcome;
}

Decision refuse(std::string code, std::string reason, std::string rule = {}) {
  return Decision{false, std::move(code), std::move(reason), std::move(rule)};
}

std::string what(Action action, const Resource& resource) {
  if (resource.kind == ResourceKind::Node) return "open the operator's page (admin)";
  return std::string(to_string(action)) + (resource.kind == ResourceKind::Channel ? " channel " : " topic ") +
         resource.name;
}

// No rule allowed: say the most telling thing found on the way.
Decision refusal(const Principal& principal, Action action, const Resource& resource,
                 const std::vector<std::pair<const Rule*, RuleOutcome>>& outcomes) {
  const std::pair<const Rule*, RuleOutcome>* furthest = nullptr;
  for (const auto& outcome : outcomes) {
    if (!furthest || outcome.second.stage > furthest->second.stage) furthest = &outcome;
  }
  const Stage stage = furthest ? furthest->second.stage : Stage::NoMatch;
  if (stage == Stage::Condition)
    return refuse("claim_mismatch", "may not " + what(action, resource) + ": " + furthest->second.detail,
                  furthest->first->name);
  if (stage == Stage::Action)
    return refuse("action_not_allowed", "may not " + what(action, resource) + ": " + furthest->second.detail,
                  furthest->first->name);
  if (!principal.claims.authenticated)
    return refuse("token_required", what(action, resource) + " needs a token");
  if (!principal.unknown_roles.empty() && !principal.has_known_role())
    return refuse("unknown_role", "the token's role '" + join(principal.unknown_roles) +
                                      "' is not one of this policy's roles; may not " +
                                      what(action, resource));
  if (stage == Stage::Principal) {
    const std::string role = principal.roles.empty() ? "(no role)" : join(principal.roles);
    return refuse("role_not_allowed", "role " + role + " may not " + what(action, resource) +
                                          " (rules for it: " + furthest->first->name + ")");
  }
  return refuse("no_rule", "no rule allows anyone to " + what(action, resource));
}

std::optional<Decision> invalid_name(Action action, const Resource& resource) {
  if ((resource.kind == ResourceKind::Node) != (action == Action::Admin))
    return refuse("invalid_name", "admin is asked of the node, and only admin is");
  if (resource.kind == ResourceKind::Node) return std::nullopt;
  if (resource.kind == ResourceKind::Channel) {
    if (is_channel_name(resource.name)) return std::nullopt;
    return refuse("invalid_name", "not a valid channel name (1-164 characters of [A-Za-z0-9_-=@,.;])");
  }
  if (is_topic(resource.name, action == Action::Read)) return std::nullopt;
  return refuse("invalid_name", action == Action::Read ? "not a valid MQTT topic filter"
                                                       : "not a valid MQTT topic to publish to (no + or #)");
}

std::optional<Decision> public_read(const Policy& policy, const Claims& claims, Action action,
                                    const Resource& resource) {
  if (resource.kind != ResourceKind::Channel || action != Action::Read || is_private_channel(resource.name))
    return std::nullopt;
  switch (policy.public_channels()) {
    case PublicChannels::Anyone:
      return Decision{true, "public", "public channel: anyone may read it", {}};
    case PublicChannels::Authenticated:
      if (claims.authenticated)
        return Decision{true, "public", "public channel: any valid token may read it", {}};
      return refuse("token_required", "this server serves public channels to holders of a token only");
    case PublicChannels::Rules:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(Action action) {
  return action == Action::Read ? "read" : action == Action::Publish ? "publish" : "admin";
}

Resource Resource::guess(std::string name) {
  const bool topic = name.find('/') != std::string::npos || name.find('#') != std::string::npos ||
                     name.find('+') != std::string::npos;
  return topic ? Resource::topic(std::move(name)) : Resource::channel(std::move(name));
}

Decision Policy::evaluate(const Claims& claims, Action action, const Resource& resource,
                          std::vector<std::string>* trail) const {
  if (auto invalid = invalid_name(action, resource)) return *invalid;
  const Principal principal = principal_of(claims, *this);
  if (trail) trail->push_back("token: " + claims.describe() + "; asks to " + what(action, resource));
  std::vector<std::pair<const Rule*, RuleOutcome>> outcomes;
  // Deny rules first: a matching deny wins over every allow.
  for (const Effect pass : {Effect::Deny, Effect::Allow}) {
    for (const Rule& rule : rules_) {
      if (rule.effect != pass) continue;
      RuleOutcome outcome = judge(rule, principal, action, resource, trail);
      if (outcome.stage == Stage::Allowed) {
        if (pass == Effect::Deny)
          return refuse("denied", what(action, resource) + " is denied by rule " + rule.name, rule.name);
        return Decision{true, "rule", "allowed by rule " + rule.name, rule.name};
      }
      if (pass == Effect::Allow) outcomes.emplace_back(&rule, std::move(outcome));
    }
  }
  if (auto decision = public_read(*this, claims, action, resource)) {
    if (trail) trail->push_back("no rule decided: " + decision->reason);
    return *decision;
  }
  return refusal(principal, action, resource, outcomes);
}

Decision Policy::decide(const Claims& claims, Action action, const Resource& resource) const {
  return evaluate(claims, action, resource, nullptr);
}

Explanation Policy::explain(const Claims& claims, Action action, const Resource& resource) const {
  Explanation explanation;
  explanation.decision = evaluate(claims, action, resource, &explanation.trail);
  return explanation;
}

}  // namespace kabar::authz
