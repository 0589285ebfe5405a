// `kabar-loadgen report`: Markdown tables from the JSON lines of fanout and idle runs, with each kabar
// figure divided by the peer's (kind mqtt-ws) from the same file, i.e. the same run of scripts/bench.sh.
#include <algorithm>
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

// A figure for the ratio table: big counts with separators, small ones with two decimals.
std::string fig(double v) { return v >= 1000 ? with_commas(v) : num(v, 2); }

double at(const json& j, const json::json_pointer& p) { return j.contains(p) ? j[p].get<double>() : 0; }

// A fan-out run during which other processes used a noticeable share of the cores (a build, a test
// suite): its latency and throughput say more about that load than about the server.
constexpr double noisy_other_pct = 25;
bool noisy(const json& r) {
  if (r["scenario"] != "fanout" || !r.contains("steady")) return false;
  return r["steady"].value("other_cpu_pct", 0.0) > noisy_other_pct ||
         r["burst_phase"].value("other_cpu_pct", 0.0) > noisy_other_pct;
}
std::string label(const json& r) { return r["label"].get<std::string>() + (noisy(r) ? " ⚠" : ""); }
const char* noisy_note =
    "⚠ marks a run during which other processes (not the server, not the loadgen) used more than 25% of a "
    "core: its latency and deliveries/s are unreliable, CPU per delivery less so.\n\n";

std::string lat(const json& l) {
  return num(l.value("p50_ms", 0.0), 2) + " / " + num(l.value("p99_ms", 0.0), 2) + " / " +
         num(l.value("max_ms", 0.0), 2);
}


void fanout_tables(const std::vector<json>& rows, std::ostream& out) {
  out << "### Fan-out to one channel (scenario a, b)\n\n"
      << "| peer | subscribers | delivered steady / burst | burst deliveries/s | server µs/delivery steady / burst "
         "| loadgen µs/delivery burst | CPU % of a core, burst: server / loadgen / other processes |\n"
         "|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    if (r["scenario"] != "fanout" || !r.contains("steady")) continue;
    const auto &s = r["steady"], &b = r["burst_phase"];
    // "†": the phase's drain timeout passed before every delivery arrived (CPU is divided by what had).
    auto mark = [](const json& p) { return p.value("complete", true) ? "" : " †"; };
    out << "| " << label(r) << " | " << r["ready"] << " | "
        << with_commas(s["delivered"].get<double>()) << "/" << with_commas(s["expected"].get<double>()) << mark(s)
        << " / " << with_commas(b["delivered"].get<double>()) << "/" << with_commas(b["expected"].get<double>())
        << mark(b) << " | "
        << with_commas(b["deliveries_per_s"].get<double>()) << " | " << num(s["server_us_per_delivery"], 2) << " / "
        << num(b["server_us_per_delivery"], 2) << " | " << num(b["loadgen_us_per_delivery"], 2) << " | "
        << num(b["server_cpu_pct"], 0) << " / " << num(b["loadgen_cpu_pct"], 0) << " / "
        << num(b.value("other_cpu_pct", 0.0), 0) << " |\n";
  }
  out << "\n| peer | steady: all deliveries p50 / p99 / max ms | steady: last of N p50 / p99 / max ms "
         "| burst: last of N p50 / p99 / max ms |\n|---|---|---|---|\n";
  for (const auto& r : rows) {
    if (r["scenario"] != "fanout" || !r.contains("steady")) continue;
    out << "| " << label(r) << " | " << lat(r["steady"]["latency"]) << " | " << lat(r["steady"]["last_of_n"])
        << " | " << lat(r["burst_phase"]["last_of_n"]) << " |\n";
  }
  out << "\n";
  if (std::any_of(rows.begin(), rows.end(), noisy)) out << noisy_note;
  auto incomplete = [](const json& r) {
    return r["scenario"] == "fanout" && r.contains("steady") &&
           !(r["steady"].value("complete", true) && r["burst_phase"].value("complete", true));
  };
  if (std::any_of(rows.begin(), rows.end(), incomplete))
    out << "† a phase whose deliveries were not all in when its drain timeout passed; they arrived later, and "
         "its CPU per delivery counts the deliveries made within the window.\n\n";
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
  bool needs_aux = false;  // only for runs measured with --aux-pid (kabar + its embedded broker)
};

bool has_aux(const json& r) {
  return r.contains("steady") && r["steady"].value("aux_cpu_s", 0.0) > 0;
}

// The run of `role` with the same scenario and size as `r` (fan-out runs also match on rate).
std::optional<json> counterpart(const std::vector<json>& rows, const json& r, const char* role) {
  for (const auto& p : rows)
    if (p.value("role", "") == role && p["scenario"] == r["scenario"] && p.value("subs", 0) == r.value("subs", 0) &&
        p.value("conns", 0) == r.value("conns", 0) && p.value("rate", 0.0) == r.value("rate", 0.0))
      return p;
  return std::nullopt;
}

std::string ratio_cells(const std::optional<json>& other, const json::json_pointer& ptr, double k) {
  if (!other || !other->contains(ptr)) return "- | -";
  double v = (*other)[ptr].get<double>();
  return fig(v) + " | " + (v > 0 ? num(k / v, 2) : "-");
}

void ratio_table(const std::vector<json>& rows, std::ostream& out) {
  const Metric metrics[] = {
      {"server CPU µs per delivery, burst", "fanout", "/burst_phase/server_us_per_delivery"_json_pointer,
       "≤ 0.2 (≤ 2 µs)"},
      {"server CPU µs per delivery, steady", "fanout", "/steady/server_us_per_delivery"_json_pointer, "≤ 0.2"},
      {"server + broker CPU µs per delivery, burst", "fanout", "/burst_phase/server_aux_us_per_delivery"_json_pointer,
       "", true},
      {"server + broker CPU µs per delivery, steady", "fanout", "/steady/server_aux_us_per_delivery"_json_pointer,
       "", true},
      {"burst deliveries/s (higher is better)", "fanout", "/burst_phase/deliveries_per_s"_json_pointer, ""},
      {"p99 ms publish → last of N, steady", "fanout", "/steady/last_of_n/p99_ms"_json_pointer, "≤ 5 ms"},
      {"p99 ms publish → any subscriber, steady", "fanout", "/steady/latency/p99_ms"_json_pointer, ""},
      {"p50 ms publish → any subscriber, steady", "fanout", "/steady/latency/p50_ms"_json_pointer, ""},
      {"server KiB per idle connection", "idle", "/kb_per_conn"_json_pointer, "≤ 0.5 (≤ 3 KiB)"},
  };
  // Runs without a baseline server (scripts/bench-pusher.sh) get no baseline columns.
  const bool baseline =
      std::any_of(rows.begin(), rows.end(), [](const json& r) { return r.value("role", "") == "baseline"; });
  out << "### kabar / peer (same run; below 1 means kabar uses less, except deliveries/s)\n\n";
  if (baseline)
    out << "The baseline is `kabar-loadgen baseline-server`: one send() per delivery and nothing else (no store, no queue).\n\n"
        << "| metric | run | kabar | peer | kabar / peer | baseline | kabar / baseline | target |\n"
        << "|---|---|---|---|---|---|---|---|\n";
  else
    out << "| metric | run | kabar | peer | kabar / peer | target |\n|---|---|---|---|---|---|\n";
  for (const auto& m : metrics) {
    for (const auto& r : rows) {
      if (r.value("role", "") != "kabar" || r["scenario"] != m.scenario || !r.contains(m.value)) continue;
      if (m.needs_aux && !has_aux(r)) continue;
      auto peer = counterpart(rows, r, "peer");
      if (!peer) continue;
      double k = r[m.value].get<double>();
      std::string size = r.contains("subs") ? with_commas(r["subs"].get<double>()) + " subs"
                                            : with_commas(r["conns"].get<double>()) + " conns";
      out << "| " << m.name << " | " << label(r) << " vs " << label(*peer)
          << ", " << size << " | " << fig(k) << " | " << ratio_cells(peer, m.value, k) << " | ";
      if (baseline) out << ratio_cells(counterpart(rows, r, "baseline"), m.value, k) << " | ";
      out << m.target << " |\n";
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
