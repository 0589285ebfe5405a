// Offline sessions across a broker restart (docs/authorization.md "Offline sessions after a broker
// restart", issue 8 defect 1): a real mosquitto with kabar_auth_plugin.so, persistence and
// plugin_opt_state_file. A persistent subscriber subscribes and leaves; mosquitto is stopped (SIGTERM, or
// SIGKILL after its autosave) and started again on the same persistence; a backend publishes QoS 1
// before the subscriber is back; the subscriber reconnects and must get the message. Without the
// plugin's state file the session mosquitto restored has no identity, the plugin refuses its read, and
// mosquitto never queues the message. Each test has its own broker; every wait is bounded and every
// process is stopped by its pid, also when an assertion fails.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "authz/token.h"
#include "tests/unit/mosquitto_test_process.h"

namespace kabar::authz {
namespace {

using namespace kabar::test_support;
using nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;
using namespace std::chrono_literals;

const std::string kSecret = "restart-test-secret-restart-test-secret-0123";
const char* kMosquitto = "/usr/sbin/mosquitto";
const char* kSub = "/usr/bin/mosquitto_sub";
const char* kPub = "/usr/bin/mosquitto_pub";
const std::string kTopic = "cabang/3/omset";

std::string token_for(const std::string& role, json cabang = json::array(), std::int64_t ttl = 600) {
  json claims = {{"sub", role + "-user"}, {"role", role}, {"exp", now_s() + ttl}};
  if (!cabang.empty()) claims["cabang"] = cabang;
  return sign_token(claims, Algorithm::HS256, kSecret);
}

class BrokerRestart : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* binary : {kMosquitto, kSub, kPub}) {
      if (!fs::exists(binary)) GTEST_SKIP() << binary << " is not installed";
    }
    dir_ = fs::temp_directory_path() /
           ("kabar-restart-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "persist");
    std::ofstream(dir_ / "jwt.secret") << kSecret << "\n";
    port_ = free_port();
    // autosave_interval 1 (timed: no autosave_on_changes here): mosquitto writes its persistence file
    // every second, so the kill -9 test can wait for a save that holds the session instead of guessing.
    write_guarded_broker_conf(dir_, port_,
                              "plugin_opt_state_file " + state_file().string() + "\nautosave_interval 1\n");
  }

  void TearDown() override {
    if (broker_ > 0) stop_broker(SIGKILL);
    if (!dir_.empty() && !HasFailure()) fs::remove_all(dir_);
  }

  fs::path state_file() const { return dir_ / "persist" / "kabar-auth.state"; }
  fs::path broker_db() const { return dir_ / "persist" / "mosquitto.db"; }
  std::string broker_log() const { return slurp(dir_ / "mosquitto.log"); }

  // Appends to the log, so all starts of the broker show in a failure message.
  void start_broker() {
    const fs::path log = dir_ / ("mosquitto-" + std::to_string(++starts_) + ".log");
    broker_ = spawn({kMosquitto, "-c", (dir_ / "mosquitto.conf").string()}, log);
    ASSERT_GT(broker_, 0);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!port_open(port_)) {
      int status = 0;
      if (waitpid(broker_, &status, WNOHANG) == broker_) {
        broker_ = -1;
        FAIL() << "mosquitto exited:\n" << slurp(log);
      }
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "mosquitto did not listen:\n" << slurp(log);
      std::this_thread::sleep_for(20ms);
    }
  }

  void stop_broker(int signal) {
    kill(broker_, signal);
    wait_for(broker_, 10s);  // SIGKILLs it after 10 s
    broker_ = -1;
    std::ofstream(dir_ / "mosquitto.log", std::ios::app) << slurp(dir_ / ("mosquitto-" + std::to_string(starts_) + ".log"));
  }

  ClientRun run_client(std::vector<std::string> args, std::chrono::milliseconds timeout = 8s) {
    const fs::path output = dir_ / ("client-" + std::to_string(++clients_) + ".out");
    const pid_t pid = spawn(args, output);
    ClientRun result;
    if (pid > 0) result.status = wait_for(pid, timeout);
    result.output = slurp(output);
    return result;
  }

  std::vector<std::string> client(const char* binary, const std::string& token, const std::string& user) {
    return {binary, "-V", "5", "-h", "127.0.0.1", "-p", std::to_string(port_), "-u", user, "-P", token};
  }

  // The persistent subscriber: clean start off, 5 minutes of session expiry, QoS 1.
  ClientRun persistent(const std::string& token, std::vector<std::string> extra) {
    auto args = client(kSub, token, "kasir-user");
    args.insert(args.end(), {"-c", "-x", "300", "-i", id_, "-q", "1", "-t", kTopic});
    args.insert(args.end(), extra.begin(), extra.end());
    return run_client(args);
  }

  ClientRun publish(const std::string& payload) {
    auto args = client(kPub, token_for("backend"), "backend-user");
    args.insert(args.end(), {"-t", kTopic, "-m", payload, "-q", "1"});
    return run_client(args);
  }

  static bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(50ms);
    }
    return true;
  }

  // Subscribe, leave; restart the broker with `signal`; publish while the subscriber is away; it comes
  // back and must get exactly that message.
  void subscriber_gets_what_was_published_after_a_restart(int signal) {
    ASSERT_NO_FATAL_FAILURE(start_broker());
    const ClientRun subscribed = persistent(token_for("kasir", {3}), {"-E"});
    ASSERT_EQ(subscribed.status, 0) << subscribed.output << broker_log();
    const auto left = fs::file_time_type::clock::now();
    // The plugin's state file has the session (written within a second of the change)...
    ASSERT_TRUE(eventually([&] { return slurp(state_file()).find(state_file_id()) != std::string::npos; }, 5s))
        << "state file: " << slurp(state_file());
    if (signal == SIGKILL) {
      // ...and so has mosquitto's own file: an autosave after the subscriber left (its subscription).
      ASSERT_TRUE(eventually([&] { return fs::exists(broker_db()) && fs::last_write_time(broker_db()) > left; }, 5s));
    }
    stop_broker(signal);
    ASSERT_NO_FATAL_FAILURE(start_broker());
    const ClientRun published = publish("while-away");
    ASSERT_EQ(published.status, 0) << published.output;
    const ClientRun back = persistent(token_for("kasir", {3}), {"-C", "1", "-W", "6", "-v"});
    EXPECT_EQ(back.output, kTopic + " while-away\n") << slurp(dir_ / "mosquitto-2.log");
    EXPECT_EQ(back.status, 0);
    EXPECT_THAT(slurp(dir_ / "mosquitto-2.log"), HasSubstr("session " + id_ + " restored by the broker"));
  }

  std::string state_file_id() const {
    std::string hex;
    for (unsigned char c : id_) {
      static const char digits[] = "0123456789abcdef";
      hex += digits[c >> 4];
      hex += digits[c & 15];
    }
    return hex;
  }

  fs::path dir_;
  int port_ = 0;
  pid_t broker_ = -1;
  int starts_ = 0;
  int clients_ = 0;
  std::string id_ = "restart-kasir-" + std::to_string(::getpid());
};

TEST_F(BrokerRestart, APersistentSessionIsQueuedForAfterTheBrokerIsStoppedAndStarted) {
  subscriber_gets_what_was_published_after_a_restart(SIGTERM);
  struct stat info {};
  ASSERT_EQ(::stat(state_file().c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u) << "the state file holds tokens";
}

TEST_F(BrokerRestart, APersistentSessionIsQueuedForAfterTheBrokerIsKilledAfterItsAutosave) {
  subscriber_gets_what_was_published_after_a_restart(SIGKILL);
}

// A token that expired while the broker was down is not restored: nothing is queued for the session.
TEST_F(BrokerRestart, AnExpiredTokenIsNotRestored) {
  start_broker();
  ASSERT_EQ(persistent(token_for("kasir", {3}, 3), {"-E"}).status, 0);
  stop_broker(SIGTERM);
  std::this_thread::sleep_for(3500ms);
  start_broker();
  ASSERT_EQ(publish("after-expiry").status, 0);
  const ClientRun back = persistent(token_for("kasir", {3}), {"-W", "3", "-v"});
  EXPECT_EQ(back.output, "Timed out\n") << broker_log();
  EXPECT_THAT(slurp(dir_ / "mosquitto-2.log"), HasSubstr("0 session identities restored"));
  EXPECT_THAT(slurp(dir_ / "mosquitto-2.log"), HasSubstr("1 dropped"));
}

// A corrupt or unreadable state file is logged; the broker starts and works, with nothing restored.
TEST_F(BrokerRestart, ACorruptStateFileIsLoggedAndIgnored) {
  for (const std::string& junk : {std::string("\x01\x02garbage\n", 10), std::string("kabar-auth-state 1\ntoken zz x\n")}) {
    std::ofstream(state_file(), std::ios::binary | std::ios::trunc) << junk;
    start_broker();
    ASSERT_EQ(publish("still-works").status, 0) << broker_log();
    stop_broker(SIGTERM);
  }
  fs::remove(state_file());
  fs::create_directories(state_file());  // not a file at all: the rewrite fails and is logged
  fs::create_directories(state_file() / "x");
  start_broker();
  ASSERT_EQ(publish("still-works").status, 0);
  stop_broker(SIGTERM);
  const std::string log = broker_log();
  EXPECT_THAT(log, HasSubstr("not a kabar-auth state file"));
  EXPECT_THAT(log, HasSubstr("1 unreadable lines"));
  EXPECT_THAT(log, HasSubstr("not a regular file"));
  EXPECT_THAT(log, HasSubstr("cannot rename"));
  EXPECT_THAT(log, Not(HasSubstr(kSecret)));
}

}  // namespace
}  // namespace kabar::authz
