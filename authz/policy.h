#pragma once
// Policy: who may read or publish which channel or MQTT topic. One Policy object answers every door
// (/ws, /sse, Pusher, HTTP publish) and the mosquitto plugin, so a cashier of branch 3 is refused
// branch 7 the same way everywhere (docs/architecture.md, promise 5; the format: docs/authorization.md).
//
// Evaluation: a matching deny rule refuses; otherwise any matching allow rule allows; otherwise a public
// channel (no private-/presence- prefix) may be read as `public_channels` says; otherwise refused, with
// the most telling reason found on the way (a placeholder outside the token's claim beats a role that
// does not fit, which beats "no rule mentions this name").
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "authz/claims.h"
#include "authz/pattern.h"

namespace kabar::authz {

// Admin: open the operator's page (/admin, docs/operations.md "The operator's page"). It is asked of the
// node (ResourceKind::Node), not of a channel: a rule grants it by naming it in its `actions`.
enum class Action { Read, Publish, Admin };
std::string_view to_string(Action action);

enum class ResourceKind { Channel, Topic, Node };

struct Resource {
  ResourceKind kind = ResourceKind::Channel;
  std::string name;  // a channel name, or an MQTT topic / subscription filter

  static Resource channel(std::string name) { return {ResourceKind::Channel, std::move(name)}; }
  static Resource topic(std::string name) { return {ResourceKind::Topic, std::move(name)}; }
  static Resource node() { return {ResourceKind::Node, "the node"}; }  // what Action::Admin is asked of
  // "cabang/3/omset" has a '/', so it is a topic; anything else is a channel (for the CLI).
  static Resource guess(std::string name);
};

struct Decision {
  bool allowed = false;
  // Allowed: "rule" or "public". Refused: "token_required", "unknown_role", "role_not_allowed",
  // "action_not_allowed", "claim_mismatch", "denied", "no_rule", "invalid_name".
  std::string code;
  std::string reason;  // one line for people; names the rule, the placeholder and the claim
  std::string rule;    // the rule that decided, if one did

  explicit operator bool() const { return allowed; }
};

struct Explanation {
  Decision decision;
  std::vector<std::string> trail;  // one line per rule considered, in order
};

class PolicyError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class Effect { Allow, Deny };
enum class PublicChannels { Anyone, Authenticated, Rules };

struct Condition {
  std::string placeholder;
  std::string claim;  // the placeholder's value must be one of this claim's values (or the claim holds "*")
};

struct Rule {
  std::string name;
  std::string description;
  Effect effect = Effect::Allow;
  bool read = false;
  bool publish = false;
  bool admin = false;  // the operator's page; a rule granting only it needs no channels or topics
  std::vector<std::string> roles;  // "*": any token with a known role
  std::vector<std::string> subjects;
  bool anonymous = false;
  std::vector<ChannelPattern> channels;
  std::vector<TopicPattern> topics;
  std::vector<Condition> conditions;

  bool grants(Action action) const {
    return action == Action::Read ? read : action == Action::Publish ? publish : admin;
  }
};

class Policy {
 public:
  // Throws PolicyError naming the origin and the place: "line 12, column 5" for every mistake, and also
  // the JSON pointer ("/rules/2/roles/0") for the schema and for rules that do not make sense (unknown
  // role, a condition on a placeholder no pattern has, a bad pattern, a repeated rule name).
  static Policy parse(std::string_view text, const std::string& origin);
  static Policy load_file(const std::filesystem::path& path);
  // The policy for the POS and document apps (authz/default-policy.json, compiled in).
  static Policy builtin();
  static std::string_view builtin_text();

  Decision decide(const Claims& claims, Action action, const Resource& resource) const;
  Explanation explain(const Claims& claims, Action action, const Resource& resource) const;

  const std::vector<Rule>& rules() const { return rules_; }
  const std::vector<std::string>& roles() const { return roles_; }
  const std::string& role_claim() const { return role_claim_; }
  PublicChannels public_channels() const { return public_channels_; }
  const std::string& origin() const { return origin_; }

 private:
  Decision evaluate(const Claims& claims, Action action, const Resource& resource,
                    std::vector<std::string>* trail) const;

  std::string origin_;
  std::string role_claim_ = "role";
  std::vector<std::string> roles_;  // empty: every role a rule names
  PublicChannels public_channels_ = PublicChannels::Anyone;
  std::vector<Rule> rules_;
};

}  // namespace kabar::authz
