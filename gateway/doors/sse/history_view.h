#pragma once
// GET /api/history (docs/protocol.md "Other endpoints"): the stored events of some channels, a page at a
// time, for pages that poll, or fetch what they missed before they open a stream. The same frames, start
// points (`since` = a position, earliest or latest) and resets as /ws and /sse, the same token and policy
// as /sse; several channels share one cursor, in position order, as on an SSE stream.
//
// A page can be up to a MiB of events read from SQLite: it is read on a replay thread, never on the I/O
// thread that took the request (that would stall every connection of its shard), and bounded in events
// (`limit`) and in bytes.
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "gateway/http/request_target.h"

namespace kabar {

struct ServerContext;
class EventStore;
class ReplayReader;

inline constexpr std::string_view kHistoryPath = "/api/history";
inline constexpr std::size_t kHistoryDefaultLimit = 100;  // ?limit= when not given
inline constexpr std::size_t kHistoryMaxLimit = 1000;     // ?limit= above is taken as this
// Events in one answer: at least one, then no more once their estimated size (ReplayReader's, which
// counts the data twice) reaches this; the answer then says more:true.
inline constexpr std::size_t kHistoryPageBytes = 1024 * 1024;

struct HistoryRequest {
  std::vector<std::string> channels;  // sorted, no duplicates, valid names
  std::string since;                  // "" (from now), "earliest", "latest", a position; garbage: a reset
  std::size_t limit = kHistoryDefaultLimit;
};

struct HistoryRequestError {
  std::string code;  // bad_request, invalid_channel, too_many_subscriptions
  std::string message;
};

// ?channel= (as /sse, at most `max_channels`), ?since=, ?limit= (1..1000, default 100; more: 1000).
std::variant<HistoryRequest, HistoryRequestError> parse_history_request(const RequestTarget& target,
                                                                        std::size_t max_channels);

// One page, read on the calling thread: {"frames":[...],"position":"<epoch>:<seq>","more":bool}.
// Throws StoreError when the store cannot be read.
std::string read_history_page(EventStore& store, ReplayReader& reader, const HistoryRequest& request);

struct HistoryAnswer {
  unsigned status = 200;
  std::string body;              // JSON
  std::string www_authenticate;  // set on 401s
};

// The whole request: checked (400, 401, 403) on the calling I/O thread, the page read on a replay thread
// of context.replay (503 store_unavailable when that fails). `done` gets the answer on whichever thread
// has it: the caller posts it back to its own executor.
void answer_history(ServerContext& context,
                    const boost::beast::http::request<boost::beast::http::string_body>& request,
                    const RequestTarget& target, std::function<void(HistoryAnswer)> done);

}  // namespace kabar
