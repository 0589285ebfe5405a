#pragma once
// Command-line options of kabar-loadgen. Every scenario is bounded: counts come from flags and every
// wait has a timeout (timeout_s / drain_s), so a broken server makes a run fail, never hang.
#include <cstdint>
#include <string>
#include <vector>

namespace kabar::bench {

enum class Kind { kabar_ws, kabar_sse, mqtt_ws, pusher, socketio };

// How events reach the server: MQTT to the broker (Paho), or the server's HTTP publish API (kabar's
// signed Pusher REST API for --kind pusher, laravel-echo-server's /apps/{id}/events for --kind socketio).
enum class Via { mqtt, rest };

struct Options {
  std::string command;  // fanout | idle | report
  Kind kind = Kind::kabar_ws;
  std::string label;    // free text naming the peer in the results, e.g. "kabar WS"
  std::string role;     // kabar | peer | baseline (report: ratios); default: peer for mqtt-ws, else kabar
  std::string host = "127.0.0.1";
  uint16_t port = 0;        // kabar HTTP port (ws, sse) or mosquitto WebSocket port (mqtt-ws)
  uint16_t mqtt_port = 1883;  // plain MQTT listener the publisher uses
  int server_pid = 0;       // process whose CPU and RSS are measured
  int aux_pid = 0;          // optional second process whose CPU is reported beside (kabar's embedded broker)
  int threads = 2;          // io_context threads of the subscribers
  int subs = 1000;          // fanout: subscribers of the channel
  int conns = 10000;        // idle: connections to hold
  int connect_window = 256; // connections being set up at once, per thread
  double rate = 200;        // fanout steady phase: events per second
  double duration_s = 10;   // fanout steady phase length
  int burst = 500;          // fanout burst: events published back to back
  int pad = 128;            // bytes of padding in each event's data
  int qos = 1;              // publish QoS (the same for every peer)
  std::string channel = "dokumen.1";
  std::string topic = "dokumen/1/updated";
  Via via = Via::mqtt;
  std::string app_id = "local";             // Pusher / laravel-echo-server app (REST path, signature)
  std::string app_key = "local-key";        // /app/{key} and REST auth_key
  std::string app_secret = "local-secret";  // signs REST requests (Pusher)
  int publish_conns = 4;                    // keep-alive HTTP connections of the REST publisher
  double timeout_s = 60;    // bound on connection setup
  double drain_s = 20;      // bound on waiting for the deliveries of a phase
  double settle_s = 2;      // idle: pause between connecting and reading RSS
  bool verify = true;       // idle: publish one event afterwards and count who receives it
  std::vector<std::string> files;  // report: JSON-lines files to summarize
};

const char* kind_name(Kind kind);
const char* via_name(Via via);

// Throws std::invalid_argument naming the offending flag.
Options parse_options(int argc, char** argv);

std::string usage();

}  // namespace kabar::bench
