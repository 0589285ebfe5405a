// The built-in policy, evaluated for every role of the POS app against its own and another branch: the
// decision matrix every door (and the broker plugin) relies on.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "authz/policy.h"

namespace kabar::authz {
namespace {

using nlohmann::json;
using ::testing::HasSubstr;

Claims token(const std::string& role, json cabang = json::array(), const std::string& sub = "u1") {
  json payload = {{"sub", sub}, {"role", role}, {"exp", 4102444800}};
  if (!cabang.empty()) payload["cabang"] = cabang;
  return Claims::from_payload(payload);
}

struct Cell {
  const char* who;
  Claims claims;
  Action action;
  Resource resource;
  bool allowed;
  const char* code;
};

std::string describe(const Cell& cell) {
  return std::string(cell.who) + " " + std::string(to_string(cell.action)) + " " + cell.resource.name;
}

class BuiltinPolicy : public ::testing::Test {
 protected:
  const Policy policy = Policy::builtin();
};

TEST_F(BuiltinPolicy, RolesTimesBranchesMatrix) {
  const Claims kasir = token("kasir", {3});
  const Claims admin = token("admin", {"3", "4"});
  const Claims super_admin = token("super_admin");
  const Claims backend = token("backend", json::array(), "laravel");
  const Claims anonymous = Claims::anonymous();
  const auto read = Action::Read;
  const auto publish = Action::Publish;
  const auto channel = Resource::channel;
  const auto topic = Resource::topic;
  const std::vector<Cell> cells = {
      // cashier: own branch's takings only
      {"kasir", kasir, read, channel("private-cabang.3"), true, "rule"},
      {"kasir", kasir, read, channel("private-cabang.7"), false, "claim_mismatch"},
      {"kasir", kasir, read, channel("private-cabang.3.admin"), false, "role_not_allowed"},
      {"kasir", kasir, read, channel("dokumen.42"), true, "public"},
      {"kasir", kasir, publish, channel("private-cabang.3"), false, "action_not_allowed"},
      {"kasir", kasir, read, topic("cabang/3/omset"), true, "rule"},
      {"kasir", kasir, read, topic("cabang/7/omset"), false, "claim_mismatch"},
      {"kasir", kasir, read, topic("cabang/+/omset"), false, "claim_mismatch"},
      {"kasir", kasir, read, topic("cabang/3/#"), false, "role_not_allowed"},
      {"kasir", kasir, read, topic("cabang/3/transaksi"), false, "role_not_allowed"},
      // ...and the orders ready for pickup of her branch (a channel of their own, so the branch channel's
      // newest event stays the day's figures; the app reads the topic)
      {"kasir", kasir, read, channel("private-cabang.3.pesanan"), true, "rule"},
      {"kasir", kasir, read, channel("private-cabang.7.pesanan"), false, "claim_mismatch"},
      {"kasir", kasir, read, topic("cabang/3/pesanan-siap"), true, "rule"},
      {"kasir", kasir, read, topic("cabang/7/pesanan-siap"), false, "claim_mismatch"},
      {"kasir", kasir, read, topic("cabang/+/pesanan-siap"), false, "claim_mismatch"},
      {"kasir", kasir, publish, topic("cabang/3/omset"), false, "action_not_allowed"},
      {"kasir", kasir, read, topic("dokumen/42/updated"), true, "rule"},
      // admin: assigned branches, admin feed included
      {"admin", admin, read, channel("private-cabang.4"), true, "rule"},
      {"admin", admin, read, channel("private-cabang.4.admin"), true, "rule"},
      {"admin", admin, read, channel("private-cabang.7"), false, "claim_mismatch"},
      {"admin", admin, read, channel("private-cabang.7.admin"), false, "claim_mismatch"},
      {"admin", admin, read, topic("cabang/3/transaksi"), true, "rule"},
      {"admin", admin, read, channel("private-cabang.4.pesanan"), true, "rule"},
      {"admin", admin, read, channel("private-cabang.7.pesanan"), false, "claim_mismatch"},
      {"admin", admin, read, topic("cabang/7/pesanan-siap"), false, "claim_mismatch"},
      {"admin", admin, read, topic("cabang/4/pesanan-siap"), true, "rule"},
      {"admin", admin, publish, topic("cabang/3/omset"), false, "action_not_allowed"},
      // super admin: reads everything, publishes nothing; the operator's page (admin, asked of the node)
      {"super_admin", super_admin, read, channel("private-cabang.7.admin"), true, "rule"},
      {"super_admin", super_admin, read, topic("cabang/#"), true, "rule"},
      {"super_admin", super_admin, read, topic("cabang/7/pesanan-siap"), true, "rule"},
      {"super_admin", super_admin, publish, topic("cabang/7/omset"), false, "action_not_allowed"},
      {"super_admin", super_admin, publish, channel("private-cabang.7"), false, "action_not_allowed"},
      {"super_admin", super_admin, Action::Admin, Resource::node(), true, "rule"},
      {"admin", admin, Action::Admin, Resource::node(), false, "role_not_allowed"},
      {"kasir", kasir, Action::Admin, Resource::node(), false, "role_not_allowed"},
      {"backend", backend, Action::Admin, Resource::node(), false, "role_not_allowed"},
      {"anonymous", anonymous, Action::Admin, Resource::node(), false, "token_required"},
      // backend: publishes everywhere
      {"backend", backend, publish, topic("cabang/7/omset"), true, "rule"},
      {"backend", backend, publish, channel("private-cabang.7"), true, "rule"},
      {"backend", backend, read, topic("#"), true, "rule"},
      // anonymous: public channels only
      {"anonymous", anonymous, read, channel("dokumen.42"), true, "public"},
      {"anonymous", anonymous, read, channel("private-cabang.3"), false, "token_required"},
      {"anonymous", anonymous, read, channel("presence-kasir.3"), false, "token_required"},
      {"anonymous", anonymous, publish, channel("dokumen.42"), false, "token_required"},
      {"anonymous", anonymous, read, topic("cabang/3/omset"), false, "token_required"},
  };
  for (const Cell& cell : cells) {
    const Decision decision = policy.decide(cell.claims, cell.action, cell.resource);
    EXPECT_EQ(decision.allowed, cell.allowed) << describe(cell) << ": " << decision.reason;
    EXPECT_EQ(decision.code, cell.code) << describe(cell) << ": " << decision.reason;
    EXPECT_FALSE(decision.reason.empty()) << describe(cell);
  }
}

// admin is asked of the node only, and of the node nothing else is asked.
TEST_F(BuiltinPolicy, AdminIsAskedOfTheNodeOnly) {
  const Claims super_admin = token("super_admin");
  EXPECT_EQ(policy.decide(super_admin, Action::Admin, Resource::channel("dokumen.1")).code, "invalid_name");
  EXPECT_EQ(policy.decide(super_admin, Action::Read, Resource::node()).code, "invalid_name");
  const Decision kasir = policy.decide(token("kasir", {3}), Action::Admin, Resource::node());
  EXPECT_THAT(kasir.reason, HasSubstr("operator's page"));
  EXPECT_THAT(kasir.reason, HasSubstr("operator"));
}

TEST(PolicyAdmin, ARuleGrantingOnlyAdminNeedsNoPatternsAndNoWhere) {
  const Policy policy = Policy::parse(R"({"version": 1, "rules": [
      {"name": "ops", "roles": ["ops"], "actions": ["admin"]}]})", "test");
  EXPECT_TRUE(policy.decide(token("ops"), Action::Admin, Resource::node()).allowed);
  EXPECT_FALSE(policy.decide(token("ops"), Action::Read, Resource::channel("private-x")).allowed);
  EXPECT_THROW(Policy::parse(R"({"version": 1, "rules": [
      {"name": "ops", "roles": ["ops"], "actions": ["admin", "read"]}]})", "test"), PolicyError);
  EXPECT_THROW(Policy::parse(R"({"version": 1, "rules": [
      {"name": "ops", "roles": ["ops"], "actions": ["admin"], "channels": ["c.{id}"],
       "where": {"id": {"in_claim": "id"}}}]})", "test"), PolicyError);
}

TEST_F(BuiltinPolicy, RefusalNamesTheBranchTheClaimAndTheRule) {
  const Decision decision =
      policy.decide(token("kasir", {3}), Action::Read, Resource::channel("private-cabang.7"));
  EXPECT_FALSE(decision.allowed);
  EXPECT_THAT(decision.reason, HasSubstr("{cabang} = 7"));
  EXPECT_THAT(decision.reason, HasSubstr("'cabang' claim [3]"));
  EXPECT_THAT(decision.reason, HasSubstr("kasir-omset"));
  EXPECT_EQ(decision.rule, "kasir-omset");
}

TEST_F(BuiltinPolicy, DocumentStaffJoinADocumentsPresenceAndNothingPrivate) {
  const Claims staf = token("staf", json::array(), "u1");
  EXPECT_TRUE(policy.decide(staf, Action::Read, Resource::channel("presence-dokumen.42")).allowed);
  EXPECT_TRUE(policy.decide(staf, Action::Read, Resource::channel("dokumen.42")).allowed);
  EXPECT_FALSE(policy.decide(staf, Action::Read, Resource::channel("private-cabang.3")).allowed);
  EXPECT_FALSE(policy.decide(staf, Action::Read, Resource::channel("presence-cabang.3")).allowed);
  EXPECT_FALSE(policy.decide(staf, Action::Publish, Resource::channel("dokumen.42")).allowed);
  EXPECT_TRUE(policy.decide(token("admin", {3}), Action::Read, Resource::channel("presence-dokumen.42")).allowed);
  EXPECT_FALSE(policy.decide(token("kasir", {3}), Action::Read, Resource::channel("presence-dokumen.42")).allowed);
  EXPECT_FALSE(policy.decide(Claims::anonymous(), Action::Read, Resource::channel("presence-dokumen.42")).allowed);
}

TEST_F(BuiltinPolicy, UnknownRoleGetsPublicChannelsOnly) {
  const Claims stranger = token("manager", {3});
  EXPECT_TRUE(policy.decide(stranger, Action::Read, Resource::channel("dokumen.1")).allowed);
  const Decision decision = policy.decide(stranger, Action::Read, Resource::channel("private-cabang.3"));
  EXPECT_FALSE(decision.allowed);
  EXPECT_EQ(decision.code, "unknown_role");
  EXPECT_THAT(decision.reason, HasSubstr("manager"));
  // "*" rules are for known roles only.
  EXPECT_EQ(policy.decide(stranger, Action::Read, Resource::topic("dokumen/1/updated")).code, "unknown_role");
}

TEST_F(BuiltinPolicy, TokenWithoutBranchClaimIsRefusedWithAReason) {
  const Decision decision =
      policy.decide(token("kasir"), Action::Read, Resource::channel("private-cabang.3"));
  EXPECT_EQ(decision.code, "claim_mismatch");
  EXPECT_THAT(decision.reason, HasSubstr("no 'cabang' claim"));
}

TEST_F(BuiltinPolicy, StarInTheClaimAllowsEveryBranchAndWildcardFilters) {
  const Claims area_manager = token("admin", {"*"});
  EXPECT_TRUE(
      policy.decide(area_manager, Action::Read, Resource::channel("private-cabang.99.admin")).allowed);
  EXPECT_TRUE(policy.decide(area_manager, Action::Read, Resource::topic("cabang/+/omset")).allowed);
}

TEST_F(BuiltinPolicy, RolesMayBeAListAndBranchesNumbersOrStrings) {
  const Claims claims =
      Claims::from_payload({{"sub", "u"}, {"role", {"kasir", "x"}}, {"cabang", {3.0, "5"}}});
  EXPECT_TRUE(policy.decide(claims, Action::Read, Resource::channel("private-cabang.3")).allowed);
  EXPECT_TRUE(policy.decide(claims, Action::Read, Resource::channel("private-cabang.5")).allowed);
}

TEST_F(BuiltinPolicy, InvalidNamesAreRefusedBeforeAnyRule) {
  const Claims backend = token("backend");
  EXPECT_EQ(policy.decide(backend, Action::Read, Resource::channel("a b")).code, "invalid_name");
  EXPECT_EQ(policy.decide(backend, Action::Publish, Resource::topic("cabang/+/omset")).code, "invalid_name");
  EXPECT_EQ(policy.decide(backend, Action::Read, Resource::topic("a/#/b")).code, "invalid_name");
  EXPECT_EQ(policy.decide(backend, Action::Read, Resource::topic("")).code, "invalid_name");
}

TEST_F(BuiltinPolicy, ExplainGivesTheTrail) {
  const Explanation explanation =
      policy.explain(token("kasir", {3}), Action::Read, Resource::channel("private-cabang.7"));
  EXPECT_FALSE(explanation.decision.allowed);
  ASSERT_GE(explanation.trail.size(), 2u);
  EXPECT_THAT(explanation.trail[0], HasSubstr("role=kasir"));
  EXPECT_THAT(explanation.trail[1],
              HasSubstr("rule kasir-omset (allow): pattern private-cabang.{cabang} matches with cabang=7"));
}

Policy parse(const json& document) { return Policy::parse(document.dump(), "test policy"); }

TEST(Policy, DenyRulesWin) {
  const Policy policy =
      parse({{"version", 1},
             {"rules",
              {{{"name", "all"}, {"roles", {"*"}}, {"actions", {"read"}}, {"channels", {"*"}}},
               {{"name", "no-audit"},
                {"effect", "deny"},
                {"roles", {"*"}},
                {"actions", {"read"}},
                {"channels", {"private-audit.*"}}}}}});
  const Claims claims = token("anyone");
  EXPECT_TRUE(policy.decide(claims, Action::Read, Resource::channel("private-x")).allowed);
  const Decision denied = policy.decide(claims, Action::Read, Resource::channel("private-audit.1"));
  EXPECT_EQ(denied.code, "denied");
  EXPECT_EQ(denied.rule, "no-audit");
}

TEST(Policy, PublicChannelsSetting) {
  const json rules = json::array();
  const Claims anonymous = Claims::anonymous();
  const Claims someone = token("r");
  auto with = [&](const char* setting) {
    return parse({{"version", 1}, {"public_channels", setting}, {"rules", rules}});
  };
  EXPECT_TRUE(with("anyone").decide(anonymous, Action::Read, Resource::channel("news")).allowed);
  EXPECT_EQ(with("authenticated").decide(anonymous, Action::Read, Resource::channel("news")).code,
            "token_required");
  EXPECT_TRUE(with("authenticated").decide(someone, Action::Read, Resource::channel("news")).allowed);
  EXPECT_EQ(with("rules").decide(someone, Action::Read, Resource::channel("news")).code, "no_rule");
}

TEST(Policy, SubjectsAndAnonymousRules) {
  const Policy policy = parse({{"version", 1},
                               {"rules",
                                {{{"name", "laravel"},
                                  {"subjects", {"svc-laravel"}},
                                  {"actions", {"publish"}},
                                  {"topics", {"cabang/#"}}},
                                 {{"name", "lobby"},
                                  {"anonymous", true},
                                  {"actions", {"read"}},
                                  {"channels", {"presence-lobby"}}}}}});
  EXPECT_TRUE(policy.decide(token("x", {}, "svc-laravel"), Action::Publish, Resource::topic("cabang/1/omset"))
                  .allowed);
  EXPECT_FALSE(
      policy.decide(token("x", {}, "other"), Action::Publish, Resource::topic("cabang/1/omset")).allowed);
  EXPECT_TRUE(policy.decide(Claims::anonymous(), Action::Read, Resource::channel("presence-lobby")).allowed);
}

TEST(Policy, SamePlaceholderTwiceMustAgree) {
  const Policy policy = parse({{"version", 1},
                               {"rules",
                                {{{"name", "self"},
                                  {"roles", {"*"}},
                                  {"actions", {"read"}},
                                  {"channels", {"private-chat.{user}.{user}"}},
                                  {"where", {{"user", {{"in_claim", "sub"}}}}}}}}});
  EXPECT_TRUE(
      policy.decide(token("r", {}, "u1"), Action::Read, Resource::channel("private-chat.u1.u1")).allowed);
  EXPECT_FALSE(
      policy.decide(token("r", {}, "u1"), Action::Read, Resource::channel("private-chat.u1.u2")).allowed);
}

}  // namespace
}  // namespace kabar::authz
