#include "stats.h"

#include <algorithm>
#include <cmath>

namespace kabar::bench {

namespace {

std::optional<int64_t> parse_int(std::string_view text, std::size_t pos) {
  if (pos >= text.size() || text[pos] < '0' || text[pos] > '9') return std::nullopt;
  int64_t n = 0;
  for (; pos < text.size() && text[pos] >= '0' && text[pos] <= '9'; ++pos) n = n * 10 + (text[pos] - '0');
  return n;
}

}  // namespace

std::optional<Scanned> scan_event(std::string_view text, std::string_view id_prefix) {
  auto id = text.find(id_prefix);
  if (id == std::string_view::npos) return std::nullopt;
  auto index = parse_int(text, id + id_prefix.size());
  // "t_ns":123 in a JSON object, \"t_ns\":123 inside a JSON-encoded string (Pusher's `data`).
  constexpr std::string_view t_key_escaped = "t_ns\\\"";
  constexpr std::string_view t_key_plain = "t_ns\"";
  auto t = text.find(t_key_plain, id);
  std::size_t key_len = t_key_plain.size();
  if (t == std::string_view::npos) {
    t = text.find(t_key_escaped, id);
    key_len = t_key_escaped.size();
  }
  if (!index || t == std::string_view::npos) return std::nullopt;
  auto value = text.find_first_not_of(" \t:", t + key_len);  // tolerate "t_ns" : 123
  auto sent = value == std::string_view::npos ? std::nullopt : parse_int(text, value);
  if (!sent) return std::nullopt;
  return Scanned{*index, *sent};
}

bool has_type(std::string_view frame, std::string_view type) {
  constexpr std::string_view key = "\"type\"";
  for (auto k = frame.find(key); k != std::string_view::npos; k = frame.find(key, k + 1)) {
    auto v = frame.find_first_not_of(" \t:", k + key.size());
    if (v != std::string_view::npos && frame.substr(v).starts_with('"') &&
        frame.substr(v + 1).starts_with(type) && frame.substr(v + 1 + type.size()).starts_with('"'))
      return true;
  }
  return false;
}

Recorder::Recorder(int64_t total_events, int64_t steady_events, std::size_t expected_deliveries)
    : steady_events_(steady_events),
      last_receive_ns_(std::size_t(total_events), 0),
      receivers_(std::size_t(total_events), 0) {
  // Reserved up front so the hot path never reallocates mid-burst.
  double steady_share = total_events > 0 ? double(steady_events) / double(total_events) : 1.0;
  latencies_[steady].reserve(std::size_t(double(expected_deliveries) * steady_share) + 16);
  latencies_[burst].reserve(std::size_t(double(expected_deliveries) * (1 - steady_share)) + 16);
}

bool Recorder::record(const Scanned& event, int64_t now_ns) {
  if (event.index < 0 || std::size_t(event.index) >= receivers_.size()) {
    count_unknown();
    return false;
  }
  auto i = std::size_t(event.index);
  Phase phase = event.index < steady_events_ ? steady : burst;
  latencies_[phase].push_back(now_ns - event.sent_ns);
  last_receive_ns_[i] = std::max(last_receive_ns_[i], now_ns);
  ++receivers_[i];
  delivered_[phase].fetch_add(1, std::memory_order_relaxed);
  return true;
}

Percentiles percentiles(std::vector<int64_t>& ns) {
  Percentiles p;
  p.count = ns.size();
  if (ns.empty()) return p;
  std::sort(ns.begin(), ns.end());
  auto at = [&](double q) {
    auto rank = std::size_t(std::ceil(q * double(ns.size())));
    return double(ns[std::clamp<std::size_t>(rank, 1, ns.size()) - 1]) / 1e6;
  };
  p.p50_ms = at(0.50);
  p.p99_ms = at(0.99);
  p.max_ms = double(ns.back()) / 1e6;
  return p;
}

}  // namespace kabar::bench
