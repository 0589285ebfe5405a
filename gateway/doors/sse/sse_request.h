#pragma once
// What an /sse request asks for, read from its query and Last-Event-ID header: the channels (sorted, no
// duplicates, each a valid name, at most `max_channels`) and where to start. Pure (no I/O, no state), so
// HttpSession and the fuzz target (tests/fuzz/fuzz_sse_query.cpp) run the same code.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/http/request_target.h"

namespace kabar {

struct SseRequest {
  std::vector<std::string> channels;
  std::vector<std::string> topics;  // ?topic= MQTT filters (sorted, no duplicates, valid filters)
  std::string since;  // "", "earliest", "latest" or a position; StartPoint::parse turns garbage into a reset
};

struct SseRequestError {
  std::string code;  // bad_request, too_many_subscriptions, invalid_channel, invalid_topic
  std::string message;
};

// The ?channel= list alone (sorted, no duplicates, valid names, at most `max_channels`): /api/history
// takes its channels exactly as /sse does.
std::variant<std::vector<std::string>, SseRequestError> parse_channels(const RequestTarget& target,
                                                                       std::size_t max_channels);

// At least one ?channel= or ?topic=; channels and topics together count against `max_channels`.
// `last_event_id`: the header, when the request has one. It wins over ?last_event_id= and ?since=, which
// are only how a page passes a position it kept itself on its first connect.
std::variant<SseRequest, SseRequestError> parse_sse_request(const RequestTarget& target,
                                                            std::optional<std::string_view> last_event_id,
                                                            std::size_t max_channels);

}  // namespace kabar
