// Scenario c): N subscribed, idle connections; the server's RSS growth per connection.
#include <cstdio>

#include "proc_stats.h"
#include "publisher.h"
#include "scenarios.h"
#include "swarm.h"

namespace kabar::bench {

namespace {

// The loadgen needs one descriptor per connection plus a few for itself and Paho.
bool enough_descriptors(const Options& opt) {
  long limit = raise_nofile_limit();
  if (limit >= opt.conns + 64) return true;
  std::fprintf(stderr, "loadgen: RLIMIT_NOFILE is %ld, too low for %d connections\n", limit, opt.conns);
  return false;
}

// Publishes one event and counts how many of the held connections receive it: proof they were live
// subscriptions, not just open sockets.
nlohmann::json verify(const Options& opt, const RunContext& ctx, Swarm& swarm) {
  auto pub = make_publisher(opt, id_tag(ctx), 1);
  pub->connect(opt.timeout_s);
  pub->publish(0);
  uint64_t live = swarm.ready() - swarm.dropped();
  bool all = wait_until([&] { return swarm.delivered(steady) >= live; }, opt.drain_s);
  pub->disconnect();
  return {{"expected", live}, {"delivered", swarm.delivered(steady)}, {"complete", all}};
}

}  // namespace

int run_idle(const Options& opt) {
  auto result = run_header(opt, "idle");
  result["conns"] = opt.conns;
  if (!enough_descriptors(opt)) {
    result["error"] = "RLIMIT_NOFILE too low";
    print_result(result);
    return 2;
  }
  auto ctx = make_context(opt, 1, 1);
  Swarm swarm(ctx, std::size_t(opt.conns));
  const long rss_before = process_rss_kb(opt.server_pid);
  const auto begin = snapshot(opt.server_pid);
  swarm.open(opt.conns);
  swarm.wait_settled(opt.conns, opt.timeout_s);
  const auto connected = snapshot(opt.server_pid);
  sleep_seconds(opt.settle_s);  // let the server finish per-connection work before reading RSS
  const long rss_after = process_rss_kb(opt.server_pid);
  const uint64_t ready = swarm.ready();

  const double connect_s = double(connected.wall_ns - begin.wall_ns) / 1e9;
  result["ready"] = ready;
  result["failed"] = swarm.failed();
  result["connect_s"] = connect_s;
  result["connects_per_s"] = connect_s > 0 ? double(ready) / connect_s : 0;
  result["server_cpu_connect_s"] = connected.server_cpu_s - begin.server_cpu_s;
  result["rss_before_kb"] = rss_before;
  result["rss_after_kb"] = rss_after;
  result["kb_per_conn"] = ready ? double(rss_after - rss_before) / double(ready) : 0;
  if (opt.verify && ready > 0) result["verify"] = verify(opt, ctx, swarm);
  result["dropped"] = swarm.dropped();
  swarm.stop();
  print_result(result);
  std::fprintf(stderr, "%s: %lu/%d connections in %.1f s; server RSS %ld -> %ld KiB = %.2f KiB/connection\n",
               opt.label.c_str(), (unsigned long)ready, opt.conns, connect_s, rss_before, rss_after,
               result["kb_per_conn"].get<double>());
  bool ok = ready == uint64_t(opt.conns) && swarm.dropped() == 0 &&
            (!result.contains("verify") || result["verify"]["complete"].get<bool>());
  return ok ? 0 : 3;
}

}  // namespace kabar::bench
