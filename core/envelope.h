#pragma once
// The envelope: what one business event looks like once it has left the broker. The bridge builds it
// from an MQTT message, the store persists it, the hub encodes it for each transport.
#include <cstdint>
#include <string>

namespace kabar {

struct Envelope {
  std::string id;         // publisher's event id (idempotency key); generated when the payload has none
  std::string event;      // event name, e.g. "dokumen.updated"
  std::string channel;    // destination channel, e.g. "dokumen.42"
  std::string data;       // the event's data as compact JSON text (an object, array or scalar)
  std::string socket_id;  // optional: the socket that caused the event, excluded from delivery (toOthers)
  std::int64_t time_ms = 0;  // publisher's time if given, else the time kabar received it (Unix ms)
  std::string topic;      // MQTT topic it arrived on (kept for diagnostics; empty for other sources)
  std::string app;        // optional: the Pusher app whose REST API published it; empty: every app's
  // The id was derived from the message (it carried none: bridge/event_id.h), so an equal id is not
  // necessarily the same event: the store keeps a repeat as "<id>.<n>", unless it is a redelivery of one
  // stored moments ago (docs/store.md "Derived ids"). Neither is stored.
  bool derived_id = false;
  bool redelivery = false;  // the broker said it sent this message before (MQTT DUP)
};

}  // namespace kabar
