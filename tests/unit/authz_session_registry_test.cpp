// The plugin's session registry (broker-config/plugin/session_registry.h) on its own: which entries
// outlive a disconnect and when each is dropped, driven the way mosquitto 2.0.11 calls the plugin
// (BASIC_AUTH, then possibly a takeover of the same client id; DISCONNECT, then the will check; TICK).
#include <gtest/gtest.h>

#include "broker-config/plugin/session_registry.h"
#include "broker-config/plugin/state_file_format.h"

namespace kabar::plugin {
namespace {

using kabar::authz::Claims;

Claims token(std::int64_t exp) {
  Claims claims;
  claims.subject = "kabar-gw1";
  claims.expires_at = exp;
  return claims;
}

int a_context, b_context, c_context;  // stand-ins for mosquitto's client pointers
const void* const A = &a_context;
const void* const B = &b_context;
const void* const C = &c_context;
bool expired_now = false;
const auto expiry = [](const Session&) { return expired_now; };

class SessionRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override { expired_now = false; }
  SessionRegistry registry;
};

TEST_F(SessionRegistryTest, APersistentSessionKeepsItsIdentityWhileOffline) {
  registry.admit(A, "kabar-gw1", token(100), false);
  registry.disconnected(A, /*clean_session=*/false);
  for (int i = 0; i < 3; ++i) registry.tick(expiry);
  ASSERT_NE(registry.find(A), nullptr);
  EXPECT_FALSE(registry.find(A)->online);
  EXPECT_EQ(registry.find(A)->claims.subject, "kabar-gw1");
  EXPECT_EQ(registry.offline(), 1u);
}

TEST_F(SessionRegistryTest, AnOfflineSessionIsForgottenWhenItsTokenExpiresAndIsNotKicked) {
  registry.admit(A, "kabar-gw1", token(100), false);
  registry.disconnected(A, false);
  expired_now = true;
  const auto result = registry.tick(expiry);
  EXPECT_EQ(registry.find(A), nullptr);
  EXPECT_EQ(result.expired_offline, std::vector<std::string>{"kabar-gw1"});
  EXPECT_TRUE(result.kick.empty());  // kicking by id would hit whoever holds the id now
}

TEST_F(SessionRegistryTest, AConnectedClientWhoseTokenExpiredIsKicked) {
  registry.admit(A, "kasir", token(100), false);
  expired_now = true;
  const auto result = registry.tick(expiry);
  EXPECT_EQ(result.kick, std::vector<std::string>{"kasir"});
  EXPECT_NE(registry.find(A), nullptr);  // until its disconnect
}

TEST_F(SessionRegistryTest, ACleanSessionLastsUntilTheNextTickForItsWill) {
  registry.admit(A, "cluster-link", token(100), false);
  registry.disconnected(A, /*clean_session=*/true);
  ASSERT_NE(registry.find(A), nullptr) << "the will is checked right after the disconnect event";
  const auto result = registry.tick(expiry);
  EXPECT_EQ(registry.find(A), nullptr);
  EXPECT_EQ(result.dropped, 1u);
  EXPECT_EQ(registry.size(), 0u);
}

TEST_F(SessionRegistryTest, ATakeoverDropsTheOldEntryAtTheNextTickNotBefore) {
  registry.admit(A, "kabar-gw1", token(100), false);
  registry.disconnected(A, false);
  registry.admit(B, "kabar-gw1", token(200), false);  // the gateway is back: BASIC_AUTH, then takeover
  ASSERT_NE(registry.find(A), nullptr) << "a CONNECT refused after BASIC_AUTH must not cost A its session";
  registry.disconnected(A, true);  // mosquitto disconnects the taken-over context (clean_start forced)
  ASSERT_NE(registry.find(A), nullptr) << "its will is checked right after";
  registry.tick(expiry);
  EXPECT_EQ(registry.find(A), nullptr);
  ASSERT_NE(registry.find(B), nullptr);
  EXPECT_TRUE(registry.find(B)->online);
  EXPECT_EQ(registry.size(), 1u);
}

TEST_F(SessionRegistryTest, AReusedAddressStartsAFreshEntry) {
  registry.admit(A, "old", token(100), false);
  registry.disconnected(A, false);        // then mosquitto expires the session and frees the context
  registry.admit(A, "new", token(200), false);  // and a new connection gets the same address
  ASSERT_NE(registry.find(A), nullptr);
  EXPECT_EQ(registry.find(A)->client_id, "new");
  EXPECT_TRUE(registry.find(A)->online);
  registry.tick(expiry);
  EXPECT_NE(registry.find(A), nullptr);
  registry.admit(C, "old", token(300), false);  // the old id returns elsewhere: nothing of A is touched
  registry.tick(expiry);
  EXPECT_EQ(registry.find(A)->client_id, "new");
  EXPECT_EQ(registry.size(), 2u);
}

TEST_F(SessionRegistryTest, TheInternalClientNeverExpiresButIsTakenOver) {
  registry.admit(A, "kabar-internal-bridge", Claims::anonymous(), true);
  registry.disconnected(A, false);
  expired_now = true;
  registry.tick(expiry);
  EXPECT_NE(registry.find(A), nullptr);
  registry.admit(B, "kabar-internal-bridge", Claims::anonymous(), true);
  registry.disconnected(A, true);  // the takeover
  registry.tick(expiry);
  EXPECT_EQ(registry.find(A), nullptr);
  EXPECT_NE(registry.find(B), nullptr);
}

TEST_F(SessionRegistryTest, ChurnOfCleanSessionsLeavesNothingBehind) {
  std::vector<int> contexts(1000);
  for (int round = 0; round < 5; ++round) {
    for (auto& context : contexts) {
      registry.admit(&context, "client-" + std::to_string(&context - contexts.data()), token(100), false);
      registry.disconnected(&context, true);
    }
    registry.tick(expiry);
    EXPECT_EQ(registry.size(), 0u);
  }
}


// Across a broker restart (plugin_state_file.cpp): what is written, what a restored context adopts.
TEST_F(SessionRegistryTest, PersistentIdentitiesAreSnapshottedOncePerClientIdLatestFirst) {
  registry.admit(A, "kabar-gw1", token(100), false, Credential{"old.token.x", true});
  registry.disconnected(A, false);
  registry.admit(B, "kabar-gw1", token(200), false, Credential{"new.token.y", true});  // takeover
  registry.admit(C, "kasir-phone", token(100), false, Credential{"clean.token.z", false});
  EXPECT_TRUE(registry.take_dirty());
  EXPECT_FALSE(registry.take_dirty());
  const auto snapshot = registry.snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].client_id, "kabar-gw1");
  EXPECT_EQ(snapshot[0].token, "new.token.y");
  registry.disconnected(C, true);
  registry.tick(expiry);
  EXPECT_FALSE(registry.take_dirty()) << "a clean session is not in the state file";
}

TEST_F(SessionRegistryTest, ARestoredIdentityIsAdoptedOnceAndKeptInTheSnapshotUntilThen) {
  registry.restore("kabar-gw1", token(100), false, "saved.token.x");
  registry.restore("kabar-internal-bridge", Claims::anonymous(), true, "");
  EXPECT_EQ(registry.snapshot().size(), 2u) << "a second restart before the client returns keeps it";
  Session* adopted = registry.adopt(A, "kabar-gw1");
  ASSERT_NE(adopted, nullptr);
  EXPECT_FALSE(adopted->online);
  EXPECT_EQ(adopted->claims.subject, "kabar-gw1");
  EXPECT_EQ(registry.adopt(B, "kabar-gw1"), nullptr);
  EXPECT_EQ(registry.snapshot().size(), 2u);
  EXPECT_EQ(registry.restored(), 1u);
}

TEST_F(SessionRegistryTest, OnlyAnAuthenticatedConnectionSupersedesARestoredIdentity) {
  registry.restore("kabar-gw1", token(100), false, "saved.token.x");
  registry.admit(A, "kabar-gw1", Claims::anonymous(), false);  // anonymous: mosquitto may refuse it
  EXPECT_EQ(registry.restored(), 1u);
  registry.admit(B, "kabar-gw1", token(200), false, Credential{"new.token.y", true});
  EXPECT_EQ(registry.restored(), 0u);
}

TEST_F(SessionRegistryTest, ARestoredIdentityWhoseTokenExpiresIsDropped) {
  registry.restore("kabar-gw1", token(100), false, "saved.token.x");
  registry.restore("kabar-internal-bridge", Claims::anonymous(), true, "");
  registry.take_dirty();
  expired_now = true;
  const auto result = registry.tick(expiry);
  EXPECT_EQ(result.expired_restored, std::vector<std::string>{"kabar-gw1"});
  EXPECT_EQ(registry.restored(), 1u);
  EXPECT_TRUE(registry.take_dirty());
}

TEST(StateFileFormat, RoundTripsAnyClientIdAndRejectsWhatIsNotItsFormat) {
  std::size_t left_out = 0;
  const std::string text = state_file::serialize(
      {{"id with space\nand newline\n", false, "a.b.c"}, {"gw", true, ""}, {"bad", false, "has space"}}, left_out);
  const auto parsed = state_file::parse(text);
  ASSERT_TRUE(parsed.ok);
  ASSERT_EQ(parsed.identities.size(), 2u) << text;
  EXPECT_TRUE(parsed.identities[0].internal);  // internal ones first
  EXPECT_EQ(parsed.identities[1].client_id, "id with space\nand newline\n");
  EXPECT_EQ(parsed.identities[1].token, "a.b.c");
  EXPECT_FALSE(state_file::parse("").ok);
  EXPECT_FALSE(state_file::parse("kabar-auth-state 2\n").ok);
  EXPECT_FALSE(state_file::parse(std::string("\x00\xff", 2)).ok);
  const auto damaged = state_file::parse("kabar-auth-state 1\ntoken 6162 x.y\ntoken zz x\ninternal\nfoo 61\ntoken 61 a b\n");
  EXPECT_TRUE(damaged.ok);
  EXPECT_EQ(damaged.identities.size(), 1u);
  EXPECT_EQ(damaged.bad_lines, 4u);
}

}  // namespace
}  // namespace kabar::plugin
