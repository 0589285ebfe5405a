#pragma once
// A run's subscribers spread over `threads` workers, plus the helpers every scenario shares.
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "worker.h"

namespace kabar::bench {

// Resolves the endpoint and makes the id prefix of a run whose events are numbered 0..total-1.
RunContext make_context(const Options& opt, int64_t total_events, int64_t steady_events);
std::string id_tag(const RunContext& ctx);  // the <tag> of "b-<tag>-<n>"

class Swarm {
 public:
  Swarm(const RunContext& ctx, std::size_t expected_deliveries);
  void open(int total);  // spread evenly over the workers
  // Waits (bounded) until every opened connection is subscribed or failed.
  bool wait_settled(int total, double timeout_s);
  void stop();  // joins the threads; results may be read afterwards

  uint64_t ready() const;
  uint64_t failed() const;
  uint64_t dropped() const;
  uint64_t delivered(Phase p) const;
  uint64_t unknown() const;
  std::vector<std::unique_ptr<Worker>>& workers() { return workers_; }

 private:
  uint64_t sum(const std::function<uint64_t(const Worker&)>& f) const;
  std::vector<std::unique_ptr<Worker>> workers_;
};

// Polls `done` every 2 ms until it holds or `timeout_s` passes; returns done().
bool wait_until(const std::function<bool()>& done, double timeout_s);
void sleep_seconds(double s);

// CPU of the server and of the loadgen, and the wall clock, at one instant.
struct Snapshot {
  double server_cpu_s = 0;
  double aux_cpu_s = 0;  // --aux-pid (0 without one)
  double loadgen_cpu_s = 0;
  double machine_busy_s = 0;
  int64_t wall_ns = 0;
};
Snapshot snapshot(int server_pid, int aux_pid = 0);

// Common JSON fields: scenario, kind, label, machine-independent parameters.
nlohmann::json run_header(const Options& opt, const char* scenario);
void print_result(const nlohmann::json& result);  // one line on stdout

}  // namespace kabar::bench
