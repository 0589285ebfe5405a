#include "options.h"

#include <functional>
#include <map>
#include <stdexcept>

namespace kabar::bench {

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::kabar_ws: return "ws";
    case Kind::kabar_sse: return "sse";
    case Kind::mqtt_ws: return "mqtt-ws";
    case Kind::pusher: return "pusher";
    case Kind::socketio: return "socketio";
  }
  return "?";
}

const char* via_name(Via via) { return via == Via::mqtt ? "mqtt" : "rest"; }

namespace {

Kind parse_kind(const std::string& v) {
  if (v == "ws") return Kind::kabar_ws;
  if (v == "sse") return Kind::kabar_sse;
  if (v == "mqtt-ws") return Kind::mqtt_ws;
  if (v == "pusher") return Kind::pusher;
  if (v == "socketio") return Kind::socketio;
  throw std::invalid_argument("--kind must be ws, sse, mqtt-ws, pusher or socketio, not '" + v + "'");
}

Via parse_via(const std::string& v) {
  if (v == "mqtt") return Via::mqtt;
  if (v == "rest") return Via::rest;
  throw std::invalid_argument("--publish must be mqtt or rest, not '" + v + "'");
}

int to_int(const std::string& flag, const std::string& v, int lo, int hi) {
  std::size_t used = 0;
  int n = 0;
  try {
    n = std::stoi(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || n < lo || n > hi)
    throw std::invalid_argument(flag + " wants an integer in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "], got '" + v + "'");
  return n;
}

double to_double(const std::string& flag, const std::string& v, double lo, double hi) {
  std::size_t used = 0;
  double d = 0;
  try {
    d = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || !(d >= lo && d <= hi))
    throw std::invalid_argument(flag + " wants a number in [" + std::to_string(lo) + ", " +
                                std::to_string(hi) + "], got '" + v + "'");
  return d;
}

using Setter = std::function<void(Options&, const std::string&)>;

// One entry per flag; the bounds keep a typo from starting an unbounded run.
std::map<std::string, Setter> setters() {
  return {
      {"--kind", [](Options& o, const std::string& v) { o.kind = parse_kind(v); }},
      {"--label", [](Options& o, const std::string& v) { o.label = v; }},
      {"--role",
       [](Options& o, const std::string& v) {
         if (v != "kabar" && v != "peer" && v != "baseline") throw std::invalid_argument("--role: kabar, peer or baseline");
         o.role = v;
       }},
      {"--host", [](Options& o, const std::string& v) { o.host = v; }},
      {"--port", [](Options& o, const std::string& v) { o.port = uint16_t(to_int("--port", v, 1, 65535)); }},
      {"--mqtt-port",
       [](Options& o, const std::string& v) { o.mqtt_port = uint16_t(to_int("--mqtt-port", v, 1, 65535)); }},
      {"--server-pid", [](Options& o, const std::string& v) { o.server_pid = to_int("--server-pid", v, 1, 1 << 30); }},
      {"--aux-pid", [](Options& o, const std::string& v) { o.aux_pid = to_int("--aux-pid", v, 1, 1 << 30); }},
      {"--publish", [](Options& o, const std::string& v) { o.via = parse_via(v); }},
      {"--app-id", [](Options& o, const std::string& v) { o.app_id = v; }},
      {"--app-key", [](Options& o, const std::string& v) { o.app_key = v; }},
      {"--app-secret", [](Options& o, const std::string& v) { o.app_secret = v; }},
      {"--publish-conns",
       [](Options& o, const std::string& v) { o.publish_conns = to_int("--publish-conns", v, 1, 256); }},
      {"--threads", [](Options& o, const std::string& v) { o.threads = to_int("--threads", v, 1, 64); }},
      {"--subs", [](Options& o, const std::string& v) { o.subs = to_int("--subs", v, 1, 200000); }},
      {"--conns", [](Options& o, const std::string& v) { o.conns = to_int("--conns", v, 1, 1000000); }},
      {"--connect-window",
       [](Options& o, const std::string& v) { o.connect_window = to_int("--connect-window", v, 1, 10000); }},
      {"--rate", [](Options& o, const std::string& v) { o.rate = to_double("--rate", v, 0.1, 100000); }},
      {"--duration", [](Options& o, const std::string& v) { o.duration_s = to_double("--duration", v, 0, 600); }},
      {"--burst", [](Options& o, const std::string& v) { o.burst = to_int("--burst", v, 0, 1000000); }},
      {"--pad", [](Options& o, const std::string& v) { o.pad = to_int("--pad", v, 0, 60000); }},
      {"--qos", [](Options& o, const std::string& v) { o.qos = to_int("--qos", v, 0, 1); }},
      {"--channel", [](Options& o, const std::string& v) { o.channel = v; }},
      {"--topic", [](Options& o, const std::string& v) { o.topic = v; }},
      {"--timeout", [](Options& o, const std::string& v) { o.timeout_s = to_double("--timeout", v, 0.1, 600); }},
      {"--drain", [](Options& o, const std::string& v) { o.drain_s = to_double("--drain", v, 0.1, 600); }},
      {"--settle", [](Options& o, const std::string& v) { o.settle_s = to_double("--settle", v, 0, 600); }},
      {"--verify", [](Options& o, const std::string& v) { o.verify = to_int("--verify", v, 0, 1) == 1; }},
  };
}

void check(const Options& o) {
  if (o.command == "report") {
    if (o.files.empty()) throw std::invalid_argument("report wants at least one JSON-lines file");
    return;
  }
  if (o.command != "fanout" && o.command != "idle" && o.command != "baseline-server")
    throw std::invalid_argument("unknown command '" + o.command + "'");
  if (o.port == 0) throw std::invalid_argument("--port is required");
  if (o.command == "baseline-server") return;
  if (o.server_pid == 0) throw std::invalid_argument("--server-pid is required");
  if (o.label.empty()) throw std::invalid_argument("--label is required");
  const bool has_rest = o.kind == Kind::pusher || o.kind == Kind::socketio;
  if (o.via == Via::rest && !has_rest) throw std::invalid_argument("--publish rest needs --kind pusher or socketio");
}

void default_role(Options& o) {
  if (o.role.empty()) o.role = o.kind == Kind::mqtt_ws || o.kind == Kind::socketio ? "peer" : "kabar";
}

}  // namespace

Options parse_options(int argc, char** argv) {
  if (argc < 2) throw std::invalid_argument("missing command");
  Options o;
  o.command = argv[1];
  if (o.command == "--help" || o.command == "-h") return o;
  const auto table = setters();
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    if (o.command == "report") {
      o.files.push_back(arg);
      continue;
    }
    std::string value;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg.resize(eq);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw std::invalid_argument(arg + " wants a value");
    }
    auto it = table.find(arg);
    if (it == table.end()) throw std::invalid_argument("unknown flag " + arg);
    it->second(o, value);
  }
  check(o);
  default_role(o);
  return o;
}

std::string usage() {
  return R"(kabar-loadgen: load generator for kabar and its peers (docs/benchmarks.md)

  kabar-loadgen fanout --kind ws|sse|mqtt-ws|pusher|socketio --label NAME --port P --server-pid PID [flags]
      SUBS subscribers of one channel; a steady phase (RATE events/s for DURATION s) then a burst of
      BURST events. Reports deliveries/s, server and loadgen CPU per delivery, latency p50/p99/max
      over all deliveries and for the last of the subscribers per event.
  kabar-loadgen idle --kind KIND --label NAME --port P --server-pid PID [--conns N]
      Opens N subscribed connections and reports the server's RSS growth per connection.
  kabar-loadgen baseline-server --port P [--mqtt-port M] [--topic T] [--timeout SECONDS]
      A yardstick server: subscribes to the topic and send()s each message once to every connected
      client (SSE-style). Drive it with `fanout --kind sse`; its CPU per delivery is the price of the one-send-per-delivery design here.
  kabar-loadgen report FILE.jsonl...
      Markdown tables (with kabar/peer ratios) from the JSON lines the other commands print.

  Flags: --role kabar|peer|baseline (how `report` pairs runs; default peer for mqtt-ws and socketio,
         else kabar)
         --host 127.0.0.1  --mqtt-port 1883 (publisher)  --threads 2  --subs 1000  --conns 10000
         --rate 200  --duration 10  --burst 500  --pad 128  --qos 1  --channel dokumen.1
         --topic dokumen/1/updated  --connect-window 256  --timeout 60  --drain 20  --settle 2
         --verify 1  --aux-pid PID (a second process whose CPU is reported too, e.g. kabar's broker)
         --publish mqtt|rest  --app-id local  --app-key local-key  --app-secret local-secret
         --publish-conns 4
  --kind ws: kabar /ws; sse: kabar /sse; mqtt-ws: MQTT 3.1.1 over WebSocket (subprotocol mqtt);
         pusher: Pusher protocol 7 on /app/KEY (public channel --channel);
         socketio: Socket.IO 2 / engine.io 3 over WebSocket, laravel-echo-server's `subscribe`.
  --publish mqtt: Paho to --mqtt-port, topic --topic; rest: one HTTP POST /apps/APP_ID/events per
         event on --port (pusher: signed as the Pusher SDKs sign; socketio: ?auth_key=APP_KEY).
  One JSON line per run goes to stdout, a readable summary to stderr.
)";
}

}  // namespace kabar::bench
