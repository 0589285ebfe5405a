#pragma once
// Where the bridge hands what it receives. main wires this to the store; tests wire it to fakes.
#include <string>

#include "core/envelope.h"

namespace kabar {

class IngestSink {
 public:
  virtual ~IngestSink() = default;
  // Must return only once the event is durable (or known to be a duplicate): the MQTT arrival callback
  // waits on it, and returning is what lets the broker's copy go. Throws if it could not be stored.
  virtual void accept(Envelope envelope) = 0;
  // A message that cannot become an event (unknown topic, bad JSON, schema failure...). Recorded as a
  // dead letter with the reason; never stops the stream.
  virtual void reject(const std::string& topic, const std::string& payload, const std::string& reason) = 0;
};

}  // namespace kabar
