// Integration tests: a real mosquitto on a free loopback port, MqttPublisher publishing, MqttBridge
// subscribing, and a recording IngestSink. Every wait has a timeout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "bridge/event_id.h"
#include "bridge/mqtt_bridge.h"
#include "bridge/mqtt_publisher.h"
#include "bridge/schema_registry.h"

extern char** environ;

namespace kabar {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using ::testing::HasSubstr;

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
  return true;
}

int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    return 0;
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool port_accepts(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  const bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// Children get SIGKILL when this test process dies (setpriv --pdeathsig), so a crashed or timed-out test
// leaves no broker behind; normally they are still stopped by pid.
pid_t spawn(std::vector<std::string> args, const std::vector<std::string>& extra_env,
            const std::string& log_file) {
  if (::access("/usr/bin/setpriv", X_OK) == 0)
    args.insert(args.begin(), {"/usr/bin/setpriv", "--pdeathsig", "KILL"});
  std::vector<char*> argv;
  for (const auto& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  std::vector<std::string> env_strings(extra_env);
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  return rc == 0 ? pid : -1;
}

void kill_and_reap(pid_t& pid) {
  if (pid <= 0) return;
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  pid = -1;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// A mosquitto of our own: temp config, foreground, stopped by pid.
class Mosquitto {
 public:
  Mosquitto() : port_(free_port()) {
    char tmpl[] = "/tmp/kabar-bridge-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    std::ofstream conf(dir_ / "mosquitto.conf");
    conf << "listener " << port_ << " 127.0.0.1\n"
         << "allow_anonymous true\n"
         << "persistence false\n"
         << "log_dest stderr\n"
         << "max_queued_messages 100000\n";
    if (::geteuid() == 0) conf << "user root\n";
  }
  ~Mosquitto() {
    kill();
    std::filesystem::remove_all(dir_);
  }

  void start() {
    ASSERT_NE(port_, 0);
    pid_ =
        spawn({"/usr/sbin/mosquitto", "-c", (dir_ / "mosquitto.conf").string()}, {}, (dir_ / "log").string());
    ASSERT_GT(pid_, 0) << "cannot spawn /usr/sbin/mosquitto";
    ASSERT_TRUE(wait_until([this] { return port_accepts(port_); }, 10s)) << "mosquitto did not listen:\n"
                                                                         << log();
  }
  void kill() { kill_and_reap(pid_); }

  std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  int port() const { return port_; }
  std::string log() const { return read_text(dir_ / "log"); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  int port_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
};

struct Rejection {
  std::string topic;
  std::string payload;
  std::string reason;
};

class RecordingSink : public IngestSink {
 public:
  void accept(Envelope envelope) override {
    if (fail_next_ && fail_next_(envelope)) throw std::runtime_error("disk full (test)");
    std::lock_guard lock(mutex_);
    accepted_.push_back(std::move(envelope));
  }
  void reject(const std::string& topic, const std::string& payload, const std::string& reason) override {
    if (fail_reject_ && fail_reject_()) throw std::runtime_error("disk full (test)");
    std::lock_guard lock(mutex_);
    rejected_.push_back({topic, payload, reason});
  }

  std::vector<Envelope> accepted() const {
    std::lock_guard lock(mutex_);
    return accepted_;
  }
  std::vector<Rejection> rejected() const {
    std::lock_guard lock(mutex_);
    return rejected_;
  }
  std::size_t accepted_count() const {
    std::lock_guard lock(mutex_);
    return accepted_.size();
  }
  void clear() {
    std::lock_guard lock(mutex_);
    accepted_.clear();
    rejected_.clear();
  }
  std::size_t rejected_count() const {
    std::lock_guard lock(mutex_);
    return rejected_.size();
  }
  // Set before the bridge starts; returns true to make accept() throw for that envelope.
  std::function<bool(const Envelope&)> fail_next_;
  std::function<bool()> fail_reject_;

 private:
  mutable std::mutex mutex_;
  std::vector<Envelope> accepted_;
  std::vector<Rejection> rejected_;
};

std::string transaksi_event(const std::string& id, int n) {
  return json{{"id", id}, {"data", {{"transaksi", {{"id", n + 1}, {"total", n * 1000}}}}}}.dump();
}

std::string omset_payload(int n) {
  return json{{"omset_total", n}, {"omset_bpjs", 0}, {"omset_umum", n}, {"jumlah_transaksi", n}}.dump();
}

class BridgeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_NO_FATAL_FAILURE(broker_.start()); }

  BridgeOptions options(const std::string& client_id, bool twins = true, int mqtt_version = 5) const {
    BridgeOptions o;
    o.server_uri = broker_.uri();
    o.mqtt_version = mqtt_version;
    o.client_id = client_id;
    o.twin_sessions = twins;
    o.min_backoff = 50ms;
    o.max_backoff = 500ms;
    o.keepalive = 5s;
    return o;
  }

  std::unique_ptr<MqttBridge> start_bridge(const BridgeOptions& o) {
    auto bridge = std::make_unique<MqttBridge>(o, routes_, schemas_, sink_);
    bridge->start();
    EXPECT_TRUE(wait_until([&] { return bridge->ready(); }, 10s)) << broker_.log();
    return bridge;
  }

  MqttPublisher publisher(int mqtt_version = 5) const {
    PublisherOptions o;
    o.server_uri = broker_.uri();
    o.mqtt_version = mqtt_version;
    return MqttPublisher(o);
  }

  Mosquitto broker_;
  SchemaRegistry schemas_;
  RouteTable routes_{RouteTable::builtin()};
  RecordingSink sink_;
};

TEST_F(BridgeTest, EventsArriveInOrderOnceEachWithTwinSessions) {
  auto bridge = start_bridge(options("order"));
  auto pub = publisher();
  constexpr int kEvents = 200;
  for (int i = 0; i < kEvents; ++i) {
    if (i % 2 == 0) {
      pub.publish("cabang/" + std::to_string(i % 5) + "/transaksi",
                  transaksi_event("t-" + std::to_string(i), i));
    } else {
      pub.publish("dokumen/" + std::to_string(i) + "/updated",
                  json{{"id", "d-" + std::to_string(i)}, {"data", {{"dokumen", {{"id", i}}}}}}.dump());
    }
  }
  ASSERT_TRUE(wait_until([&] { return bridge->stats().received == 2 * kEvents; }, 15s))
      << "received " << bridge->stats().received;
  const auto events = sink_.accepted();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) {
    const Envelope& e = events[static_cast<std::size_t>(i)];
    if (i % 2 == 0) {
      EXPECT_EQ(e.id, "t-" + std::to_string(i));
      EXPECT_EQ(e.channel, "private-cabang." + std::to_string(i % 5) + ".admin");
      EXPECT_EQ(e.event, "transaksi.created");
      EXPECT_EQ(json::parse(e.data)["transaksi"]["id"], i + 1);
    } else {
      EXPECT_EQ(e.id, "d-" + std::to_string(i));
      EXPECT_EQ(e.channel, "dokumen." + std::to_string(i));
      EXPECT_EQ(e.event, "dokumen.updated");
      EXPECT_EQ(e.data, R"({"dokumen":{"id":)" + std::to_string(i) + "}}");
    }
  }
  const BridgeStats stats = bridge->stats();
  EXPECT_EQ(stats.accepted, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(stats.twin_duplicates, static_cast<std::uint64_t>(kEvents));
  EXPECT_EQ(stats.rejected, 0u);
  EXPECT_TRUE(stats.connected);
}

// A bare payload's id is derived from the message, so every node that receives it gives it the same id;
// identical messages share it, and the store tells the repeats apart (store_event_store_test.cpp).
TEST_F(BridgeTest, BarePayloadsGetAnIdDerivedFromTheMessageTheSameOnEveryNode) {
  auto bridge = start_bridge(options("bare"));
  auto pub = publisher();
  constexpr int kEvents = 100;
  for (int i = 0; i < kEvents; ++i)
    pub.publish("cabang/1/omset", omset_payload(i / 4));  // 4 identical in a row
  ASSERT_TRUE(wait_until([&] { return bridge->stats().received == 2 * kEvents; }, 15s));
  const auto events = sink_.accepted();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kEvents));
  std::set<std::string> ids;
  for (int i = 0; i < kEvents; ++i) {
    const Envelope& e = events[static_cast<std::size_t>(i)];
    EXPECT_EQ(json::parse(e.data)["omset_total"], i / 4);
    EXPECT_EQ(e.channel, "private-cabang.1");
    EXPECT_EQ(e.event, "omset.updated");
    EXPECT_EQ(e.id, derived_event_id("cabang/1/omset", omset_payload(i / 4)));
    EXPECT_EQ(e.id.size(), 27u);
    EXPECT_EQ(e.id[0], 'h');
    EXPECT_TRUE(e.derived_id);
    EXPECT_FALSE(e.redelivery);
    ids.insert(e.id);
  }
  EXPECT_EQ(ids.size(), static_cast<std::size_t>(kEvents / 4));
}

TEST_F(BridgeTest, BadPayloadsAreDeadLetteredOnceAndTheStreamContinues) {
  auto bridge = start_bridge(options("bad"));
  auto pub = publisher();
  pub.publish("cabang/1/transaksi", transaksi_event("good-1", 1));
  pub.publish("cabang/1/transaksi", "not json");
  pub.publish("cabang/1/transaksi", R"({"transaksi":{"id":2,"total":"lots"}})");
  pub.publish("cabang/1/transaksi", "");
  pub.publish("kabar/c/no event", R"({"event":"e","data":1})");
  pub.publish("kabar/c/x", R"({"data":{"no":"event name"}})");
  pub.publish("cabang/1/transaksi", R"({"id":"bad id!","data":{}})");
  pub.publish("cabang/1/transaksi", transaksi_event("good-2", 2));
  ASSERT_TRUE(wait_until([&] { return bridge->stats().received == 16; }, 15s));
  const auto events = sink_.accepted();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].id, "good-1");
  EXPECT_EQ(events[1].id, "good-2");
  const auto rejected = sink_.rejected();
  ASSERT_EQ(rejected.size(), 6u);
  EXPECT_EQ(rejected[0].payload, "not json");
  EXPECT_THAT(rejected[0].reason, HasSubstr("not JSON"));
  EXPECT_THAT(rejected[1].reason, HasSubstr("/transaksi/total"));
  EXPECT_EQ(rejected[2].reason, "payload is empty");
  EXPECT_EQ(rejected[3].topic, "kabar/c/no event");
  EXPECT_THAT(rejected[3].reason, HasSubstr("not a valid channel name"));
  EXPECT_THAT(rejected[4].reason, HasSubstr("no event name"));
  EXPECT_THAT(rejected[5].reason, HasSubstr("/id"));
  EXPECT_EQ(bridge->stats().rejected, 6u);
}

TEST_F(BridgeTest, OversizedPayloadsAreDeadLettered) {
  BridgeOptions o = options("big", false);
  o.max_payload_bytes = 1000;
  auto bridge = start_bridge(o);
  auto pub = publisher();
  pub.publish("kabar/c/x", json{{"event", "e"}, {"data", std::string(2000, 'x')}}.dump());
  pub.publish("kabar/c/x", json{{"event", "e"}, {"data", "small"}}.dump());
  ASSERT_TRUE(wait_until([&] { return bridge->stats().received == 2; }, 10s));
  ASSERT_EQ(sink_.rejected_count(), 1u);
  EXPECT_THAT(sink_.rejected()[0].reason, HasSubstr("max_payload_bytes (1000)"));
  EXPECT_EQ(sink_.accepted_count(), 1u);
}

TEST_F(BridgeTest, SingleSessionMode) {
  auto bridge = start_bridge(options("single", false));
  auto pub = publisher();
  for (int i = 0; i < 20; ++i)
    pub.publish("cabang/2/transaksi", transaksi_event("s-" + std::to_string(i), i));
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 20; }, 10s));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(bridge->stats().received, 20u);
  EXPECT_EQ(bridge->stats().twin_duplicates, 0u);
}

TEST_F(BridgeTest, PersistentSessionKeepsWhatArrivesWhileStopped) {
  {
    auto bridge = start_bridge(options("persist"));
    bridge->stop();
  }
  auto pub = publisher();
  for (int i = 0; i < 50; ++i)
    pub.publish("cabang/4/transaksi", transaksi_event("p-" + std::to_string(i), i));
  auto bridge = start_bridge(options("persist"));
  ASSERT_TRUE(wait_until([&] { return bridge->stats().received == 100; }, 15s))
      << "received " << bridge->stats().received;
  const auto events = sink_.accepted();
  ASSERT_EQ(events.size(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(events[static_cast<std::size_t>(i)].id, "p-" + std::to_string(i));
}

TEST_F(BridgeTest, StopAndStartAgainOnTheSameBridge) {
  auto bridge = start_bridge(options("restart"));
  bridge->stop();
  EXPECT_FALSE(bridge->ready());
  auto pub = publisher();
  pub.publish("cabang/4/transaksi", transaksi_event("r-1", 1));
  bridge->start();
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 1; }, 10s));
  EXPECT_TRUE(wait_until([&] { return bridge->ready(); }, 10s));
}

TEST_F(BridgeTest, ReadyFollowsTheBrokerAndSubscriptionsComeBack) {
  auto bridge = start_bridge(options("ready"));
  broker_.kill();
  ASSERT_TRUE(wait_until([&] { return !bridge->ready(); }, 10s));
  EXPECT_FALSE(bridge->stats().connected);
  // The restarted broker has no persistence, so only re-subscribing on connect brings events back.
  ASSERT_NO_FATAL_FAILURE(broker_.start());
  ASSERT_TRUE(wait_until([&] { return bridge->ready(); }, 15s)) << broker_.log();
  EXPECT_GE(bridge->stats().reconnects, 2u);  // both twins
  auto pub = publisher();
  pub.publish("cabang/9/transaksi", transaksi_event("after-restart", 1));
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 1; }, 10s));
  EXPECT_EQ(sink_.accepted()[0].id, "after-restart");
}

TEST_F(BridgeTest, StopIsPromptWhenTheBrokerIsGone) {
  broker_.kill();
  MqttBridge bridge(options("gone"), routes_, schemas_, sink_);
  bridge.start();
  std::this_thread::sleep_for(300ms);
  EXPECT_FALSE(bridge.ready());
  const auto before = std::chrono::steady_clock::now();
  bridge.stop();
  EXPECT_LT(std::chrono::steady_clock::now() - before, 3s);
}

TEST_F(BridgeTest, FailedSinkIsRetriedBeforeTheMessageIsAcknowledged) {
  int failures = 0;
  sink_.fail_next_ = [&failures](const Envelope& e) { return e.id == "flaky" && failures++ == 0; };
  auto bridge = start_bridge(options("retry", false));
  auto pub = publisher();
  pub.publish("cabang/1/transaksi", transaksi_event("flaky", 1));
  pub.publish("cabang/1/transaksi", transaksi_event("after", 2));
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 2; }, 10s));
  EXPECT_EQ(sink_.accepted()[0].id, "flaky");
  EXPECT_EQ(bridge->stats().sink_failures, 1u);
}

TEST_F(BridgeTest, FailedSinkIsRetriedUntilItWorksAndTheTwinCopyIsDropped) {
  std::atomic<int> failures{0};  // more failures than the bridge used to retry before giving up
  sink_.fail_next_ = [&failures](const Envelope& e) { return e.id == "flaky" && failures++ < 5; };
  auto bridge = start_bridge(options("flaky"));
  auto pub = publisher();
  pub.publish("cabang/1/transaksi", transaksi_event("flaky", 1));
  pub.publish("cabang/1/transaksi", transaksi_event("after", 2));
  ASSERT_TRUE(wait_until([&] { return bridge->stats().received == 4; }, 15s));
  const auto events = sink_.accepted();
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].id, "flaky");  // from the first copy, once the sink worked again
  EXPECT_EQ(events[1].id, "after");
  EXPECT_EQ(bridge->stats().sink_failures, 5u);
  EXPECT_EQ(bridge->stats().twin_duplicates, 2u);
  EXPECT_FALSE(bridge->store_failing());
}

// A store that fails for longer than any fixed retry budget: the message in hand is held (nothing after it
// is taken either), store_failing() says so, and once the store works everything arrives once, in order.
// The events are queued at the broker before the bridge starts: while a callback is held, every Paho call
// of this process (the test's own publisher too) waits for Paho's mutex.
TEST_F(BridgeTest, FailingSinkHoldsIngestUntilItWorksAndLosesNothing) {
  std::atomic<bool> store_down{true};
  sink_.fail_next_ = [&store_down](const Envelope&) { return store_down.load(); };
  start_bridge(options("hold", false))->stop();  // the persistent session exists from here on
  auto pub = publisher();
  constexpr int kEvents = 20;
  for (int i = 0; i < kEvents; ++i)
    pub.publish("cabang/3/transaksi", transaksi_event("h-" + std::to_string(i), i));
  MqttBridge bridge(options("hold", false), routes_, schemas_, sink_);
  struct Recover {  // also when an assertion fails: a bridge held forever would hang the whole binary
    std::atomic<bool>& down;
    ~Recover() { down = false; }
  } recover{store_down};
  bridge.start();
  ASSERT_TRUE(wait_until([&] { return bridge.store_failing(); }, 15s));
  std::this_thread::sleep_for(2500ms);  // longer than the 0 + 100 + 400 ms the bridge used to retry
  EXPECT_TRUE(bridge.store_failing());
  EXPECT_TRUE(bridge.stats().store_failing);
  EXPECT_EQ(bridge.stats().received, 1u) << "a held callback must not let the next message in";
  EXPECT_EQ(sink_.accepted_count(), 0u);
  EXPECT_GE(bridge.stats().sink_failures, 4u);
  store_down = false;
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == kEvents; }, 15s))
      << "accepted " << sink_.accepted_count();
  std::this_thread::sleep_for(300ms);
  const auto events = sink_.accepted();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) EXPECT_EQ(events[static_cast<std::size_t>(i)].id, "h-" + std::to_string(i));
  EXPECT_FALSE(bridge.store_failing());
  EXPECT_EQ(bridge.stats().store_stalls, 1u);
  EXPECT_TRUE(wait_until([&] { return bridge.ready(); }, 15s));
}

// Dead letters are acknowledged like events, so they wait for the store like events.
TEST_F(BridgeTest, FailingDeadLetterIsHeldToo) {
  std::atomic<int> failures{0};
  sink_.fail_reject_ = [&failures] { return failures++ < 5; };
  auto bridge = start_bridge(options("hold-dead", false));
  auto pub = publisher();
  pub.publish("cabang/1/transaksi", "not json");
  pub.publish("cabang/1/transaksi", transaksi_event("after-dead", 1));
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 1; }, 15s));
  ASSERT_EQ(sink_.rejected_count(), 1u);
  EXPECT_EQ(sink_.rejected()[0].payload, "not json");
  EXPECT_EQ(bridge->stats().sink_failures, 5u);
}

TEST_F(BridgeTest, RouteSchemasMustBeLoaded) {
  RouteTable routes({{"x/{id}", "x.{id}", "x", "no.such.schema"}});
  EXPECT_THROW(MqttBridge(options("schema"), routes, schemas_, sink_), SchemaError);
}

TEST(MqttPublisherTest, ConnectFailureNamesTheServer) {
  PublisherOptions o;
  o.server_uri = "tcp://127.0.0.1:" + std::to_string(free_port());
  o.timeout = 2000ms;
  try {
    MqttPublisher publisher(o);
    FAIL() << "expected PublishError";
  } catch (const PublishError& e) {
    EXPECT_THAT(e.what(), HasSubstr("cannot connect to " + o.server_uri + ": "));
  }
}

TEST(MqttPublisherTest, BadUriIsAPublishError) {
  PublisherOptions o;
  o.server_uri = "bogus://nowhere";
  EXPECT_THROW(MqttPublisher{o}, PublishError);
}

TEST_F(BridgeTest, PublisherRefusesBadArguments) {
  auto pub = publisher();
  EXPECT_THROW(pub.publish("a/+", "x"), PublishError);
  EXPECT_THROW(pub.publish("a/#", "x"), PublishError);
  EXPECT_THROW(pub.publish("", "x"), PublishError);
  EXPECT_THROW(pub.publish("a", "x", 3), PublishError);
  EXPECT_NO_THROW(pub.publish("a", "x", 0));
}

TEST_F(BridgeTest, PublisherIsSharedByConcurrentCallers) {
  auto bridge = start_bridge(options("concurrent", false));
  auto pub = publisher();
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        try {
          pub.publish("cabang/" + std::to_string(t) + "/transaksi",
                      transaksi_event("t" + std::to_string(t) + "-" + std::to_string(i), i));
        } catch (const PublishError&) {
          ++failures;
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(failures, 0);
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 400; }, 15s));
  // Per topic, the order of each publishing thread is kept.
  std::map<std::string, int> last;
  for (const auto& e : sink_.accepted()) {
    const auto dash = e.id.find('-');
    const int n = std::stoi(e.id.substr(dash + 1));
    const auto [it, inserted] = last.try_emplace(e.id.substr(0, dash), n);
    if (!inserted) {
      EXPECT_GT(n, it->second) << e.id;
      it->second = n;
    }
  }
}

TEST_F(BridgeTest, PublisherReconnectsAfterTheBrokerRestarts) {
  auto pub = publisher();
  pub.publish("a", "1");
  broker_.kill();
  ASSERT_NO_FATAL_FAILURE(broker_.start());
  // The first publish may notice the loss; the one after it reconnects.
  bool delivered = false;
  for (int attempt = 0; attempt < 20 && !delivered; ++attempt) {
    try {
      pub.publish("a", "2");
      delivered = true;
    } catch (const PublishError&) {
      std::this_thread::sleep_for(100ms);
    }
  }
  EXPECT_TRUE(delivered);
}

// ---- kill -9 while the sink is committing ------------------------------------------------------------
// The bridge runs in a child process (this binary, re-spawned) whose sink appends ids to a file and then
// hangs on the Nth event, as if the commit never finished; the child is killed there. A new bridge with
// the same client id must then deliver every id the file does not have.

struct CrashOutcome {
  std::set<std::string> stored;  // by the child before it died, or by the new bridge
  std::set<std::string> missing;
};

class FileSink : public IngestSink {
 public:
  FileSink(const std::string& path, int hang_at)
      : fd_(::open(path.c_str(), O_WRONLY | O_APPEND)), hang_at_(hang_at) {}
  ~FileSink() override { ::close(fd_); }
  void accept(Envelope envelope) override {
    if (hang_at_ < 0) {  // a store that cannot write at all (disk full)
      if (count_++ == 0) note("FAIL " + envelope.id);
      throw std::runtime_error("database or disk is full (test)");
    }
    if (++count_ == hang_at_) {
      note("HANG " + envelope.id);
      for (;;) ::pause();  // the commit that never returns; the parent kills us here
    }
    note(envelope.id);
  }
  void reject(const std::string&, const std::string&, const std::string&) override {}
  void note(const std::string& line) const {
    const std::string text = line + "\n";
    if (::write(fd_, text.data(), text.size()) != static_cast<ssize_t>(text.size())) std::abort();
  }

 private:
  int fd_;
  int hang_at_;
  int count_ = 0;
};

TEST(BridgeCrashChild, RunsOnlyWhenSpawnedByTheCrashTest) {
  const char* uri = std::getenv("KABAR_CHILD_URI");
  if (!uri) GTEST_SKIP() << "helper process for BridgeCrash tests";
  SchemaRegistry schemas;
  RouteTable routes(RouteTable::builtin());
  FileSink sink(std::getenv("KABAR_CHILD_FILE"), std::atoi(std::getenv("KABAR_CHILD_HANG_AT")));
  BridgeOptions o;
  o.server_uri = uri;
  o.client_id = std::getenv("KABAR_CHILD_CLIENT");
  o.twin_sessions = std::string(std::getenv("KABAR_CHILD_TWINS")) == "1";
  if (const char* version = std::getenv("KABAR_CHILD_MQTT")) o.mqtt_version = std::atoi(version);
  MqttBridge bridge(o, routes, schemas, sink);
  bridge.start();
  ASSERT_TRUE(wait_until([&] { return bridge.ready(); }, 10s));
  sink.note("READY");
  if (std::getenv("KABAR_CHILD_STOP_WHILE_FAILING")) {
    // Held long enough that the old fixed retry budget would have given messages up, then stopped.
    ASSERT_TRUE(wait_until([&] { return bridge.store_failing(); }, 15s));
    std::this_thread::sleep_for(1500ms);
    const auto before = std::chrono::steady_clock::now();
    bridge.stop();
    const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - before);
    sink.note("STOPPED parked=" + std::to_string(bridge.parked() ? 1 : 0) + " ms=" + std::to_string(took.count()));
    std::_Exit(0);  // as kabar does: a parked bridge is not destroyed
  }
  std::this_thread::sleep_for(60s);  // killed long before
}

class BridgeCrash : public BridgeTest {
 protected:
  CrashOutcome run(const std::string& client_id, bool twins, int mqtt_version = 5) {
    constexpr int kEvents = 50;
    constexpr int kHangAt = 20;
    const auto file = broker_.dir() / (client_id + ".ids");
    std::ofstream(file).close();
    const auto file_has = [&file](const std::string& text) {
      return read_text(file).find(text) != std::string::npos;
    };

    pid_t child =
        spawn({std::filesystem::read_symlink("/proc/self/exe").string(), "--gtest_filter=BridgeCrashChild.*"},
              {"KABAR_CHILD_URI=" + broker_.uri(), "KABAR_CHILD_FILE=" + file.string(),
               "KABAR_CHILD_CLIENT=" + client_id, "KABAR_CHILD_TWINS=" + std::string(twins ? "1" : "0"),
               "KABAR_CHILD_HANG_AT=" + std::to_string(kHangAt),
               "KABAR_CHILD_MQTT=" + std::to_string(mqtt_version)},
              (broker_.dir() / (client_id + ".log")).string());
    EXPECT_GT(child, 0);
    EXPECT_TRUE(wait_until([&] { return file_has("READY"); }, 15s))
        << read_text(broker_.dir() / (client_id + ".log"));
    auto pub = publisher();
    for (int i = 0; i < kEvents; ++i)
      pub.publish("cabang/5/transaksi", transaksi_event("c-" + std::to_string(i), i));
    EXPECT_TRUE(wait_until([&] { return file_has("HANG"); }, 15s));
    std::this_thread::sleep_for(200ms);  // let Paho do whatever it does while the callback hangs
    kill_and_reap(child);

    CrashOutcome outcome;
    std::istringstream lines(read_text(file));
    for (std::string line; std::getline(lines, line);) {
      if (line != "READY" && !line.starts_with("HANG")) outcome.stored.insert(line);
    }
    auto bridge = start_bridge(options(client_id, twins, mqtt_version));
    wait_until([&] { return outcome.stored.size() + sink_.accepted_count() >= kEvents; }, 10s);
    std::this_thread::sleep_for(500ms);  // anything else still coming
    for (const auto& e : sink_.accepted()) outcome.stored.insert(e.id);
    for (int i = 0; i < kEvents; ++i) {
      if (!outcome.stored.count("c-" + std::to_string(i))) outcome.missing.insert("c-" + std::to_string(i));
    }
    return outcome;
  }
};

// The store cannot write at all; the bridge is stopped (SIGTERM in kabar) while it holds a message. Nothing
// may have been acknowledged: a new bridge with the same client id gets every event, in order.
TEST_F(BridgeCrash, StopWhileTheStoreFailsAcknowledgesNothing) {
  constexpr int kEvents = 30;
  const std::string client_id = "stop-failing";
  const auto file = broker_.dir() / (client_id + ".ids");
  const auto log_file = broker_.dir() / (client_id + ".log");
  std::ofstream(file).close();
  pid_t child =
      spawn({std::filesystem::read_symlink("/proc/self/exe").string(), "--gtest_filter=BridgeCrashChild.*"},
            {"KABAR_CHILD_URI=" + broker_.uri(), "KABAR_CHILD_FILE=" + file.string(),
             "KABAR_CHILD_CLIENT=" + client_id, "KABAR_CHILD_TWINS=0", "KABAR_CHILD_HANG_AT=-1",
             "KABAR_CHILD_STOP_WHILE_FAILING=1"},
            log_file.string());
  ASSERT_GT(child, 0);
  const auto file_has = [&file](const std::string& text) { return read_text(file).find(text) != std::string::npos; };
  ASSERT_TRUE(wait_until([&] { return file_has("READY"); }, 15s)) << read_text(log_file);
  auto pub = publisher();
  for (int i = 0; i < kEvents; ++i)
    pub.publish("cabang/6/transaksi", transaksi_event("f-" + std::to_string(i), i));
  const bool stopped = wait_until([&] { return file_has("STOPPED"); }, 20s);
  kill_and_reap(child);
  ASSERT_TRUE(stopped) << read_text(file) << read_text(log_file);
  const std::string text = read_text(file);
  EXPECT_THAT(text, HasSubstr("FAIL f-0"));
  EXPECT_THAT(text, HasSubstr("STOPPED parked=1"));
  const auto ms_at = text.find(" ms=");
  ASSERT_NE(ms_at, std::string::npos);
  EXPECT_LT(std::stoi(text.substr(ms_at + 4)), 5000) << "stop() must not wait for the failing store";

  auto bridge = start_bridge(options(client_id, false));
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() >= kEvents; }, 15s))
      << "only " << sink_.accepted_count() << " of " << kEvents << " came back: the rest were acknowledged";
  std::this_thread::sleep_for(300ms);
  const auto events = sink_.accepted();
  ASSERT_EQ(events.size(), static_cast<std::size_t>(kEvents));
  for (int i = 0; i < kEvents; ++i) EXPECT_EQ(events[static_cast<std::size_t>(i)].id, "f-" + std::to_string(i));
}

TEST_F(BridgeCrash, TwinSessionsLoseNothingWhenKilledMidCommit) {
  const CrashOutcome outcome = run("crash-twins", true);
  EXPECT_TRUE(outcome.missing.empty())
      << "lost " << outcome.missing.size() << ", e.g. " << *outcome.missing.begin();
  EXPECT_EQ(outcome.stored.size(), 50u);
}

// Debian's Paho C 1.3.12 sends the PUBACK only after the arrival callback returns, so even one session
// loses nothing: the broker redelivers the event whose commit was cut short. If this fails after a Paho
// upgrade, Paho acknowledges early again and twin_sessions must stay on.
TEST_F(BridgeCrash, SingleSessionLosesNothingBecausePahoAcksAfterTheCallback) {
  const CrashOutcome outcome = run("crash-single", false);
  std::string lost;
  for (const auto& id : outcome.missing) lost += id + " ";
  EXPECT_TRUE(outcome.missing.empty())
      << "lost " << lost << "(Paho acknowledged before the callback returned)";
  EXPECT_EQ(outcome.stored.size(), 50u);
}

// MQTT 3.1.1 (broker.mqtt_version 3, for RabbitMQ's plugin): the same acknowledgement after the commit.
// Paho C sends a QoS 1 PUBACK after the arrival callback returns whatever the protocol version.
TEST_F(BridgeCrash, Mqtt311SingleSessionLosesNothingWhenKilledMidCommit) {
  const CrashOutcome outcome = run("crash-311", false, 3);
  std::string lost;
  for (const auto& id : outcome.missing) lost += id + " ";
  EXPECT_TRUE(outcome.missing.empty()) << "lost " << lost << "(acknowledged before the callback returned)";
  EXPECT_EQ(outcome.stored.size(), 50u);
}

// 3.1.1 persistent session (clean session false): what arrives while the bridge is away is queued.
TEST_F(BridgeTest, Mqtt311PersistentSessionKeepsWhatArrivesWhileStopped) {
  auto bridge = start_bridge(options("persist-311", false, 3));
  bridge->stop();
  auto pub = publisher(3);
  for (int i = 0; i < 30; ++i)
    pub.publish("cabang/4/transaksi", transaksi_event("q-" + std::to_string(i), i));
  bridge->start();
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 30; }, 15s)) << sink_.accepted_count();
  const auto events = sink_.accepted();
  for (int i = 0; i < 30; ++i) EXPECT_EQ(events[static_cast<std::size_t>(i)].id, "q-" + std::to_string(i));
}

// 3.1.1 has no retain handling: the broker sends a filter's retained messages at every SUBSCRIBE, flagged
// RETAIN. The bridge drops those (MQTT 5 asks the broker not to send them); the live copy is stored once.
TEST_F(BridgeTest, Mqtt311RetainedCopiesAtResubscribeAreNotNewEvents) {
  auto bridge = start_bridge(options("retain-311", false, 3));
  auto pub = publisher(3);
  pub.publish("cabang/3/omset", omset_payload(7), 1,
              /*retain=*/true);  // bare: a second copy would get a new id
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 1; }, 10s));
  bridge->stop();
  bridge->start();  // subscribes again: the broker sends the retained message, flagged
  ASSERT_TRUE(wait_until([&] { return bridge->stats().retained_skipped >= 1; }, 15s)) << broker_.log();
  pub.publish("cabang/3/omset", omset_payload(8), 1, true);  // live, to an established subscription
  ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 2; }, 10s));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink_.accepted_count(), 2u);
  EXPECT_EQ(bridge->stats().retained_skipped, 1u);
}

// broker.servers: a session whose broker died moves to the next one of the list (Paho's serverURIs),
// in either protocol version; the publisher too.
TEST_F(BridgeTest, SessionsAndThePublisherMoveToTheNextBrokerOfTheList) {
  for (const int version : {5, 3}) {
    SCOPED_TRACE("MQTT " + std::to_string(version));
    Mosquitto second;
    ASSERT_NO_FATAL_FAILURE(second.start());
    BridgeOptions o = options("failover-" + std::to_string(version), false, version);
    o.failover_uris = {second.uri()};
    auto bridge = start_bridge(o);
    PublisherOptions po;
    po.server_uri = broker_.uri();
    po.failover_uris = {second.uri()};
    po.mqtt_version = version;
    MqttPublisher pub(po);
    pub.publish("cabang/1/transaksi", transaksi_event("before-" + std::to_string(version), 1));
    ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 1; }, 10s));
    broker_.kill();
    ASSERT_TRUE(wait_until([&] { return !bridge->ready(); }, 10s));
    ASSERT_TRUE(wait_until([&] { return bridge->ready(); }, 15s)) << second.log();
    pub.publish("cabang/1/transaksi",
                transaksi_event("after-" + std::to_string(version), 2));  // reconnects to the second
    ASSERT_TRUE(wait_until([&] { return sink_.accepted_count() == 2; }, 10s));
    EXPECT_EQ(sink_.accepted()[1].id, "after-" + std::to_string(version));
    bridge.reset();
    sink_.clear();
    ASSERT_NO_FATAL_FAILURE(broker_.start());
  }
}

}  // namespace
}  // namespace kabar
