// `kabar-loadgen report`: Markdown tables from the JSON lines of fanout and idle runs, with each kabar
// figure divided by the peer's (kind mqtt-ws) from the same file, i.e. the same run of scripts/bench.sh.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "scenarios.h"

namespace kabar::bench {

namespace {

using nlohmann::json;

std::vector<json> load(const std::vector<std::string>& files) {
  std::vector<json> rows;
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in) throw std::runtime_error("cannot read " + f);
    std::string line;
    while (std::getline(in, line)) {
      if (line.empty() || line[0] != '{') continue;
      rows.push_back(json::parse(line, nullptr, false));
      if (rows.back().is_discarded()) rows.pop_back();
    }
  }
  return rows;
}

std::string num(double v, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  return buf;
}

// 1234567 -> "1,234,567" (built forwards: GCC 12 misreports string::insert here under -Werror=restrict).
std::string with_commas(double v) {
  const std::string digits = num(v < 0 ? -v : v, 0);
  std::string out = v <= -0.5 ? "-" : "";
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

double at(const json& j, const json::json_pointer& p) { return j.contains(p) ? j[p].get<double>() : 0; }

std::string lat(const json& l) {
  return num(l.value("p50_ms", 0.0), 2) + " / " + num(l.value("p99_ms", 0.0), 2) + " / " +
         num(l.value("max_ms", 0.0), 2);
}

bool is_peer(const json& r) { return r.value("kind", "") == "mqtt-ws"; }

void fanout_tables(const std::vector<json>& rows, std::ostream& out) {
  out << "### Fan-out to one channel (scenario a, b)\n\n"
      << "| peer | subscribers | delivered steady / burst | burst deliveries/s | server µs/delivery steady / burst "
         "| loadgen µs/delivery burst | loadgen CPU % burst |\n|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    if (r["scenario"] != "fanout" || !r.contains("steady")) continue;
    const auto &s = r["steady"], &b = r["burst_phase"];
    out << "| " << r["label"].get<std::string>() << " | " << r["ready"] << " | "
        << with_commas(s["delivered"].get<double>()) << "/" << with_commas(s["expected"].get<double>()) << " / "
        << with_commas(b["delivered"].get<double>()) << "/" << with_commas(b["expected"].get<double>()) << " | "
        << with_commas(b["deliveries_per_s"].get<double>()) << " | " << num(s["server_us_per_delivery"], 2) << " / "
        << num(b["server_us_per_delivery"], 2) << " | " << num(b["loadgen_us_per_delivery"], 2) << " | "
        << num(b["loadgen_cpu_pct"], 0) << " |\n";
  }
  out << "\n| peer | steady: all deliveries p50 / p99 / max ms | steady: last of N p50 / p99 / max ms "
         "| burst: last of N p50 / p99 / max ms |\n|---|---|---|---|\n";
  for (const auto& r : rows) {
    if (r["scenario"] != "fanout" || !r.contains("steady")) continue;
    out << "| " << r["label"].get<std::string>() << " | " << lat(r["steady"]["latency"]) << " | "
        << lat(r["steady"]["last_of_n"]) << " | " << lat(r["burst_phase"]["last_of_n"]) << " |\n";
  }
  out << "\n";
}

void idle_table(const std::vector<json>& rows, std::ostream& out) {
  out << "### Idle subscribed connections (scenario c)\n\n"
      << "| peer | connections held | server RSS before → after (MiB) | KiB per connection | connects/s "
         "| verify: received 1 event |\n|---|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    if (r["scenario"] != "idle" || !r.contains("kb_per_conn")) continue;
    std::string verify = r.contains("verify") ? with_commas(at(r, "/verify/delivered"_json_pointer)) + "/" +
                                                    with_commas(at(r, "/verify/expected"_json_pointer))
                                              : "-";
    out << "| " << r["label"].get<std::string>() << " | " << with_commas(r["ready"].get<double>()) << "/"
        << with_commas(r["conns"].get<double>()) << " | " << num(r["rss_before_kb"].get<double>() / 1024, 1)
        << " → " << num(r["rss_after_kb"].get<double>() / 1024, 1) << " | " << num(r["kb_per_conn"], 2) << " | "
        << with_commas(r["connects_per_s"].get<double>()) << " | " << verify << " |\n";
  }
  out << "\n";
}

// A ratio row: metric of every kabar run divided by the peer's run of the same scenario and size.
struct Metric {
  const char* name;
  const char* scenario;
  json::json_pointer value;
  const char* target;
};

std::optional<json> peer_of(const std::vector<json>& rows, const json& r) {
  for (const auto& p : rows)
    if (is_peer(p) && p["scenario"] == r["scenario"] && p.value("subs", 0) == r.value("subs", 0) &&
        p.value("conns", 0) == r.value("conns", 0))
      return p;
  return std::nullopt;
}

void ratio_table(const std::vector<json>& rows, std::ostream& out) {
  const Metric metrics[] = {
      {"server CPU per delivery, burst", "fanout", "/burst_phase/server_us_per_delivery"_json_pointer, "≤ 0.2 (≤ 2 µs)"},
      {"server CPU per delivery, steady", "fanout", "/steady/server_us_per_delivery"_json_pointer, "≤ 0.2"},
      {"burst deliveries/s (higher is better)", "fanout", "/burst_phase/deliveries_per_s"_json_pointer, ""},
      {"p99 publish → last of N, steady", "fanout", "/steady/last_of_n/p99_ms"_json_pointer, "≤ 5 ms absolute"},
      {"p99 publish → any subscriber, steady", "fanout", "/steady/latency/p99_ms"_json_pointer, ""},
      {"server RSS per idle connection", "idle", "/kb_per_conn"_json_pointer, "≤ 0.5 (≤ 3 KiB)"},
  };
  out << "### kabar / peer (same run; below 1 means kabar uses less, except deliveries/s)\n\n"
      << "| metric | run | kabar | peer | kabar / peer | target |\n|---|---|---|---|---|---|\n";
  for (const auto& m : metrics) {
    for (const auto& r : rows) {
      if (is_peer(r) || r["scenario"] != m.scenario || !r.contains(m.value)) continue;
      auto peer = peer_of(rows, r);
      if (!peer || !peer->contains(m.value)) continue;
      double k = r[m.value].get<double>(), p = (*peer)[m.value].get<double>();
      std::string size = r.contains("subs") ? with_commas(r["subs"].get<double>()) + " subs"
                                            : with_commas(r["conns"].get<double>()) + " conns";
      out << "| " << m.name << " | " << r["label"].get<std::string>() << " vs " << (*peer)["label"].get<std::string>()
          << ", " << size << " | " << num(k, 2) << " | " << num(p, 2) << " | " << (p > 0 ? num(k / p, 2) : "-")
          << " | " << m.target << " |\n";
    }
  }
  out << "\n";
}

}  // namespace

int run_report(const Options& opt) {
  auto rows = load(opt.files);
  std::ostringstream out;
  ratio_table(rows, out);
  fanout_tables(rows, out);
  idle_table(rows, out);
  std::cout << out.str();
  return 0;
}

}  // namespace kabar::bench
