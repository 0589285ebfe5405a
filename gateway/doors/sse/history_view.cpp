#include "gateway/doors/sse/history_view.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "gateway/http/access.h"
#include "gateway/http/refusal.h"
#include "gateway/http/server_context.h"
#include "gateway/doors/sse/sse_request.h"
#include "gateway/http/start_point.h"
#include "gateway/hub/frame.h"

namespace kabar {
namespace {

std::optional<std::int64_t> whole_number(const std::string& text) {
  if (text.empty() || text.size() > 18 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoll(text);
}


// The answer's text, frames as the streams carry them, byte for byte.
std::string answer_body(const std::string& frames, const std::string& position, bool more) {
  return R"({"frames":[)" + frames + R"(],"position":")" + position + R"(","more":)" +
         (more ? "true" : "false") + "}";
}

void append_frame(std::string& frames, const std::string& frame) {
  if (!frames.empty()) frames += ',';
  frames += frame;
}

}  // namespace

std::variant<HistoryRequest, HistoryRequestError> parse_history_request(const RequestTarget& target,
                                                                        std::size_t max_channels) {
  auto channels = parse_channels(target, max_channels);
  if (auto* problem = std::get_if<SseRequestError>(&channels))
    return HistoryRequestError{problem->code, problem->message};
  HistoryRequest request;
  request.channels = std::move(std::get<std::vector<std::string>>(channels));
  if (auto since = target.first("since")) request.since = *since;
  if (auto text = target.first("limit")) {
    const auto limit = whole_number(*text);
    if (!limit || *limit < 1) {
      return HistoryRequestError{"bad_request", "limit must be a whole number from 1 (at most " +
                                                    std::to_string(kHistoryMaxLimit) + " are given)"};
    }
    request.limit = std::min<std::size_t>(static_cast<std::size_t>(*limit), kHistoryMaxLimit);
  }
  return request;
}

// The start point is judged exactly as a stream's subscribe judges it (StreamSession::subscribe): a
// position from another store, ahead of the head or unreadable gets a reset per channel at the head; a
// covered one, earliest and latest are read as a replay page, whose pruned channels get a reset.
std::string read_history_page(EventStore& store, ReplayReader& reader, const HistoryRequest& request) {
  const std::int64_t head = store.head_seq();
  const auto position_of = [&store](std::int64_t seq) { return store.position_at(seq).to_string(); };
  StartPoint start = StartPoint::parse(request.since);
  if (start.kind == StartPoint::Kind::After && start.after.epoch != store.epoch() && !start.after.anchor.empty()) {
    // Another node's position: go on after its event here (the same id on every node), if this store has it.
    if (const auto seq = store.seq_of(start.after.anchor)) start.after = Position{store.epoch(), *seq, {}};
  }
  const char* reset_reason = nullptr;
  std::vector<ChannelCursor> cursors;
  switch (start.kind) {
    case StartPoint::Kind::Live:
      return answer_body({}, position_of(head), false);  // a poller starts from now
    case StartPoint::Kind::BadPosition:
      reset_reason = "bad_position";
      break;
    case StartPoint::Kind::After:
      if (start.after.epoch != store.epoch()) {
        reset_reason = "epoch_changed";
      } else if (start.after.seq > head) {
        reset_reason = "position_ahead";
      } else {
        for (const auto& channel : request.channels)
          cursors.push_back(ChannelCursor{channel, start.after.seq, true});
      }
      break;
    case StartPoint::Kind::Earliest:
      for (const auto& channel : request.channels)
        cursors.push_back(ChannelCursor{channel, 0, /*check_pruned=*/false});
      break;
    case StartPoint::Kind::Latest:
      for (const auto& channel : request.channels) {
        cursors.push_back(ChannelCursor{channel, head, /*check_pruned=*/true, /*latest=*/true});
      }
      break;
  }
  std::string frames;
  if (reset_reason) {
    for (const auto& channel : request.channels)
      append_frame(frames, encode_reset(channel, reset_reason, position_of(head)));
    return answer_body(frames, position_of(head), false);
  }

  const ReplayPage page = reader.read_page_now(cursors, PageLimit{request.limit, kHistoryPageBytes});
  for (const auto& channel : page.pruned) {
    append_frame(frames, encode_reset(channel, "history_pruned", position_of(page.head)));
  }
  for (const auto& event : page.events)
    append_frame(frames, encode_event_json(event, event_position(event, store.epoch())));
  // A full page goes on after the last event it read (also when that one was a pruned channel's, left
  // out above); the other pages hold everything up to the head they were read at, so the next call starts
  // there. A full page with nothing read at or below its head (the only events were committed while it
  // was read) holds everything up to that head as well.
  const bool more = page.full && page.through > 0;
  return answer_body(frames, position_of(more ? page.through : page.head), more);
}

void answer_history(ServerContext& context,
                    const boost::beast::http::request<boost::beast::http::string_body>& request,
                    const RequestTarget& target, std::function<void(HistoryAnswer)> done) {
  auto parsed = parse_history_request(target, context.limits.max_subscriptions);
  if (auto* problem = std::get_if<HistoryRequestError>(&parsed)) {
    context.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
    done(HistoryAnswer{400, refused_body(Refused::plain(400, problem->code, problem->message)), {}});
    return;
  }
  HistoryRequest history = std::move(std::get<HistoryRequest>(parsed));
  // The same questions, answers and logs as /sse (docs/authorization.md "/sse").
  ChannelReadAccess access = authorize_reading(context, request, target, history.channels, "history");
  if (!access.ok) {
    const Refused refused =
        Refused::authorization(access.status, access.error, access.reason, access.message, access.channel);
    done(HistoryAnswer{access.status, refused_body(refused), access.status == 401 ? www_authenticate_for(access.error) : ""});
    return;
  }
  context.replay.run([&context, history = std::move(history), done = std::move(done)]() mutable {
    HistoryAnswer answer;
    try {
      answer.body = read_history_page(context.store, context.replay, history);
    } catch (const std::exception& error) {  // StoreError, or out of memory: this request fails, not kabar
      spdlog::warn("history could not be read: {}", error.what());
      answer = HistoryAnswer{
          503, refused_body(Refused::plain(503, "store_unavailable", "the history could not be read")), {}};
    }
    done(std::move(answer));
  });
}

}  // namespace kabar
