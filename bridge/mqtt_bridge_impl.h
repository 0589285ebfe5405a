#pragma once
// Private to bridge/: MqttBridge's state, shared by mqtt_bridge.cpp (construction, stop, ingest) and
// mqtt_sessions.cpp (connecting, subscribing, reconnecting). Design notes: docs/bridge.md.
#include <mqtt/async_client.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bridge/durable_handoff.h"
#include "bridge/event_id.h"
#include "bridge/message_parser.h"
#include "bridge/mqtt_bridge.h"
#include "bridge/twin_matcher.h"

namespace kabar {
namespace bridge_detail {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kRecentIds = 16384;
constexpr std::chrono::seconds kConnectTimeout{10};
constexpr milliseconds kOperationTimeout{15000};  // connect (Paho gives up after kConnectTimeout) or SUBACK
constexpr milliseconds kDisconnectTimeout{5000};
// How long stop() waits for a message in hand (the store may be failing) and for the supervisor.
constexpr milliseconds kStopGrace{2000};

enum class SessionState { Disconnected, Connecting, Ready };

struct Session {
  int twin = 0;  // 0 = "-a", 1 = "-b"; selects the twin matcher's FIFO
  std::string client_id;
  std::unique_ptr<mqtt::async_client> client;
  std::atomic<bool> ready{false};
  // Guarded by Impl::state_mutex.
  SessionState state = SessionState::Disconnected;
  std::uint64_t generation = 0;  // bumped on every connection loss, so a stale attempt cannot mark ready
  Clock::time_point next_attempt{};
  milliseconds backoff{0};
  bool ever_ready = false;
};

// +/-20 % so that many gateways (or the twins) do not reconnect in lockstep after a broker restart.
milliseconds jittered(milliseconds base);

}  // namespace bridge_detail

struct MqttBridge::Impl {
  using Clock = bridge_detail::Clock;
  using Session = bridge_detail::Session;
  using milliseconds = std::chrono::milliseconds;

  Impl(BridgeOptions options_in, const RouteTable& routes_in, const SchemaRegistry& schemas_in,
       IngestSink& sink_in);
  ~Impl();

  void start();
  void stop();
  bool ready() const;

  // Supervisor thread: (re)connects every session with backoff and subscribes after every connect.
  void supervise();
  std::vector<Session*> due_sessions(Clock::time_point now, Clock::time_point& next_wake);
  std::vector<bool> connect_and_subscribe(const std::vector<Session*>& due);
  bool attempt(Session& session, const char* what, const std::function<bool()>& step);
  std::string where() const;
  bool subscribe(Session& session);
  bool check_granted(Session& session, const std::string& filter, const std::vector<mqtt::ReasonCode>& codes);
  bool await(const mqtt::token_ptr& token, milliseconds timeout);
  void finish_attempt(Session& session, std::uint64_t generation, bool succeeded);
  void on_connection_lost(Session& session, const std::string& cause);

  // Paho's receive thread: every message of every session arrives here, one at a time.
  void on_message(const Session& session, const mqtt::const_message_ptr& message);
  void ingest(int twin, const std::string& topic, const std::string& payload, bool redelivery);
  void reject(int twin, const std::string& topic, const std::string& payload, const std::string& reason);
  void deliver(const Envelope& envelope);
  bool wait_until_idle(std::unique_lock<std::timed_mutex>& in_hand);
  void leave_parked(const char* why);

  BridgeOptions options;
  const RouteTable& routes;
  const SchemaRegistry& schemas;
  IngestSink& sink;
  ParseLimits limits;
  std::vector<std::string> filters;
  mqtt::connect_options connect_options;

  // Paho already serialises callbacks; this also lets stop() wait (with a timeout) for the one in hand.
  std::timed_mutex ingest_mutex;
  DurableHandoff handoff;
  RecentIds recent_ids{bridge_detail::kRecentIds};
  TwinMatcher twin_matcher;

  std::atomic<std::uint64_t> received{0}, accepted{0}, twin_duplicates{0}, rejected{0}, reconnects{0},
      retained_skipped{0};
  std::array<std::atomic<std::uint64_t>, kDeadLetterKinds> rejected_by_kind{};
  // stop() gave up on a message held because the store fails: Paho's receive thread stays in our callback
  // (so nothing is acknowledged) and every Paho call of the process would block; see parked().
  std::atomic<bool> parked{false};

  std::mutex state_mutex;
  std::condition_variable wake;
  bool running = false;
  bool stopping = false;
  bool supervisor_exited = false;
  std::thread supervisor;

  std::vector<std::unique_ptr<Session>> sessions;  // last: destroyed first, so no callback outlives the rest
};

}  // namespace kabar
