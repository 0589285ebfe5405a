// libFuzzer target: one MQTT message, `<topic>\n<payload>`, through parse_message
// (bridge/message_parser.cpp) with the routes kabar serves by default (RouteTable::builtin(), what
// compose and docs/configuration.md deploy) and the schemas embedded in the binary (schemas/), both
// loaded once. Also the RFC 3339 parser the envelope's "time" goes through, on the payload alone.
//
// Checked: nothing throws or crashes (valijson and nlohmann errors come back as reasons); a refusal has
// a reason and an accepted message none; an accepted event has the channel its route fills in (a valid
// channel name), an event name of 1..200 bytes, data whose compact JSON text re-parses and re-dumps to
// itself, an id, socket_id and app that satisfy envelope.schema.json, a time at or after 1970 (the
// receive time when the envelope gave none), the topic it came on; and a payload nested deeper than
// max_depth or larger than max_payload_bytes is never accepted.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "core/channel.h"
#include "bridge/message_parser.h"
#include "bridge/routes.h"
#include "bridge/schema_registry.h"

namespace {
using namespace kabar;
using nlohmann::json;

constexpr std::int64_t kNowMs = 1'700'000'000'000;

void require(bool condition) {
  if (!condition) std::abort();
}

bool all_of(std::string_view text, bool (*allowed)(char)) {
  for (char c : text) {
    if (!allowed(c)) return false;
  }
  return true;
}
bool is_alnum(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool id_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '-'; }
bool app_char(char c) { return is_alnum(c) || c == '.' || c == '_' || c == '-'; }

bool is_socket_id(std::string_view text) {
  const auto dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == text.size()) return false;
  auto digits = [](std::string_view part) {
    for (char c : part) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  };
  return digits(text.substr(0, dot)) && digits(text.substr(dot + 1));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const RouteTable routes(RouteTable::builtin());
  static const SchemaRegistry schemas;
  // The default depth; a size limit the fuzzer's 4 KiB inputs can exceed.
  static const ParseLimits limits{/*max_payload_bytes=*/2048, ParseLimits{}.max_depth};

  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto newline = input.find('\n');
  const std::string_view topic = input.substr(0, newline);
  const std::string_view payload = newline == std::string_view::npos ? std::string_view() : input.substr(newline + 1);

  if (const auto ms = parse_rfc3339_ms(payload)) require(*ms >= 0);

  const ParseResult result = parse_message(topic, payload, routes, schemas, limits, kNowMs);
  if (!result.ok()) {
    require(!result.reason.empty());
    return 0;
  }
  require(result.reason.empty());
  const Envelope& event = *result.envelope;

  const auto match = routes.match(topic);
  require(match.has_value() && event.channel == match->channel && is_valid_channel_name(event.channel));
  require(event.topic == topic);
  require(!payload.empty() && payload.size() <= limits.max_payload_bytes);

  // 1..200 characters (envelope.schema.json maxLength counts code points, docs/bridge.md), not bytes.
  std::size_t code_points = 0;
  for (unsigned char c : event.event) code_points += (c & 0xC0) != 0x80;
  require(!event.event.empty() && code_points <= 200 && event.event.size() <= 800);
  const json value = json::parse(event.data);  // throws, and so fails, when the text is not JSON
  require(value.dump(-1, ' ', false, json::error_handler_t::replace) == event.data);
  require(value.dump(-1, ' ', false, json::error_handler_t::replace).size() == event.data.size());

  require(event.id.empty() || (event.id.size() <= 128 && all_of(event.id, id_char)));
  require(event.socket_id.empty() || (event.socket_id.size() <= 64 && is_socket_id(event.socket_id)));
  require(event.app.empty() || (event.app.size() <= 64 && all_of(event.app, app_char)));
  require(event.time_ms >= 0);

  // What the payload says, read independently: a bare payload is the data; an envelope's members are
  // taken as given; no "time" means the receive time.
  const json document = json::parse(payload);
  int depth = 0;
  int max_depth_seen = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < payload.size(); ++i) {
    const char c = payload[i];
    if (in_string) {
      if (c == '\\') ++i;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth_seen = std::max(max_depth_seen, ++depth);
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  require(static_cast<std::size_t>(max_depth_seen) <= limits.max_depth);
  const bool envelope = document.is_object() && document.contains("data") && [&] {
                          for (const auto& [key, member] : document.items()) {
                            if (key != "id" && key != "event" && key != "data" && key != "socket_id" &&
                                key != "app" && key != "time")
                              return false;
                          }
                          return true;
                        }();
  if (!envelope) {
    require(value == document);
    require(event.event == match->route->event && event.id.empty() && event.socket_id.empty() && event.app.empty());
    require(event.time_ms == kNowMs);
    return 0;
  }
  require(value == document.at("data"));
  require(event.id == document.value("id", std::string()));
  require(event.socket_id == document.value("socket_id", std::string()));
  require(event.app == document.value("app", std::string()));
  require(event.event == document.value("event", match->route->event));
  if (!document.contains("time")) require(event.time_ms == kNowMs);
  if (document.contains("time") && document.at("time").is_number_integer()) {
    require(event.time_ms == document.at("time").get<std::int64_t>());
  }
  return 0;
}
