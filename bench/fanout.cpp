// Scenario a) + b): SUBS subscribers of one channel, a paced steady phase then a burst.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <thread>

#include "proc_stats.h"
#include "publisher.h"
#include "scenarios.h"
#include "swarm.h"

namespace kabar::bench {

namespace {

struct PhaseWindow {
  Phase phase;
  int64_t first_event, events;  // events [first_event, first_event + events)
  Snapshot begin, end;
  bool complete = false;
  uint64_t delivered_in_window = 0;  // by the end of the phase's CPU window (later ones still count as delivered)
};

// Publishes the steady phase at `rate`, each publish at its scheduled instant (no catch-up bursts
// beyond what a late wake-up causes).
void publish_paced(Publisher& pub, const PhaseWindow& w, double rate) {
  auto start = std::chrono::steady_clock::now();
  auto period = std::chrono::duration<double>(1.0 / rate);
  for (int64_t i = 0; i < w.events; ++i) {
    std::this_thread::sleep_until(start + std::chrono::duration_cast<std::chrono::nanoseconds>(period * double(i)));
    pub.publish(w.first_event + i);
  }
}

void publish_burst(Publisher& pub, const PhaseWindow& w) {
  for (int64_t i = 0; i < w.events; ++i) pub.publish(w.first_event + i);
}

void run_phase(PhaseWindow& w, Swarm& swarm, Publisher& pub, const Options& opt) {
  const uint64_t expected = uint64_t(w.events) * swarm.ready();
  w.begin = snapshot(opt.server_pid, opt.aux_pid);
  if (w.phase == steady) publish_paced(pub, w, opt.rate);
  else publish_burst(pub, w);
  w.complete = wait_until([&] { return swarm.delivered(w.phase) >= expected; }, opt.drain_s);
  w.end = snapshot(opt.server_pid, opt.aux_pid);
  w.delivered_in_window = swarm.delivered(w.phase);
}

// Per event: the latest receive time and receiver count summed over the workers.
struct LastOfN {
  std::vector<int64_t> latencies;  // events every subscriber received
  int64_t incomplete = 0;          // events some subscriber missed
  int64_t last_receive_ns = 0;     // latest delivery of the phase
};

LastOfN last_of_n(Swarm& swarm, const Publisher& pub, const PhaseWindow& w, uint64_t subscribers) {
  LastOfN out;
  for (int64_t e = w.first_event; e < w.first_event + w.events; ++e) {
    int64_t last = 0;
    uint64_t receivers = 0;
    for (auto& worker : swarm.workers()) {
      last = std::max(last, worker->recorder().last_receive_ns()[std::size_t(e)]);
      receivers += worker->recorder().receivers()[std::size_t(e)];
    }
    out.last_receive_ns = std::max(out.last_receive_ns, last);
    if (receivers >= subscribers) out.latencies.push_back(last - pub.sent_ns(e));
    else ++out.incomplete;
  }
  return out;
}

nlohmann::json latency_json(std::vector<int64_t>& ns) {
  auto p = percentiles(ns);
  return {{"count", p.count}, {"p50_ms", p.p50_ms}, {"p99_ms", p.p99_ms}, {"max_ms", p.max_ms}};
}

double per_delivery_us(double cpu_s, uint64_t deliveries) { return deliveries ? cpu_s * 1e6 / double(deliveries) : 0; }

nlohmann::json phase_json(PhaseWindow& w, Swarm& swarm, const Publisher& pub) {
  const uint64_t subscribers = swarm.ready();
  const uint64_t delivered = swarm.delivered(w.phase);
  std::vector<int64_t> all;
  for (auto& worker : swarm.workers()) {
    auto& v = worker->recorder().latencies(w.phase);
    all.insert(all.end(), v.begin(), v.end());
  }
  auto last = last_of_n(swarm, pub, w, subscribers);
  const double wall_s = double(w.end.wall_ns - w.begin.wall_ns) / 1e9;
  // Delivery rate over the span from the first publish to the last delivery (the drain wait excluded).
  const double span_s = w.events ? double(last.last_receive_ns - pub.sent_ns(w.first_event)) / 1e9 : 0;
  const double server_cpu = w.end.server_cpu_s - w.begin.server_cpu_s;
  const double loadgen_cpu = w.end.loadgen_cpu_s - w.begin.loadgen_cpu_s;
  const double aux_cpu = w.end.aux_cpu_s - w.begin.aux_cpu_s;  // 0 without --aux-pid
  // Everything else that ran meanwhile (the broker feeding kabar unless it is the aux process, and any
  // unrelated load: a noisy run).
  const double other_cpu = (w.end.machine_busy_s - w.begin.machine_busy_s) - server_cpu - aux_cpu - loadgen_cpu;
  return {{"events", w.events},
          {"expected", uint64_t(w.events) * subscribers},
          {"delivered", delivered},
          {"complete", w.complete},  // false: the drain timeout ended the phase's window first
          {"delivered_in_window", w.delivered_in_window},
          {"wall_s", wall_s},
          {"span_s", span_s},
          {"deliveries_per_s", span_s > 0 ? double(delivered) / span_s : 0},
          {"server_cpu_s", server_cpu},
          {"server_us_per_delivery", per_delivery_us(server_cpu, w.delivered_in_window)},
          {"server_cpu_pct", wall_s > 0 ? 100 * server_cpu / wall_s : 0},
          {"aux_cpu_s", aux_cpu},
          // The server with its helper process (kabar + its embedded broker); the server alone without one.
          {"server_aux_us_per_delivery", per_delivery_us(server_cpu + aux_cpu, w.delivered_in_window)},
          {"loadgen_cpu_s", loadgen_cpu},
          {"loadgen_us_per_delivery", per_delivery_us(loadgen_cpu, w.delivered_in_window)},
          {"loadgen_cpu_pct", wall_s > 0 ? 100 * loadgen_cpu / wall_s : 0},
          {"other_cpu_pct", wall_s > 0 ? std::max(0.0, 100 * other_cpu / wall_s) : 0},
          {"latency", latency_json(all)},
          {"last_of_n", latency_json(last.latencies)},
          {"events_incomplete", last.incomplete}};
}

void print_phase(const char* name, const nlohmann::json& p) {
  std::fprintf(stderr,
               "  %-6s %7lu/%-7lu delivered  %9.0f deliveries/s  server %.2f us/delivery (%.0f%% CPU)  "
               "loadgen %.2f us/delivery (%.0f%% CPU)  other processes %.0f%% CPU\n"
               "         latency p50 %.2f  p99 %.2f  max %.2f ms;  last of N p50 %.2f  p99 %.2f  max %.2f ms\n",
               name, p["delivered"].get<unsigned long>(), p["expected"].get<unsigned long>(),
               p["deliveries_per_s"].get<double>(), p["server_us_per_delivery"].get<double>(),
               p["server_cpu_pct"].get<double>(), p["loadgen_us_per_delivery"].get<double>(),
               p["loadgen_cpu_pct"].get<double>(), p["other_cpu_pct"].get<double>(), p["latency"]["p50_ms"].get<double>(),
               p["latency"]["p99_ms"].get<double>(), p["latency"]["max_ms"].get<double>(),
               p["last_of_n"]["p50_ms"].get<double>(), p["last_of_n"]["p99_ms"].get<double>(),
               p["last_of_n"]["max_ms"].get<double>());
}

}  // namespace

int run_fanout(const Options& opt) {
  const int64_t steady_events = std::llround(opt.rate * opt.duration_s);
  const int64_t total = steady_events + opt.burst;
  auto ctx = make_context(opt, total, steady_events);
  Swarm swarm(ctx, std::size_t(total) * std::size_t(opt.subs));
  swarm.open(opt.subs);
  bool settled = swarm.wait_settled(opt.subs, opt.timeout_s);
  auto result = run_header(opt, "fanout");
  result["subs"] = opt.subs;
  result["ready"] = swarm.ready();
  std::fprintf(stderr, "%s: %lu/%d subscribed\n", opt.label.c_str(), (unsigned long)swarm.ready(), opt.subs);
  if (!settled || swarm.ready() < uint64_t(opt.subs)) {
    result["error"] = "not every subscriber could subscribe";
    print_result(result);
    return 2;
  }
  sleep_seconds(0.5);  // let the last subscriptions reach the hub before the first publish

  auto publisher = make_publisher(opt, id_tag(ctx), total);
  auto& pub = *publisher;
  pub.connect(opt.timeout_s);
  PhaseWindow windows[2] = {{steady, 0, steady_events, {}, {}}, {burst, steady_events, opt.burst, {}, {}}};
  for (auto& w : windows) {
    if (w.events > 0) run_phase(w, swarm, pub, opt);
    else w.complete = true;  // --burst 0: a steady-only run (STEADY_PAIRS) has nothing to wait for
  }
  bool acked = pub.wait_acked(5);
  pub.disconnect();
  swarm.stop();

  result["rate"] = opt.rate;
  result["duration_s"] = opt.duration_s;
  result["burst"] = opt.burst;
  result["dropped"] = swarm.dropped();
  result["unknown_frames"] = swarm.unknown();
  result["publisher_acked"] = acked;
  result["steady"] = phase_json(windows[0], swarm, pub);
  result["burst_phase"] = phase_json(windows[1], swarm, pub);
  print_result(result);
  print_phase("steady", result["steady"]);
  print_phase("burst", result["burst_phase"]);
  bool ok = windows[0].complete && windows[1].complete && swarm.dropped() == 0;
  return ok ? 0 : 3;
}

}  // namespace kabar::bench
