#include "bridge/mqtt_bridge.h"

#include <spdlog/spdlog.h>

#include "bridge/mqtt_bridge_impl.h"
#include "bridge/mqtt_client_setup.h"
#include "bridge/schema_registry.h"
#include "core/clock.h"
#include "core/log_fields.h"

namespace kabar {
using namespace bridge_detail;
namespace {

// Configured in place and never copied or moved afterwards: Paho C++ 1.2.0's connect_options copy and
// move leave the C struct's connectProperties pointing into the source object, so options built with
// connect_options_builder and returned by value make MQTTAsync_connect read freed memory (seen crashing
// under ASan). async_client::connect copies its argument while this object is alive, which is safe.
void configure_connect_options(mqtt::connect_options& connect, const BridgeOptions& options) {
  // Paho 1.2 needs the version both here and in create_options (docs/bridge.md "Paho notes"). A persistent
  // session keeps our subscriptions and queued QoS 1 messages at the broker while we are away: MQTT 5
  // says so with clean_start false plus a session expiry, 3.1.1 with clean session false (no expiry: the
  // broker's own setting decides, e.g. RabbitMQ's mqtt.subscription_ttl).
  const bool v5 = options.mqtt_version == 5;
  connect.set_mqtt_version(paho_mqtt_version(options.mqtt_version));
  if (v5) {
    connect.set_clean_start(false);
  } else {
    connect.set_clean_session(false);
  }
  set_mqtt_servers(connect, options.server_uri, options.failover_uris);
  connect.set_keep_alive_interval(options.keepalive);
  connect.set_connect_timeout(kConnectTimeout);
  connect.set_automatic_reconnect(false);  // ours: Paho's takes whole seconds, so 250 ms would become 0
  if (!options.username.empty()) connect.set_user_name(options.username);
  if (!options.password.empty()) connect.set_password(options.password);
  // Properties are MQTT 5 only: Paho refuses a 3.1.1 connect that carries any.
  if (v5)
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
    session->client = std::make_unique<mqtt::async_client>(
        options.server_uri, session->client_id, mqtt::create_options(paho_mqtt_version(options.mqtt_version)),
        nullptr);
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
  if (parked) {
    spdlog::error("mqtt bridge: cannot start again, a message is still held for a failing store");
    return;
  }
  running = true;
  stopping = false;
  supervisor_exited = false;
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
  // A callback held because the store fails (DurableHandoff) keeps Paho's receive thread and its global
  // mutex, so every Paho call below (and the supervisor's) would block. Such a message cannot be let go
  // without acknowledging it: it is left where it is, and the process must exit (Gateway::shutdown).
  std::unique_lock in_hand(ingest_mutex, std::defer_lock);
  if (!wait_until_idle(in_hand)) return leave_parked("the store still fails");
  in_hand.unlock();
  {
    std::unique_lock lock(state_mutex);
    if (!wake.wait_for(lock, kStopGrace, [this] { return supervisor_exited; })) {
      lock.unlock();
      supervisor.detach();  // blocked in a Paho call: a callback is held (it took the store's failure)
      return leave_parked("the MQTT client library is blocked");
    }
  }
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
  // A message already handed to us finishes its trip to the sink (and is acknowledged) before we return.
  if (!wait_until_idle(in_hand)) return leave_parked("the store still fails");
  in_hand.unlock();
  std::lock_guard lock(state_mutex);
  for (auto& session : sessions) session->state = SessionState::Disconnected;
  running = false;
  spdlog::info("mqtt bridge stopped; the broker keeps the session{} and queues new messages",
               sessions.size() > 1 ? "s" : "");
}

bool MqttBridge::Impl::wait_until_idle(std::unique_lock<std::timed_mutex>& in_hand) {
  return in_hand.try_lock_for(kStopGrace);
}

void MqttBridge::Impl::leave_parked(const char* why) {
  parked = true;
  for (auto& session : sessions) session->ready = false;
  {
    std::lock_guard lock(state_mutex);
    running = false;
  }
  spdlog::error("mqtt bridge stopped with a message it could not store ({}): it was NOT acknowledged and "
                "stays with the broker, which delivers it again when kabar is back",
                why);
}

bool MqttBridge::Impl::ready() const {
  return std::all_of(sessions.begin(), sessions.end(),
                     [](const auto& session) { return session->ready.load(); });
}


void MqttBridge::Impl::on_message(const Session& session, const mqtt::const_message_ptr& message) {
  // MQTT 3.1.1 has no retain handling: the broker sends the retained messages of a filter at every
  // SUBSCRIBE (so at every reconnect), with RETAIN set, and sets RETAIN on nothing else it forwards to an
  // established subscription (3.1.1 section 3.3.1.3). Those copies are state, not new events: dropped, as
  // MQTT 5's retain handling 2 keeps the broker from sending them at all. Returning acknowledges them.
  if (options.mqtt_version != 5 && message->is_retained()) {
    ++retained_skipped;
    return;
  }
  // Paho C calls us from C code: an exception escaping here would terminate the process.
  try {
    ingest(session.twin, message->get_topic(), message->get_payload(), message->is_duplicate());
  } catch (const std::exception& e) {
    spdlog::critical("mqtt session {}: message on '{}' lost while handling it: {}", session.client_id,
                     message->get_topic(), e.what());
  }
}

void MqttBridge::Impl::ingest(int twin, const std::string& topic, const std::string& payload, bool redelivery) {
  ++received;
  const bool twins = sessions.size() > 1;
  const auto now = Clock::now();
  std::lock_guard lock(ingest_mutex);
  // The twin copy of something already passed on is dropped before it costs a parse.
  if (twins && twin_matcher.claim_twin_copy(twin, topic, payload, now)) {
    ++twin_duplicates;
    return;
  }
  const std::int64_t now_ms = unix_ms();
  ParseResult parsed = parse_message(topic, payload, routes, schemas, limits, now_ms);
  if (!parsed.ok()) return reject(twin, topic, payload, parsed.reason);
  Envelope& envelope = *parsed.envelope;
  const bool publisher_id = !envelope.id.empty();
  if (publisher_id && recent_ids.contains(envelope.id)) {
    ++twin_duplicates;  // a redelivery or a publisher's retry: the store would drop it anyway
  } else {
    if (!publisher_id) {
      envelope.id = derived_event_id(topic, payload);
      envelope.derived_id = true;
      envelope.redelivery = redelivery;
    }
    deliver(envelope);
    if (publisher_id) recent_ids.insert(envelope.id);
  }
  if (twins) twin_matcher.record(twin, topic, payload, now);
}

void MqttBridge::Impl::reject(int twin, const std::string& topic, const std::string& payload,
                              const std::string& reason) {
  ++rejected;
  const DeadLetterKind kind = dead_letter_kind(reason);
  rejected_by_kind[static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
  spdlog::warn(with_fields(fmt::format("mqtt message on '{}' dead-lettered: {}", topic, reason),
                           {{"topic", topic}, {"reason", dead_letter_kind_name(kind)}, {"detail", reason}}));
  // A dead letter is acknowledged like an event, so it is recorded first, like an event.
  handoff.run([&] { sink.reject(topic, payload, reason); }, [&] { return "the dead letter of '" + topic + "'"; });
  if (sessions.size() > 1) twin_matcher.record(twin, topic, payload, Clock::now());
}

// Returns only once the sink took the event: returning from Paho's callback acknowledges the message
// (DurableHandoff says why it never gives up).
void MqttBridge::Impl::deliver(const Envelope& envelope) {
  handoff.run([&] { sink.accept(envelope); },
              [&] { return "event " + envelope.id + " for channel " + envelope.channel; });
  ++accepted;
}

MqttBridge::MqttBridge(BridgeOptions options, const RouteTable& routes, const SchemaRegistry& schemas,
                       IngestSink& sink)
    : impl_(std::make_unique<Impl>(std::move(options), routes, schemas, sink)) {}

MqttBridge::~MqttBridge() {
  if (!impl_) return;
  impl_->stop();
  // Parked: Paho's receive thread is still inside our callback and a detached supervisor may be inside a
  // Paho call; both use the Impl, and destroying a Paho client would wait for Paho's mutex forever. The
  // process is about to exit (Gateway::shutdown), so the Impl is deliberately left alive.
  if (impl_->parked) static_cast<void>(impl_.release());
}

void MqttBridge::start() { impl_->start(); }
void MqttBridge::stop() { impl_->stop(); }
bool MqttBridge::ready() const { return impl_->ready(); }
bool MqttBridge::store_failing() const { return impl_->handoff.failing(); }
bool MqttBridge::parked() const { return impl_->parked; }

BridgeStats MqttBridge::stats() const {
  BridgeStats stats;
  stats.received = impl_->received;
  stats.accepted = impl_->accepted;
  stats.twin_duplicates = impl_->twin_duplicates;
  stats.rejected = impl_->rejected;
  for (std::size_t kind = 0; kind < kDeadLetterKinds; ++kind)
    stats.rejected_by_kind[kind] = impl_->rejected_by_kind[kind].load(std::memory_order_relaxed);
  stats.sink_failures = impl_->handoff.failures();
  stats.store_stalls = impl_->handoff.stalls();
  stats.store_failing = impl_->handoff.failing();
  stats.reconnects = impl_->reconnects;
  stats.retained_skipped = impl_->retained_skipped;
  stats.connected = impl_->ready();
  return stats;
}

}  // namespace kabar
