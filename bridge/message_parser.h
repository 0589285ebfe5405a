#pragma once
// Turning one MQTT message into an Envelope: routing, envelope detection, validation. A pure function
// (no MQTT, no clock, no I/O) so every rule is unit tested on its own; MqttBridge only adds ids,
// twin-copy detection and the sink.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/envelope.h"
#include "bridge/routes.h"
#include "bridge/schema_registry.h"

namespace kabar {

struct ParseLimits {
  std::size_t max_payload_bytes = 256 * 1024;
  // Deeper JSON is refused before parsing: validation and serialisation recurse, and a 256 KiB payload
  // of '[' would otherwise exhaust the stack of the thread that parses it.
  std::size_t max_depth = 64;
};

struct ParseResult {
  std::optional<Envelope> envelope;  // the event; envelope->id is empty when the payload named none
  std::string reason;                // why the message cannot become an event (when envelope is empty)

  bool ok() const { return envelope.has_value(); }
};

// Rules (docs/bridge.md): the first route matching `topic` gives the channel and default event. A JSON
// object with a "data" member and no keys besides id, event, data, socket_id, app and time is an
// envelope and must satisfy envelope.schema.json; any other JSON value is a bare payload and becomes the
// data. The event name is the envelope's "event", else the route's. The data must satisfy the route's
// schema when the event is the route's own and the route names one, else the schema named after the
// event, if any. time_ms is the envelope's time, else now_ms.
ParseResult parse_message(std::string_view topic, std::string_view payload, const RouteTable& routes,
                          const SchemaRegistry& schemas, const ParseLimits& limits, std::int64_t now_ms);

// RFC 3339 date-time ("2024-01-01T12:00:00.123+07:00") to Unix milliseconds; nullopt when malformed,
// not a real calendar date, or before 1970.
std::optional<std::int64_t> parse_rfc3339_ms(std::string_view text);

}  // namespace kabar
