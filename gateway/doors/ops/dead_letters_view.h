#pragma once
// GET /api/dead-letters (docs/protocol.md "Other endpoints"): the rejected MQTT messages, newest first,
// in pages, behind the one policy.
//
// Rejected payloads hold whatever a publisher sent, a branch's private data included, so a bearer token
// is required (header only: no cookie, no ?token=) and a letter is listed only when the token may read
// its MQTT topic. The store keeps up to 10,000 letters of up to kDeadLetterPayloadMax bytes each: reading
// them is never done on an I/O thread (it would stall every connection of that shard), but on a replay
// thread, topics first (no payload is read for a letter the token may not see), then the chosen letters.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <variant>

#include "gateway/http/request_target.h"
#include "gateway/store/event_store.h"

namespace kabar {

struct ServerContext;

inline constexpr std::size_t kDeadLettersDefaultLimit = 100;  // ?limit= when not given
inline constexpr std::size_t kDeadLettersMaxLimit = 1000;     // ?limit= above is clamped
// Topics looked at for one page: as many as the store keeps (gateway/store/retention.cpp), so a page is
// never cut short by filtering unless the store is full of letters the token may not see (then `next`).
inline constexpr std::size_t kDeadLettersScanMax = 10000;
// Payload bytes in one page: at least one letter, then no more once this is reached (then `next`).
inline constexpr std::size_t kDeadLettersPageBytes = 1024 * 1024;

struct DeadLetterPageRequest {
  std::size_t limit = kDeadLettersDefaultLimit;
  std::int64_t before = std::numeric_limits<std::int64_t>::max();  // ?before=<id>: letters with id < it
};

// ?limit= (1..1000, default 100; above 1000: 1000) and ?before= (a letter id, from `next`).
// A string: what is wrong, for a 400.
std::variant<DeadLetterPageRequest, std::string> parse_dead_letter_request(const RequestTarget& target);

struct DeadLetterAnswer {
  unsigned status = 200;
  std::string body;              // JSON
  std::string www_authenticate;  // set on 401s
};

// One page, read on the calling thread: {"letters":[...],"next":<id>|null}. `may_read` says whether the
// reader may see a letter of that MQTT topic. Throws StoreError when the store cannot be read.
std::string read_dead_letter_page(EventStore& store, const DeadLetterPageRequest& request,
                                  const std::function<bool(const std::string& topic)>& may_read);

// The whole request. The request and the token are checked on the calling (I/O) thread; the page is read
// on a replay thread of context.replay. `done` gets the answer on whichever thread has it: the caller
// posts it back to its own executor.
void answer_dead_letters(ServerContext& context,
                         const boost::beast::http::request<boost::beast::http::string_body>& request,
                         const RequestTarget& target, std::function<void(DeadLetterAnswer)> done);

}  // namespace kabar
