#include "swarm.h"

#include <boost/asio/ip/address.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "proc_stats.h"

namespace kabar::bench {

RunContext make_context(const Options& opt, int64_t total_events, int64_t steady_events) {
  RunContext ctx;
  ctx.opt = opt;
  ctx.endpoint = {boost::asio::ip::make_address(opt.host), opt.port};
  char tag[32];
  std::snprintf(tag, sizeof tag, "%llx", static_cast<unsigned long long>(realtime_ns() / 1000) & 0xffffffffffULL);
  ctx.id_prefix = std::string("\"b-") + tag + "-";
  ctx.total_events = total_events;
  ctx.steady_events = steady_events;
  return ctx;
}

std::string id_tag(const RunContext& ctx) { return ctx.id_prefix.substr(3, ctx.id_prefix.size() - 4); }

Swarm::Swarm(const RunContext& ctx, std::size_t expected_deliveries) {
  auto threads = std::size_t(ctx.opt.threads);
  for (std::size_t i = 0; i < threads; ++i)
    workers_.push_back(std::make_unique<Worker>(ctx, int(i), expected_deliveries / threads + 1));
  for (auto& w : workers_) w->start();
}

void Swarm::open(int total) {
  int n = int(workers_.size());
  for (int i = 0; i < n; ++i) workers_[std::size_t(i)]->open(total / n + (i < total % n ? 1 : 0));
}

bool Swarm::wait_settled(int total, double timeout_s) {
  return wait_until([&] { return ready() + failed() >= uint64_t(total); }, timeout_s);
}

void Swarm::stop() {
  for (auto& w : workers_) w->stop();
}

uint64_t Swarm::sum(const std::function<uint64_t(const Worker&)>& f) const {
  uint64_t total = 0;
  for (const auto& w : workers_) total += f(*w);
  return total;
}

uint64_t Swarm::ready() const { return sum([](const Worker& w) { return w.ready(); }); }
uint64_t Swarm::failed() const { return sum([](const Worker& w) { return w.failed(); }); }
uint64_t Swarm::dropped() const { return sum([](const Worker& w) { return w.dropped(); }); }
uint64_t Swarm::delivered(Phase p) const {
  return sum([p](const Worker& w) { return w.recorder().delivered(p); });
}
uint64_t Swarm::unknown() const {
  return sum([](const Worker& w) { return w.recorder().unknown(); });
}

bool wait_until(const std::function<bool()>& done, double timeout_s) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(int64_t(timeout_s * 1e6));
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

void sleep_seconds(double s) { std::this_thread::sleep_for(std::chrono::microseconds(int64_t(s * 1e6))); }

Snapshot snapshot(int server_pid, int aux_pid) {
  return {process_cpu_seconds(server_pid), aux_pid ? process_cpu_seconds(aux_pid) : 0.0, self_cpu_seconds(),
          machine_busy_seconds(), realtime_ns()};
}

nlohmann::json run_header(const Options& opt, const char* scenario) {
  return {{"scenario", scenario},       {"kind", kind_name(opt.kind)}, {"label", opt.label}, {"role", opt.role},
          {"publish", via_name(opt.via)},
          {"threads", opt.threads},     {"qos", opt.qos},              {"pad", opt.pad},
          {"cpus", std::thread::hardware_concurrency()}, {"time_unix", realtime_ns() / 1'000'000'000}};
}

void print_result(const nlohmann::json& result) { std::cout << result.dump() << std::endl; }

}  // namespace kabar::bench
