#include "bridge/message_parser.h"

#include <algorithm>
#include <array>
#include <limits>
#include <nlohmann/json.hpp>

#include "bridge/route_pattern.h"

namespace kabar {
namespace {

using nlohmann::json;

constexpr std::array<std::string_view, 6> kEnvelopeKeys = {"id", "event", "data", "socket_id", "app", "time"};

ParseResult reject(std::string reason) { return ParseResult{std::nullopt, std::move(reason)}; }

std::string json_quoted(std::string_view text) {
  // Reasons are one line even when a topic or name carries control characters.
  return json(std::string(text)).dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string route_miss_reason(std::string_view topic, const RouteTable& routes) {
  for (const Route& route : routes.routes()) {
    if (auto channel = fill_channel(route, topic))
      return "topic " + json_quoted(topic) + " matches route " + json_quoted(route.topic) +
             " but gives channel " + json_quoted(*channel) +
             ", which is not a valid channel name (1-164 of A-Z a-z 0-9 _ - = @ , . ;)";
  }
  return "no route for topic " + json_quoted(topic);
}

// Counts nesting outside strings without parsing, so hostile depth never reaches a recursive algorithm.
bool nests_deeper_than(std::string_view text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

std::optional<std::string> check_payload_shape(std::string_view payload, const ParseLimits& limits) {
  if (payload.empty()) return "payload is empty";
  if (payload.size() > limits.max_payload_bytes)
    return "payload is " + std::to_string(payload.size()) + " bytes, more than max_payload_bytes (" +
           std::to_string(limits.max_payload_bytes) + ")";
  if (nests_deeper_than(payload, limits.max_depth))
    return "payload nests deeper than " + std::to_string(limits.max_depth) + " levels";
  return std::nullopt;
}

std::string parse_error_text(const json::exception& e) {
  std::string what = e.what();  // "[json.exception.parse_error.101] parse error at line 1, ..."
  const auto bracket = what.find("] ");
  return bracket == std::string::npos ? what : what.substr(bracket + 2);
}

bool is_envelope(const json& value) {
  if (!value.is_object() || !value.contains("data")) return false;
  for (const auto& [key, member] : value.items()) {
    if (std::find(kEnvelopeKeys.begin(), kEnvelopeKeys.end(), key) == kEnvelopeKeys.end()) return false;
  }
  return true;
}

// The parts of a payload that make up an event, before validation of the data.
struct Candidate {
  json data;
  std::string id;
  std::string event;
  std::string socket_id;
  std::string app;
  std::optional<std::int64_t> time_ms;
};

std::optional<std::int64_t> envelope_time(const json& time) {
  if (time.is_number_unsigned()) {
    const auto value = time.get<std::uint64_t>();
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
    return static_cast<std::int64_t>(value);
  }
  if (time.is_number_integer()) return time.get<std::int64_t>();
  return parse_rfc3339_ms(time.get_ref<const std::string&>());
}

// Validates the envelope without its data: the data is checked against its own schema, and leaving it
// out keeps the envelope schema's regular expressions away from arbitrarily long data strings.
std::optional<std::string> unwrap_envelope(json envelope, const SchemaRegistry& schemas, Candidate& out) {
  out.data = std::move(envelope["data"]);
  envelope["data"] = nullptr;
  if (auto reason = schemas.validate("envelope", envelope)) return "envelope: " + *reason;
  if (auto it = envelope.find("id"); it != envelope.end()) out.id = it->get<std::string>();
  if (auto it = envelope.find("event"); it != envelope.end()) out.event = it->get<std::string>();
  if (auto it = envelope.find("socket_id"); it != envelope.end()) out.socket_id = it->get<std::string>();
  if (auto it = envelope.find("app"); it != envelope.end()) out.app = it->get<std::string>();
  if (auto it = envelope.find("time"); it != envelope.end()) {
    out.time_ms = envelope_time(*it);
    if (!out.time_ms) return "envelope: /time: not a real date-time at or after 1970";
  }
  return std::nullopt;
}

// The schema the data must satisfy, or empty for none. "envelope" and "config" are not event schemas,
// so events that happen to carry those names are not checked against them.
std::string schema_for(const Route& route, const std::string& event, const SchemaRegistry& schemas) {
  if (event == route.event && !route.schema.empty()) return route.schema;
  if (event == "envelope" || event == "config") return {};
  return schemas.has(event) ? event : std::string();
}

std::optional<std::string> validate_data(const std::string& schema, const json& data,
                                         const SchemaRegistry& schemas) {
  if (schema.empty()) return std::nullopt;
  // Pusher's REST API (and so Laravel) sends data as a JSON-encoded string. The schema describes the
  // content, so validate what the string holds; the string itself is stored and delivered unchanged.
  const json* content = &data;
  json decoded;
  if (data.is_string()) {
    decoded = json::parse(data.get_ref<const std::string&>(), nullptr, /*allow_exceptions=*/false);
    if (decoded.is_object() || decoded.is_array()) content = &decoded;
  }
  try {
    if (auto reason = schemas.validate(schema, *content))
      return "data does not match schema '" + schema + "': " + *reason;
  } catch (const SchemaError&) {
    return "schema '" + schema + "' named by the route is not loaded";
  }
  return std::nullopt;
}

}  // namespace

ParseResult parse_message(std::string_view topic, std::string_view payload, const RouteTable& routes,
                          const SchemaRegistry& schemas, const ParseLimits& limits, std::int64_t now_ms) {
  auto match = routes.match(topic);
  if (!match) return reject(route_miss_reason(topic, routes));
  if (auto reason = check_payload_shape(payload, limits)) return reject(*reason);

  json value;
  try {
    value = json::parse(payload.begin(), payload.end());
  } catch (const json::exception& e) {
    return reject("payload is not JSON: " + parse_error_text(e));
  }

  Candidate candidate;
  if (is_envelope(value)) {
    if (auto reason = unwrap_envelope(std::move(value), schemas, candidate)) return reject(*reason);
  } else {
    candidate.data = std::move(value);
  }

  const Route& route = *match->route;
  std::string event = candidate.event.empty() ? route.event : candidate.event;
  if (event.empty())
    return reject("no event name: route " + json_quoted(route.topic) +
                  " has no default event, so the payload must be an envelope with \"event\"");
  if (auto reason = validate_data(schema_for(route, event, schemas), candidate.data, schemas))
    return reject(*reason);

  Envelope envelope;
  envelope.id = std::move(candidate.id);
  envelope.event = std::move(event);
  envelope.channel = std::move(match->channel);
  envelope.data = candidate.data.dump(-1, ' ', false, json::error_handler_t::replace);
  envelope.socket_id = std::move(candidate.socket_id);
  envelope.app = std::move(candidate.app);
  envelope.time_ms = candidate.time_ms.value_or(now_ms);
  envelope.topic = std::string(topic);
  return ParseResult{std::move(envelope), {}};
}

}  // namespace kabar
