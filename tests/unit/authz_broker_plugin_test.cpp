// The MQTT door: a real mosquitto loads kabar_auth_plugin.so, and mosquitto_sub / mosquitto_pub (MQTT 5,
// so refusals come back as reason codes) try every role of the POS app against its own and another
// branch. Every cell asserts allow or refusal; every process wait is bounded.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "authz/token.h"
#include "tests/unit/mosquitto_test_process.h"

namespace kabar::authz {
namespace {

using namespace kabar::test_support;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
namespace fs = std::filesystem;

const std::string kSecret = "broker-test-secret-broker-test-secret-0123";
const char* kMosquitto = "/usr/sbin/mosquitto";
const char* kSub = "/usr/bin/mosquitto_sub";
const char* kPub = "/usr/bin/mosquitto_pub";

std::string token_for(const std::string& role, json cabang = json::array(), std::int64_t ttl = 600) {
  json claims = {{"sub", role + "-user"}, {"role", role}, {"exp", now_s() + ttl}};
  if (!cabang.empty()) claims["cabang"] = cabang;
  return sign_token(claims, Algorithm::HS256, kSecret);
}

class BrokerPlugin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const char* binary : {kMosquitto, kSub, kPub}) {
      if (!fs::exists(binary))
        GTEST_SKIP() << binary << " is not installed (apt-get install mosquitto mosquitto-clients)";
    }
    dir_ = fs::temp_directory_path() / ("kabar-plugin-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_ / "persist");
    std::ofstream(dir_ / "jwt.secret") << kSecret << "\n";
    port_ = free_port();
    write_guarded_broker_conf(dir_, port_);
    broker_ = spawn({kMosquitto, "-c", (dir_ / "mosquitto.conf").string()}, dir_ / "mosquitto.log");
    ASSERT_GT(broker_, 0);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!port_open(port_)) {
      int status = 0;
      ASSERT_NE(waitpid(broker_, &status, WNOHANG), broker_) << "mosquitto exited:\n" << broker_log();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "mosquitto did not listen:\n" << broker_log();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    // Retained messages, so an allowed subscriber receives one at once.
    for (const char* branch : {"3", "7"}) {
      for (const char* feed : {"omset", "transaksi"}) {
        const ClientRun run =
            publish(token_for("backend"), std::string("cabang/") + branch + "/" + feed, "initial");
        ASSERT_EQ(run.status, 0) << run.output;
      }
    }
  }

  static void TearDownTestSuite() {
    if (broker_ > 0) {
      kill(broker_, SIGTERM);
      wait_for(broker_, std::chrono::seconds(10));
      broker_ = -1;
    }
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  static std::string broker_log() { return slurp(dir_ / "mosquitto.log"); }

  static ClientRun run_client(std::vector<std::string> args,
                              std::chrono::milliseconds timeout = std::chrono::seconds(8)) {
    static int counter = 0;
    const fs::path output = dir_ / ("client-" + std::to_string(++counter) + ".out");
    const pid_t pid = spawn(args, output);
    ClientRun result;
    if (pid > 0) result.status = wait_for(pid, timeout);
    result.output = slurp(output);
    return result;
  }

  static std::vector<std::string> client(const char* binary, const std::string& token,
                                         const std::string& user) {
    std::vector<std::string> args = {binary, "-V", "5", "-h", "127.0.0.1", "-p", std::to_string(port_)};
    if (!token.empty()) {
      args.insert(args.end(), {"-u", user, "-P", token});
    }
    return args;
  }

  // Subscribes and waits for one (retained) message, at most 3 s. The username is the token's sub
  // (token_for() makes it "<role>-user") unless told otherwise.
  static ClientRun subscribe(const std::string& token, const std::string& topic,
                             const std::string& user = "") {
    auto args = client(kSub, token, user.empty() ? subject_of(token) : user);
    args.insert(args.end(), {"-t", topic, "-C", "1", "-W", "3", "-v"});
    return run_client(args);
  }

  static std::string subject_of(const std::string& token) {
    const auto verified = TokenVerifier({hmac_key(kSecret, "test")}, {}).verify(token);
    return verified.ok() ? verified.claims->subject : "someone";
  }

  static ClientRun publish(const std::string& token, const std::string& topic, const std::string& payload,
                           bool retain = true) {
    auto args = client(kPub, token, subject_of(token));
    args.insert(args.end(), {"-t", topic, "-m", payload, "-q", "1"});
    if (retain) args.push_back("-r");
    return run_client(args);
  }

  // A persistent session (clean start off, 5 minutes of session expiry), QoS 1, with `extra` arguments.
  static ClientRun persistent(const std::string& token, const std::string& id, const std::string& topic,
                              std::vector<std::string> extra, std::chrono::milliseconds timeout = std::chrono::seconds(8)) {
    auto args = client(kSub, token, subject_of(token));
    args.insert(args.end(), {"-c", "-x", "300", "-i", id, "-q", "1", "-t", topic});
    args.insert(args.end(), extra.begin(), extra.end());
    return run_client(args, timeout);
  }

  // Waits (at most `timeout`) for `text` in the broker's log.
  static bool log_shows(const std::string& text, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (broker_log().find(text) == std::string::npos) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return true;
  }

  static inline fs::path dir_;
  static inline int port_ = 0;
  static inline pid_t broker_ = -1;
};

struct Who {
  const char* name;
  std::string token;  // empty: anonymous
  bool omset_own, omset_other, transaksi_own, transaksi_other, publish;
};

TEST_F(BrokerPlugin, RolesTimesBranchesTimesSubscribeAndPublish) {
  const std::vector<Who> matrix = {
      {"kasir", token_for("kasir", {3}), true, false, false, false, false},
      {"admin", token_for("admin", {3, 4}), true, false, true, false, false},
      {"super_admin", token_for("super_admin"), true, true, true, true, false},
      {"backend", token_for("backend"), true, true, true, true, true},
  };
  for (const Who& who : matrix) {
    const struct {
      const char* topic;
      bool allowed;
    } subscriptions[] = {{"cabang/3/omset", who.omset_own},
                         {"cabang/7/omset", who.omset_other},
                         {"cabang/3/transaksi", who.transaksi_own},
                         {"cabang/7/transaksi", who.transaksi_other}};
    for (const auto& cell : subscriptions) {
      const ClientRun result = subscribe(who.token, cell.topic);
      if (cell.allowed) {
        EXPECT_THAT(result.output, HasSubstr(std::string(cell.topic) + " "))
            << who.name << " subscribe " << cell.topic;
        EXPECT_EQ(result.status, 0) << who.name << " subscribe " << cell.topic << ": " << result.output;
      } else {
        EXPECT_THAT(result.output, HasSubstr("All subscription requests were denied"))
            << who.name << " subscribe " << cell.topic;
      }
    }
    for (const char* topic : {"cabang/3/omset", "cabang/7/omset"}) {
      const ClientRun result = publish(who.token, topic, std::string("from-") + who.name);
      EXPECT_EQ(result.status, 0) << who.name << " publish " << topic << ": " << result.output;
      if (who.publish) {
        EXPECT_THAT(result.output, Not(HasSubstr("Not authorized"))) << who.name << " publish " << topic;
      } else {
        EXPECT_THAT(result.output, HasSubstr("Not authorized")) << who.name << " publish " << topic;
      }
    }
  }
  // Refused publishes changed nothing: the retained value is the backend's.
  for (const char* topic : {"cabang/3/omset", "cabang/7/omset"}) {
    const ClientRun result = subscribe(token_for("backend"), topic);
    EXPECT_THAT(result.output, HasSubstr(std::string(topic) + " from-backend")) << result.output;
  }
  const std::string log = broker_log();
  EXPECT_THAT(log, HasSubstr("refused subscribe of cabang/7/omset"));
  EXPECT_THAT(log, HasSubstr("{cabang} = 7 is not in the token's 'cabang' claim [3]"));
  EXPECT_THAT(log, HasSubstr("refused publish of cabang/3/omset"));
}

TEST_F(BrokerPlugin, WildcardSubscriptionsMustStayInsideTheClaims) {
  EXPECT_THAT(subscribe(token_for("kasir", {3}), "cabang/+/omset").output, HasSubstr("denied"));
  EXPECT_THAT(subscribe(token_for("admin", {3}), "cabang/#").output, HasSubstr("denied"));
  EXPECT_THAT(subscribe(token_for("admin", {"*"}), "cabang/+/omset").output, HasSubstr("cabang/"));
  EXPECT_THAT(subscribe(token_for("kasir", {3}), "#").output, HasSubstr("denied"));
}

TEST_F(BrokerPlugin, AnonymousAndBadTokensCannotConnect) {
  const std::string expired = sign_token(
      {{"sub", "k"}, {"role", "kasir"}, {"cabang", {3}}, {"exp", now_s() - 60}}, Algorithm::HS256, kSecret);
  const std::string forged = sign_token({{"sub", "k"}, {"role", "kasir"}, {"exp", now_s() + 60}},
                                        Algorithm::HS256, "not-the-secret-not-the-secret-not-the-secret");
  const std::string none = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJrIiwicm9sZSI6ImJhY2tlbmQifQ.";
  for (const auto& [name, token] : std::vector<std::pair<std::string, std::string>>{{"anonymous", ""},
                                                                                    {"expired", expired},
                                                                                    {"forged", forged},
                                                                                    {"alg none", none},
                                                                                    {"garbage", "x.y.z"}}) {
    const ClientRun sub = subscribe(token, "cabang/3/omset", "k");
    EXPECT_THAT(sub.output, HasSubstr("Not authorized")) << name;
    EXPECT_NE(sub.status, 0) << name;
    const ClientRun pub = publish(token, "cabang/3/omset", "x");
    EXPECT_THAT(pub.output, HasSubstr("Not authorized")) << name;
  }
  const std::string log = broker_log();
  EXPECT_THAT(log, HasSubstr("token expired"));
  EXPECT_THAT(log, HasSubstr("token bad_signature"));
  EXPECT_THAT(log, HasSubstr("token wrong_algorithm"));
  EXPECT_THAT(log, Not(HasSubstr(expired)));
  EXPECT_THAT(log, Not(HasSubstr(kSecret)));
}

TEST_F(BrokerPlugin, UsernameMustBeTheTokensSub) {
  const std::string token = token_for("kasir", {3});
  EXPECT_THAT(subscribe(token, "cabang/3/omset", "somebody-else").output, HasSubstr("Not authorized"));
  EXPECT_THAT(subscribe(token, "cabang/3/omset", "kasir-user").output, HasSubstr("cabang/3/omset "));
}

TEST_F(BrokerPlugin, ExpiryWhileConnectedDisconnectsTheClient) {
  const std::string token = token_for("kasir", {3}, 2);
  auto args = client(kSub, token, "kasir-user");
  args.insert(args.end(), {"-i", "expiring-kasir", "-t", "cabang/3/omset", "-W", "15", "-v"});
  const auto started = std::chrono::steady_clock::now();
  const ClientRun result = run_client(args, std::chrono::seconds(20));
  const auto lasted = std::chrono::steady_clock::now() - started;
  EXPECT_THAT(result.output, HasSubstr("cabang/3/omset"));  // it was served while the token was valid
  EXPECT_LT(lasted, std::chrono::seconds(12)) << result.output;
  EXPECT_THAT(broker_log(), HasSubstr("disconnecting expiring-kasir: token expired"));
}

// The gateway's case (docs/authorization.md "Offline sessions"): a persistent session whose client is
// away gets what was published meanwhile, in order, once it is back. mosquitto asks the plugin for read
// access when it queues each message for the offline session.
TEST_F(BrokerPlugin, PersistentSessionGetsWhatWasPublishedWhileOffline) {
  const std::string token = token_for("kasir", {3});
  const std::string id = "offline-kasir-" + std::to_string(::getpid());
  const ClientRun subscribed = persistent(token, id, "cabang/3/omset", {"-E"});
  ASSERT_EQ(subscribed.status, 0) << subscribed.output;
  for (const char* payload : {"offline-1", "offline-2", "offline-3"}) {
    const ClientRun run = publish(token_for("backend"), "cabang/3/omset", payload, false);
    ASSERT_EQ(run.status, 0) << run.output;
  }
  // -R: the retained message the re-subscription brings is not counted.
  const ClientRun back = persistent(token_for("kasir", {3}), id, "cabang/3/omset", {"-R", "-C", "3", "-W", "6", "-v"});
  EXPECT_EQ(back.output, "cabang/3/omset offline-1\ncabang/3/omset offline-2\ncabang/3/omset offline-3\n")
      << broker_log();
  EXPECT_EQ(back.status, 0);
}

// A will is checked (write) right after the disconnect event: the identity of the client that left must
// still be known. The Pusher cluster link depends on this to announce a dead node.
TEST_F(BrokerPlugin, WillOfATokenClientIsDelivered) {
  const std::string backend = token_for("backend");
  auto watch = client(kSub, backend, subject_of(backend));
  watch.insert(watch.end(), {"-i", "will-watcher", "-t", "kabar/pusher/presence/+", "-C", "1", "-W", "15", "-v"});
  const fs::path watch_output = dir_ / "will-watcher.out";
  const pid_t watcher = spawn(watch, watch_output);
  ASSERT_GT(watcher, 0);
  auto leaver = client(kSub, backend, subject_of(backend));
  leaver.insert(leaver.end(), {"-i", "will-leaver", "-t", "cabang/3/omset", "--will-topic", "kabar/pusher/presence/n9",
                               "--will-payload", "gone", "--will-qos", "1", "-W", "30"});
  const pid_t leaving = spawn(leaver, dir_ / "will-leaver.out");
  ASSERT_GT(leaving, 0);
  const bool both = log_shows("as will-watcher", std::chrono::seconds(5)) &&
                    log_shows("as will-leaver", std::chrono::seconds(5));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // the watcher's SUBSCRIBE follows its CONNACK
  kill(leaving, SIGKILL);  // no DISCONNECT: the broker sends the will
  wait_for(leaving, std::chrono::seconds(5));
  const int status = wait_for(watcher, std::chrono::seconds(16));
  ASSERT_TRUE(both) << broker_log();
  EXPECT_EQ(slurp(watch_output), "kabar/pusher/presence/n9 gone\n") << broker_log();
  EXPECT_EQ(status, 0);
  EXPECT_THAT(broker_log(), Not(HasSubstr("refused publish of kabar/pusher/presence/n9")));
}

// Until its token expires, not longer: what is published after that is not queued for the session.
TEST_F(BrokerPlugin, AnOfflineSessionWhoseTokenExpiredGetsNothingMoreQueued) {
  const std::string id = "expiring-offline-" + std::to_string(::getpid());
  const ClientRun subscribed = persistent(token_for("kasir", {3}, 4), id, "cabang/3/omset", {"-E"});
  ASSERT_EQ(subscribed.status, 0) << subscribed.output;
  ASSERT_EQ(publish(token_for("backend"), "cabang/3/omset", "before-expiry", false).status, 0);
  ASSERT_TRUE(log_shows("offline session " + id + ": token expired", std::chrono::seconds(10))) << broker_log();
  ASSERT_EQ(publish(token_for("backend"), "cabang/3/omset", "after-expiry", false).status, 0);
  const ClientRun back = persistent(token_for("kasir", {3}), id, "cabang/3/omset", {"-R", "-W", "3", "-v"});
  // -W 3 ends the wait: "after-expiry" was never queued.
  EXPECT_EQ(back.output, "cabang/3/omset before-expiry\nTimed out\n") << broker_log();
}

}  // namespace
}  // namespace kabar::authz
