#include "bridge/mqtt_bridge.h"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <random>
#include <thread>

#include "bridge/event_id.h"
#include "bridge/message_parser.h"
#include "bridge/schema_registry.h"
#include "bridge/twin_matcher.h"

namespace kabar {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::size_t kRecentIds = 16384;
constexpr std::chrono::seconds kConnectTimeout{10};
constexpr milliseconds kOperationTimeout{15000};  // connect (Paho gives up after kConnectTimeout) or SUBACK
constexpr milliseconds kDisconnectTimeout{5000};
constexpr milliseconds kSinkRetryPauses[] = {milliseconds(0), milliseconds(100), milliseconds(400)};

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

std::int64_t unix_ms_now() {
  return std::chrono::duration_cast<milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// +/-20 % so that many gateways (or the twins) do not reconnect in lockstep after a broker restart.
milliseconds jittered(milliseconds base) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.8, 1.2);
  return milliseconds(static_cast<std::int64_t>(static_cast<double>(base.count()) * factor(rng)));
}

// Configured in place and never copied or moved afterwards: Paho C++ 1.2.0's connect_options copy and
// move leave the C struct's connectProperties pointing into the source object, so options built with
// connect_options_builder and returned by value make MQTTAsync_connect read freed memory (seen crashing
// under ASan). async_client::connect copies its argument while this object is alive, which is safe.
void configure_connect_options(mqtt::connect_options& connect, const BridgeOptions& options) {
  // Paho 1.2 needs MQTT v5 both here and in create_options (docs/toolchain notes). clean_start false plus
  // a session expiry keeps our subscriptions and queued QoS 1 messages at the broker while we are away.
  connect.set_mqtt_version(MQTTVERSION_5);
  connect.set_clean_start(false);
  connect.set_keep_alive_interval(options.keepalive);
  connect.set_connect_timeout(kConnectTimeout);
  connect.set_automatic_reconnect(false);  // ours: Paho's takes whole seconds, so 250 ms would become 0
  if (!options.username.empty()) connect.set_user_name(options.username);
  if (!options.password.empty()) connect.set_password(options.password);
  connect.set_properties(mqtt::properties{mqtt::property(
      mqtt::property::SESSION_EXPIRY_INTERVAL, static_cast<int32_t>(options.session_expiry.count()))});
}

void require_route_schemas(const RouteTable& routes, const SchemaRegistry& schemas) {
  for (const Route& route : routes.routes()) {
    if (!route.schema.empty() && !schemas.has(route.schema))
      throw SchemaError("route \"" + route.topic + "\" names schema '" + route.schema +
                        "', which is not loaded");
  }
}

}  // namespace

struct MqttBridge::Impl {
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
  bool subscribe(Session& session);
  bool check_granted(Session& session, const std::string& filter, const std::vector<mqtt::ReasonCode>& codes);
  bool await(const mqtt::token_ptr& token, milliseconds timeout);
  void finish_attempt(Session& session, std::uint64_t generation, bool succeeded);
  void on_connection_lost(Session& session, const std::string& cause);

  // Paho's receive thread: every message of every session arrives here, one at a time.
  void on_message(const Session& session, const mqtt::const_message_ptr& message);
  void ingest(int twin, const std::string& topic, const std::string& payload);
  void reject(int twin, const std::string& topic, const std::string& payload, const std::string& reason);
  bool deliver(const Envelope& envelope);

  BridgeOptions options;
  const RouteTable& routes;
  const SchemaRegistry& schemas;
  IngestSink& sink;
  ParseLimits limits;
  std::vector<std::string> filters;
  mqtt::connect_options connect_options;

  std::mutex ingest_mutex;  // Paho already serialises callbacks; this also makes stop() wait for one
  RecentIds recent_ids{kRecentIds};
  TwinMatcher twin_matcher;
  EventIdGenerator ids;

  std::atomic<std::uint64_t> received{0}, accepted{0}, twin_duplicates{0}, rejected{0}, sink_failures{0},
      reconnects{0};

  std::mutex state_mutex;
  std::condition_variable wake;
  bool running = false;
  bool stopping = false;
  std::thread supervisor;

  std::vector<std::unique_ptr<Session>> sessions;  // last: destroyed first, so no callback outlives the rest
};

MqttBridge::Impl::Impl(BridgeOptions options_in, const RouteTable& routes_in,
                       const SchemaRegistry& schemas_in, IngestSink& sink_in)
    : options(std::move(options_in)),
      routes(routes_in),
      schemas(schemas_in),
      sink(sink_in),
      filters(routes_in.subscriptions()) {
  configure_connect_options(connect_options, options);
  limits.max_payload_bytes = options.max_payload_bytes;
  require_route_schemas(routes, schemas);
  const std::vector<std::string> client_ids =
      options.twin_sessions ? std::vector<std::string>{options.client_id + "-a", options.client_id + "-b"}
                            : std::vector<std::string>{options.client_id};
  for (std::size_t i = 0; i < client_ids.size(); ++i) {
    auto session = std::make_unique<Session>();
    session->twin = static_cast<int>(i);
    session->client_id = client_ids[i];
    // No client persistence: the broker's persistent session holds what we have not acknowledged.
    session->client = std::make_unique<mqtt::async_client>(options.server_uri, session->client_id,
                                                           mqtt::create_options(MQTTVERSION_5), nullptr);
    Session* raw = session.get();
    session->client->set_message_callback([this, raw](mqtt::const_message_ptr m) { on_message(*raw, m); });
    session->client->set_connection_lost_handler(
        [this, raw](const std::string& cause) { on_connection_lost(*raw, cause); });
    session->client->set_disconnected_handler([this, raw](const mqtt::properties&, mqtt::ReasonCode code) {
      on_connection_lost(*raw,
                         "the broker sent DISCONNECT, reason code " + std::to_string(static_cast<int>(code)));
    });
    sessions.push_back(std::move(session));
  }
}

MqttBridge::Impl::~Impl() {
  stop();
  sessions.clear();  // destroys the Paho clients before the state their callbacks use
}

void MqttBridge::Impl::start() {
  std::lock_guard lock(state_mutex);
  if (running) return;
  running = true;
  stopping = false;
  for (auto& session : sessions) {
    session->state = SessionState::Disconnected;
    session->next_attempt = Clock::now();
    session->backoff = options.min_backoff;
  }
  supervisor = std::thread([this] { supervise(); });
}

void MqttBridge::Impl::stop() {
  {
    std::lock_guard lock(state_mutex);
    if (!running) return;
    stopping = true;
  }
  wake.notify_all();
  supervisor.join();
  for (auto& session : sessions) {
    session->ready = false;
    // Also when not connected: a disconnect cancels a connect still in flight, which could otherwise
    // complete after stop() and start delivering messages nobody waits for.
    try {
      session->client->disconnect()->wait_for(kDisconnectTimeout);
    } catch (const mqtt::exception& e) {
      spdlog::debug("mqtt session {}: disconnect: {}", session->client_id, e.what());
    }
  }
  // A message already handed to us (and acknowledged) finishes its trip to the sink before we return.
  { std::lock_guard wait_for_callback(ingest_mutex); }
  std::lock_guard lock(state_mutex);
  for (auto& session : sessions) session->state = SessionState::Disconnected;
  running = false;
  spdlog::info("mqtt bridge stopped; the broker keeps the session{} and queues new messages",
               sessions.size() > 1 ? "s" : "");
}

bool MqttBridge::Impl::ready() const {
  return std::all_of(sessions.begin(), sessions.end(),
                     [](const auto& session) { return session->ready.load(); });
}

void MqttBridge::Impl::supervise() {
  std::unique_lock lock(state_mutex);
  while (!stopping) {
    Clock::time_point next_wake = Clock::now() + std::chrono::seconds(1);
    const std::vector<Session*> due = due_sessions(Clock::now(), next_wake);
    if (due.empty()) {
      wake.wait_until(lock, next_wake);
      continue;
    }
    std::vector<std::uint64_t> generations;
    for (Session* session : due) {
      session->state = SessionState::Connecting;
      generations.push_back(session->generation);
    }
    lock.unlock();
    const std::vector<bool> succeeded = connect_and_subscribe(due);
    lock.lock();
    for (std::size_t i = 0; i < due.size(); ++i) finish_attempt(*due[i], generations[i], succeeded[i]);
  }
}

std::vector<Session*> MqttBridge::Impl::due_sessions(Clock::time_point now, Clock::time_point& next_wake) {
  std::vector<Session*> due;
  for (auto& session : sessions) {
    if (session->state != SessionState::Disconnected) continue;
    if (session->next_attempt <= now) {
      due.push_back(session.get());
    } else {
      next_wake = std::min(next_wake, session->next_attempt);
    }
  }
  return due;
}

// Connects in parallel: Paho's receive thread only notices a new client's socket when its 1 s poll
// times out, so each connect takes about 2 s while another client of the process is connected;
// connecting the twins one after the other would double that.
std::vector<bool> MqttBridge::Impl::connect_and_subscribe(const std::vector<Session*>& due) {
  std::vector<mqtt::token_ptr> tokens(due.size());
  std::vector<bool> ok(due.size(), true);
  for (std::size_t i = 0; i < due.size(); ++i) {
    ok[i] = attempt(*due[i], "connect", [&] {
      if (!due[i]->client->is_connected()) tokens[i] = due[i]->client->connect(connect_options);
      return true;
    });
  }
  for (std::size_t i = 0; i < due.size(); ++i) {
    if (!ok[i] || !tokens[i]) continue;
    ok[i] = attempt(*due[i], "connect", [&] { return await(tokens[i], kOperationTimeout); });
  }
  for (std::size_t i = 0; i < due.size(); ++i) {
    if (ok[i]) ok[i] = attempt(*due[i], "subscribe", [&] { return subscribe(*due[i]); });
  }
  return ok;
}

bool MqttBridge::Impl::attempt(Session& session, const char* what, const std::function<bool()>& step) {
  try {
    if (step()) return true;
    spdlog::warn("mqtt session {}: {} ({}): no answer in time", session.client_id, what, options.server_uri);
  } catch (const mqtt::exception& e) {
    spdlog::warn("mqtt session {}: {} ({}) failed: {}", session.client_id, what, options.server_uri,
                 e.what());
  }
  return false;
}

// Subscribing again after every connect is harmless with a persistent session and repairs one the broker
// lost (a broker restarted without persistence, an expired session).
bool MqttBridge::Impl::subscribe(Session& session) {
  // Retained messages are state, not new events: replaying them on every resubscribe would store them
  // again (under a new id when they carry none).
  const mqtt::subscribe_options no_retained(false, false, mqtt::subscribe_options::DONT_SEND_RETAINED);
  // One SUBSCRIBE per filter: Paho C++ 1.2.0 crashes in MQTTAsync_subscribeMany when given per-topic
  // subscribe options, and the single-topic call carries them correctly.
  std::vector<mqtt::token_ptr> tokens;
  for (const std::string& filter : filters)
    tokens.push_back(session.client->subscribe(filter, 1, no_retained));
  for (std::size_t i = 0; i < tokens.size(); ++i) {
    if (!await(tokens[i], kOperationTimeout)) return false;
    if (!check_granted(session, filters[i], tokens[i]->get_subscribe_response().get_reason_codes()))
      return false;
  }
  return true;
}

bool MqttBridge::Impl::check_granted(Session& session, const std::string& filter,
                                     const std::vector<mqtt::ReasonCode>& codes) {
  const int code = codes.empty() ? 0x80 : static_cast<int>(codes.front());
  if (code >= 0x80) {
    spdlog::error("mqtt session {}: the broker refused the subscription to '{}' (reason code {})",
                  session.client_id, filter, code);
    session.client->disconnect()->wait_for(kDisconnectTimeout);  // the next attempt starts from scratch
    return false;
  }
  if (code == 0)
    spdlog::warn("mqtt session {}: '{}' granted at QoS 0 only: messages can be lost", session.client_id,
                 filter);
  return true;
}

// Waits in short slices so stop() is never held up by a broker that does not answer.
bool MqttBridge::Impl::await(const mqtt::token_ptr& token, milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (token->wait_for(milliseconds(100))) return true;
    std::lock_guard lock(state_mutex);
    if (stopping) return false;
  }
  return false;
}

void MqttBridge::Impl::finish_attempt(Session& session, std::uint64_t generation, bool succeeded) {
  if (succeeded && generation == session.generation) {
    session.state = SessionState::Ready;
    session.ready = true;
    session.backoff = options.min_backoff;
    if (session.ever_ready) ++reconnects;
    session.ever_ready = true;
    spdlog::info("mqtt session {}: connected to {} and subscribed to {} filter(s)", session.client_id,
                 options.server_uri, filters.size());
    return;
  }
  session.state = SessionState::Disconnected;
  session.next_attempt = Clock::now() + jittered(session.backoff);
  session.backoff = std::min(session.backoff * 2, options.max_backoff);
}

void MqttBridge::Impl::on_connection_lost(Session& session, const std::string& cause) {
  {
    std::lock_guard lock(state_mutex);
    ++session.generation;
    session.ready = false;
    if (session.state == SessionState::Ready) {
      session.state = SessionState::Disconnected;
      session.next_attempt = Clock::now() + jittered(options.min_backoff);
    }
  }
  wake.notify_all();
  spdlog::warn("mqtt session {}: connection lost{}{}; reconnecting", session.client_id,
               cause.empty() ? "" : ": ", cause);
}

void MqttBridge::Impl::on_message(const Session& session, const mqtt::const_message_ptr& message) {
  // Paho C calls us from C code: an exception escaping here would terminate the process.
  try {
    ingest(session.twin, message->get_topic(), message->get_payload());
  } catch (const std::exception& e) {
    spdlog::critical("mqtt session {}: message on '{}' lost while handling it: {}", session.client_id,
                     message->get_topic(), e.what());
  }
}

void MqttBridge::Impl::ingest(int twin, const std::string& topic, const std::string& payload) {
  ++received;
  const bool twins = sessions.size() > 1;
  const auto now = Clock::now();
  std::lock_guard lock(ingest_mutex);
  // The twin copy of something already passed on is dropped before it costs a parse.
  if (twins && twin_matcher.claim_twin_copy(twin, topic, payload, now)) {
    ++twin_duplicates;
    return;
  }
  const std::int64_t now_ms = unix_ms_now();
  ParseResult parsed = parse_message(topic, payload, routes, schemas, limits, now_ms);
  if (!parsed.ok()) return reject(twin, topic, payload, parsed.reason);
  Envelope& envelope = *parsed.envelope;
  const bool publisher_id = !envelope.id.empty();
  if (publisher_id && recent_ids.contains(envelope.id)) {
    ++twin_duplicates;  // a redelivery or a publisher's retry: the store would drop it anyway
  } else {
    if (!publisher_id) envelope.id = ids.next(now_ms);
    if (!deliver(envelope)) return;  // not recorded: the twin's copy gets its own chance
    if (publisher_id) recent_ids.insert(envelope.id);
  }
  if (twins) twin_matcher.record(twin, topic, payload, now);
}

void MqttBridge::Impl::reject(int twin, const std::string& topic, const std::string& payload,
                              const std::string& reason) {
  ++rejected;
  spdlog::warn("mqtt message on '{}' dead-lettered: {}", topic, reason);
  try {
    sink.reject(topic, payload, reason);
  } catch (const std::exception& e) {
    spdlog::error("mqtt message on '{}': recording the dead letter failed: {}", topic, e.what());
  }
  if (sessions.size() > 1) twin_matcher.record(twin, topic, payload, Clock::now());
}

// Paho (Debian's 1.3.12) sends the PUBACK when this callback returns, so a failed accept() is retried a
// few times first: returning gives the message up. The pauses hold up every Paho client of the process,
// so they stay short.
bool MqttBridge::Impl::deliver(const Envelope& envelope) {
  for (const milliseconds pause : kSinkRetryPauses) {
    std::this_thread::sleep_for(pause);
    try {
      sink.accept(envelope);
      ++accepted;
      return true;
    } catch (const std::exception& e) {
      ++sink_failures;
      spdlog::error("event {} for channel {}: the sink failed: {}", envelope.id, envelope.channel, e.what());
    }
  }
  // With twin sessions the other copy is still to come and gets its own chance; without, the event is
  // gone unless the publisher sends it again.
  spdlog::critical("event {} for channel {} was NOT stored{}", envelope.id, envelope.channel,
                   sessions.size() > 1 ? "; its twin copy will be tried" : "; it is lost");
  return false;
}

MqttBridge::MqttBridge(BridgeOptions options, const RouteTable& routes, const SchemaRegistry& schemas,
                       IngestSink& sink)
    : impl_(std::make_unique<Impl>(std::move(options), routes, schemas, sink)) {}

MqttBridge::~MqttBridge() = default;

void MqttBridge::start() { impl_->start(); }
void MqttBridge::stop() { impl_->stop(); }
bool MqttBridge::ready() const { return impl_->ready(); }

BridgeStats MqttBridge::stats() const {
  BridgeStats stats;
  stats.received = impl_->received;
  stats.accepted = impl_->accepted;
  stats.twin_duplicates = impl_->twin_duplicates;
  stats.rejected = impl_->rejected;
  stats.sink_failures = impl_->sink_failures;
  stats.reconnects = impl_->reconnects;
  stats.connected = impl_->ready();
  return stats;
}

}  // namespace kabar
