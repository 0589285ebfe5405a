#include "bridge/routes.h"

#include <algorithm>
#include <functional>
#include <set>
#include <utility>

#include "bridge/route_pattern.h"
#include "core/channel.h"

namespace kabar {
namespace {

constexpr std::size_t kMaxEventName = 200;
constexpr std::size_t kMaxChannelName = 164;

// Splits at the first '/', returning the level and advancing `rest` past it.
std::string_view next_level(std::string_view& rest, bool& more) {
  const auto slash = rest.find('/');
  std::string_view level = rest.substr(0, slash);
  more = slash != std::string_view::npos;
  rest = more ? rest.substr(slash + 1) : std::string_view();
  return level;
}

bool is_placeholder(std::string_view level) {
  return level.size() >= 2 && level.front() == '{' && level.back() == '}';
}

std::string_view placeholder_name(std::string_view level) { return level.substr(1, level.size() - 2); }

bool is_placeholder_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

using Bindings = std::vector<std::pair<std::string_view, std::string_view>>;

// Matches topic levels against pattern levels; placeholders bind whole, non-empty levels.
bool bind_levels(std::string_view pattern, std::string_view topic, Bindings& bindings) {
  bool pattern_more = true;
  bool topic_more = true;
  while (pattern_more && topic_more) {
    const std::string_view p = next_level(pattern, pattern_more);
    const std::string_view t = next_level(topic, topic_more);
    if (is_placeholder(p)) {
      if (t.empty()) return false;  // '+' would match an empty level, but "dokumen." names nothing
      bindings.emplace_back(placeholder_name(p), t);
    } else if (p != t) {
      return false;
    }
  }
  return pattern_more == topic_more;
}

std::string_view lookup(const Bindings& bindings, std::string_view name) {
  for (const auto& [key, value] : bindings) {
    if (key == name) return value;
  }
  return {};
}

// Matches a channel template ("private-cabang.{id}.admin") against a channel name, trying every way the
// placeholders can split it (a template such as "{a}.{b}" is ambiguous for "x.y.z") until `accept` takes
// a binding. A placeholder binds a non-empty part; one used twice must bind the same text both times.
bool bind_template(std::string_view tpl, std::string_view channel, Bindings& bindings,
                   const std::function<bool(const Bindings&)>& accept) {
  if (tpl.empty()) return channel.empty() && accept(bindings);
  if (tpl.front() != '{') {
    if (channel.empty() || channel.front() != tpl.front()) return false;
    return bind_template(tpl.substr(1), channel.substr(1), bindings, accept);
  }
  const auto close = tpl.find('}');
  const std::string_view name = tpl.substr(1, close - 1);
  const std::string_view rest = tpl.substr(close + 1);
  for (const auto& [key, value] : bindings) {
    if (key != name) continue;
    return channel.starts_with(value) && bind_template(rest, channel.substr(value.size()), bindings, accept);
  }
  for (std::size_t length = 1; length <= channel.size(); ++length) {
    bindings.emplace_back(name, channel.substr(0, length));
    if (bind_template(rest, channel.substr(length), bindings, accept)) return true;
    bindings.pop_back();
  }
  return false;
}

std::size_t literal_characters(std::string_view tpl) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < tpl.size(); ++i) {
    if (tpl[i] == '{') {
      i = tpl.find('}', i);
    } else {
      ++count;
    }
  }
  return count;
}

// A topic pattern with each placeholder level replaced by `value(name)`; an empty value leaves the
// level unfilled: nullopt.
template <class Value>
std::optional<std::string> fill_levels(std::string_view pattern, Value value) {
  std::string topic;
  bool more = true;
  while (more) {
    const std::string_view level = next_level(pattern, more);
    if (is_placeholder(level)) {
      const std::string_view filled = value(placeholder_name(level));
      if (filled.empty()) return std::nullopt;
      topic += filled;
    } else {
      topic += level;
    }
    if (more) topic += '/';
  }
  return topic;
}

// The route's topic pattern with its placeholders filled in; nullopt when one has no value.
std::optional<std::string> fill_topic(const Route& route, const Bindings& bindings) {
  return fill_levels(route.topic, [&](std::string_view name) { return lookup(bindings, name); });
}

class RouteChecker {
 public:
  RouteChecker(const Route& route, std::size_t index) : route_(route), index_(index) {}

  void check() {
    check_pattern();
    check_channel_template();
    if (route_.event.size() > kMaxEventName) fail("event name is longer than 200 characters");
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw RouteError("route " + std::to_string(index_ + 1) + " (\"" + route_.topic + "\" -> \"" +
                     route_.channel + "\"): " + problem);
  }

  void check_pattern() {
    if (route_.topic.empty()) fail("the topic pattern is empty");
    if (route_.topic.find_first_of("+#") != std::string::npos)
      fail("'+' and '#' are not allowed in a topic pattern; use a whole-level {placeholder}");
    if (route_.topic.find('\0') != std::string::npos) fail("the topic pattern contains a NUL character");
    std::string_view rest = route_.topic;
    bool more = true;
    while (more) check_level(next_level(rest, more));
  }

  void check_level(std::string_view level) {
    if (level.find_first_of("{}") == std::string_view::npos) return;
    if (!is_placeholder(level))
      fail("placeholder must be a whole topic level, got '" + std::string(level) + "'");
    const std::string name(placeholder_name(level));
    if (!is_placeholder_name(name)) fail("bad placeholder name '{" + name + "}' (use letters, digits, '_')");
    if (!placeholders_.insert(name).second) fail("placeholder {" + name + "} appears twice in the pattern");
  }

  void check_channel_template() {
    const std::string& tpl = route_.channel;
    if (tpl.empty()) fail("the channel template is empty");
    std::size_t literal_chars = 0;
    for (std::size_t i = 0; i < tpl.size(); ++i) {
      if (tpl[i] == '{') {
        i = check_template_placeholder(i);
        ++literal_chars;  // a placeholder fills at least one character
      } else if (tpl[i] == '}') {
        fail("unbalanced '}' in the channel template");
      } else if (!is_valid_channel_name(std::string_view(&tpl[i], 1))) {
        fail(std::string("the channel template contains '") + tpl[i] + "', which channel names do not allow");
      } else {
        ++literal_chars;
      }
    }
    if (literal_chars > kMaxChannelName)
      fail("the channel template is longer than a channel name may be (164)");
  }

  // Returns the index of the closing '}'.
  std::size_t check_template_placeholder(std::size_t open) {
    const auto close = route_.channel.find('}', open);
    if (close == std::string::npos) fail("unbalanced '{' in the channel template");
    const std::string name = route_.channel.substr(open + 1, close - open - 1);
    if (!placeholders_.count(name))
      fail("the channel template uses {" + name + "}, which the topic pattern does not define");
    return close;
  }

  const Route& route_;
  std::size_t index_;
  std::set<std::string> placeholders_;
};

}  // namespace

std::optional<std::string> fill_channel(const Route& route, std::string_view topic) {
  Bindings bindings;
  if (!bind_levels(route.topic, topic, bindings)) return std::nullopt;
  std::string channel;
  channel.reserve(route.channel.size() + topic.size());
  const std::string_view tpl = route.channel;
  for (std::size_t i = 0; i < tpl.size(); ++i) {
    if (tpl[i] != '{') {
      channel += tpl[i];
      continue;
    }
    const auto close = tpl.find('}', i);
    channel += lookup(bindings, tpl.substr(i + 1, close - i - 1));
    i = close;
  }
  return channel;
}

std::string subscription_filter(const Route& route) {
  return *fill_levels(route.topic, [](std::string_view) { return std::string_view("+"); });
}

RouteTable::RouteTable(std::vector<Route> routes) : routes_(std::move(routes)) {
  std::vector<std::string> filters;
  for (std::size_t i = 0; i < routes_.size(); ++i) {
    RouteChecker(routes_[i], i).check();
    const std::string filter = subscription_filter(routes_[i]);
    const auto same = std::find(filters.begin(), filters.end(), filter);
    if (same != filters.end()) {
      const auto& first = routes_[static_cast<std::size_t>(same - filters.begin())];
      throw RouteError("route " + std::to_string(i + 1) + " (\"" + routes_[i].topic +
                       "\"): matches the same topics as route \"" + first.topic +
                       "\", so it would never be used");
    }
    filters.push_back(filter);
  }
}

std::vector<Route> RouteTable::builtin() {
  return {
      {"dokumen/{id}/updated", "dokumen.{id}", "dokumen.updated", "dokumen.updated"},
      {"cabang/{id}/omset", "private-cabang.{id}", "omset.updated", "omset.updated"},
      {"cabang/{id}/transaksi", "private-cabang.{id}.admin", "transaksi.created", "transaksi.created"},
      // The branch channel, not the admin feed: the cashier at the counter hands the order over.
      {"cabang/{id}/pesanan-siap", "private-cabang.{id}.pesanan", "pesanan.siap", "pesanan.siap"},
      {"kabar/c/{channel}", "{channel}", "", ""},
  };
}

std::optional<RouteMatch> RouteTable::match(std::string_view topic) const {
  for (const Route& route : routes_) {
    auto channel = fill_channel(route, topic);
    if (!channel) continue;
    // The first matching route decides; an invalid channel is not passed on to a later route.
    if (!is_valid_channel_name(*channel)) return std::nullopt;
    return RouteMatch{&route, std::move(*channel)};
  }
  return std::nullopt;
}

std::optional<std::string> RouteTable::topic_for_channel(std::string_view channel) const {
  if (!is_valid_channel_name(channel)) return std::nullopt;
  std::optional<std::string> best;
  std::size_t best_literals = 0;
  for (const Route& route : routes_) {
    // The most specific template wins, the first route on a tie: "private-cabang.{id}" also yields
    // "private-cabang.4.admin" (with {id} = "4.admin"), and cabang/4.admin/omset even routes back to it,
    // but "private-cabang.{id}.admin" says more of the channel, and its topic is the one the policy lets
    // branch 4's readers read. The generic "{channel}" says nothing, so it is the last resort.
    const std::size_t literals = literal_characters(route.channel);
    if (best && literals <= best_literals) continue;
    std::optional<std::string> found;
    Bindings bindings;
    // Channel characters never include '/', '+' or '#', so every bound part is a valid topic level.
    bind_template(route.channel, channel, bindings, [&](const Bindings& candidate) {
      auto topic = fill_topic(route, candidate);
      if (!topic) return false;
      // The first match decides forward routing: the topic must come back to this route and channel.
      auto back = match(*topic);
      if (!back || back->route != &route || back->channel != channel) return false;
      found = std::move(topic);
      return true;
    });
    if (found) {
      best = std::move(found);
      best_literals = literals;
    }
  }
  return best;
}

std::vector<std::string> RouteTable::subscriptions() const {
  std::vector<std::string> filters;
  filters.reserve(routes_.size());
  for (const Route& route : routes_) filters.push_back(subscription_filter(route));
  return filters;
}

}  // namespace kabar
