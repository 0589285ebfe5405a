#pragma once
// The operators' door (docs/operations.md): /healthz and /readyz for probes and load balancers, /metrics
// for Prometheus, /api/dead-letters for whoever may read the rejected MQTT messages. None of it is for
// browsers: no CORS, GET and HEAD only.
//
// It gets what it reports, not the server: readiness and the metrics text are the Gateway's to compute.
// Only the dead letters need the ServerContext (the store, the replay threads and the one policy).
#include <atomic>
#include <functional>
#include <string>

namespace kabar {

class Router;
struct ServerContext;

struct Readiness {
  bool store = false;
  bool broker = false;
};

struct OpsDoor {
  std::function<Readiness()> readiness;       // what /readyz reports; any I/O thread calls it
  const std::atomic<bool>* shutting_down;     // /readyz answers 503 once a shutdown began
  std::function<std::string()> metrics_text;  // the body of /metrics; any I/O thread calls it
  ServerContext* dead_letters;                // store, replay threads and policy of /api/dead-letters
};

void open_ops_door(Router& router, OpsDoor door);

}  // namespace kabar
