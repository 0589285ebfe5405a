// MqttBridge's sessions: connecting with backoff, subscribing after every connect, noticing losses.
// The rest of the bridge is in mqtt_bridge.cpp; the state both use in mqtt_bridge_impl.h.
#include <spdlog/spdlog.h>

#include <algorithm>
#include <random>

#include "bridge/mqtt_bridge_impl.h"

namespace kabar {
namespace bridge_detail {

milliseconds jittered(milliseconds base) {
  thread_local std::mt19937 rng{std::random_device{}()};
  std::uniform_real_distribution<double> factor(0.8, 1.2);
  return milliseconds(static_cast<std::int64_t>(static_cast<double>(base.count()) * factor(rng)));
}

}  // namespace bridge_detail

using namespace bridge_detail;

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
  supervisor_exited = true;
  lock.unlock();
  wake.notify_all();
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

// The brokers a session may be connected to: with failover_uris, Paho tries them in turn and does not
// reliably say which one answered (the connect response named the dead first node after a failover to
// another RabbitMQ node), so the log names them all.
std::string MqttBridge::Impl::where() const {
  std::string all = options.server_uri;
  for (const std::string& uri : options.failover_uris) all += ", " + uri;
  return all;
}

bool MqttBridge::Impl::attempt(Session& session, const char* what, const std::function<bool()>& step) {
  try {
    if (step()) return true;
    spdlog::warn("mqtt session {}: {} ({}): no answer in time", session.client_id, what, where());
  } catch (const mqtt::exception& e) {
    spdlog::warn("mqtt session {}: {} ({}) failed: {}", session.client_id, what, where(), e.what());
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
  // MQTT 3.1.1 has no subscribe options (on_message drops the retained copies instead).
  const bool v5 = options.mqtt_version == 5;
  std::vector<mqtt::token_ptr> tokens;
  for (const std::string& filter : filters)
    tokens.push_back(v5 ? session.client->subscribe(filter, 1, no_retained)
                        : session.client->subscribe(filter, 1));
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
                 where(), filters.size());
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

}  // namespace kabar
