#pragma once
// MqttBridge: owns the MQTT subscriber session(s) and nothing else. Messages are parsed into envelopes,
// validated, and handed to the IngestSink, which returns once the event is durable.
//
// Durability: the arrival callback returns only after the sink committed, and Debian's Paho C (1.3.12)
// sends the PUBACK after the callback returns, so one session loses nothing on kill -9 (tested by
// BridgeCrash.SingleSessionLosesNothingBecausePahoAcksAfterTheCallback).
// "Twin sessions" (off by default) are for a Paho C that acknowledges *before* the callback: two
// persistent sessions with the same subscriptions; Paho runs every client's callbacks on one receive
// thread, so at most one copy of a message is ever in the acked-but-uncommitted window and its twin is
// redelivered by the broker. The store's idempotent insert drops the second copy.
//
// A sink that throws (disk full, I/O error, the SQLite write lock held elsewhere) is retried until it
// succeeds: the callback never returns, and so never acknowledges, what is not stored (DurableHandoff,
// bridge/durable_handoff.h). Ingest stops meanwhile; store_failing() says so (drives /readyz).
#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bridge/dead_letter_kind.h"
#include "bridge/ingest.h"
#include "bridge/routes.h"

namespace kabar {

class SchemaRegistry;

struct BridgeOptions {
  std::string server_uri = "tcp://127.0.0.1:1883";
  // The other brokers of a cluster, tried in order after server_uri at every (re)connect (Paho's
  // serverURIs): a session whose broker died moves to the next one that answers. Empty: server_uri only.
  std::vector<std::string> failover_uris;
  // 5: MQTT 5 (session expiry, retain handling). 3: MQTT 3.1.1 for brokers without v5 (RabbitMQ 3.10's
  // plugin): clean session false instead of an expiry, and retained copies sent at subscribe are dropped
  // by their RETAIN flag (docs/bridge.md "MQTT 3.1.1").
  int mqtt_version = 5;
  std::string client_id = "kabar";  // twins use client_id + "-a" / "-b"
  std::string username;
  std::string password;
  std::chrono::seconds keepalive{30};
  std::chrono::seconds session_expiry{86400};
  std::chrono::milliseconds min_backoff{250};
  std::chrono::milliseconds max_backoff{10000};
  bool twin_sessions = true;
  std::size_t max_payload_bytes = 256 * 1024;  // larger payloads are dead-lettered
};

struct BridgeStats {
  std::uint64_t received = 0;           // MQTT messages received (both twins)
  std::uint64_t accepted = 0;           // handed to the sink as events
  std::uint64_t twin_duplicates = 0;    // second copies dropped before reaching the sink
  std::uint64_t rejected = 0;           // dead-lettered
  std::array<std::uint64_t, kDeadLetterKinds> rejected_by_kind{};  // the same by reason (dead_letter_kind.h)
  std::uint64_t sink_failures = 0;      // the sink threw (each attempt; the message stays unacknowledged)
  std::uint64_t store_stalls = 0;       // messages whose first attempt failed (episodes of a failing store)
  bool store_failing = false;           // a message is held because the sink keeps failing
  std::uint64_t reconnects = 0;
  std::uint64_t retained_skipped = 0;   // MQTT 3.1.1: retained copies the broker sent at subscribe, dropped
  bool connected = false;               // every session connected and subscribed
};

class MqttBridge {
 public:
  MqttBridge(BridgeOptions options, const RouteTable& routes, const SchemaRegistry& schemas, IngestSink& sink);
  ~MqttBridge();  // stop()
  MqttBridge(const MqttBridge&) = delete;
  MqttBridge& operator=(const MqttBridge&) = delete;

  // Starts connecting in the background (reconnects with backoff forever); returns at once.
  void start();
  // Disconnects cleanly; the broker keeps the persistent session and queues what arrives meanwhile.
  // If a message is still held for a failing store after a short grace, it is left unacknowledged in
  // Paho's receive thread and stop() returns at once with parked() true (see there).
  void stop();
  // True while every session is connected and subscribed (drives /readyz).
  bool ready() const;
  // True while a message is held because the sink keeps failing (drives /readyz and a metric).
  bool store_failing() const;
  // stop() had to leave a message unacknowledged inside Paho's callback. Paho's receive thread holds
  // Paho's global mutex there, so from now on every Paho call of the process (any client's publish,
  // disconnect, destructor) blocks: the owner must end the process without them (Gateway::shutdown).
  // The destructor then leaves the bridge's state allocated on purpose.
  bool parked() const;
  BridgeStats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kabar
