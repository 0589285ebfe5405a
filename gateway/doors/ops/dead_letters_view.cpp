#include "gateway/doors/ops/dead_letters_view.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "gateway/http/access.h"
#include "gateway/http/refusal.h"
#include "gateway/http/server_context.h"

namespace kabar {
namespace {

constexpr std::size_t kTopicsPerRead = 500;  // topics read per statement while scanning
constexpr std::size_t kLettersPerRead = 16;  // whole letters read per statement (16 x 64 KiB at most)

std::string dump(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

DeadLetterAnswer refused(const Refused& refused) {
  DeadLetterAnswer answer{refused.status, refused_body(refused), {}};
  if (refused.reason && refused.status == 401) answer.www_authenticate = www_authenticate_for(refused.error);
  return answer;
}

std::optional<std::int64_t> whole_number(const std::string& text) {
  if (text.empty() || text.size() > 18 || !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoll(text);
}

}  // namespace

std::variant<DeadLetterPageRequest, std::string> parse_dead_letter_request(const RequestTarget& target) {
  DeadLetterPageRequest request;
  if (auto text = target.first("limit")) {
    const auto limit = whole_number(*text);
    if (!limit || *limit < 1) return "limit must be a whole number from 1 (at most " + std::to_string(kDeadLettersMaxLimit) + " are given)";
    request.limit = std::min<std::size_t>(static_cast<std::size_t>(*limit), kDeadLettersMaxLimit);
  }
  if (auto text = target.first("before")) {
    const auto before = whole_number(*text);
    if (!before || *before < 1) return "before must be a letter id (the `next` of the previous page)";
    request.before = *before;
  }
  return request;
}

std::string read_dead_letter_page(EventStore& store, const DeadLetterPageRequest& request,
                                  const std::function<bool(const std::string& topic)>& may_read) {
  // 1. Topics only, newest first from the cursor, until `limit` letters this reader may see are found,
  //    the store has no more, or kDeadLettersScanMax were looked at.
  std::vector<std::int64_t> picked;
  std::int64_t cursor = request.before;
  std::size_t scanned = 0;
  bool exhausted = false;
  while (picked.size() < request.limit && scanned < kDeadLettersScanMax) {
    const std::size_t want = std::min(kTopicsPerRead, kDeadLettersScanMax - scanned);
    const auto topics = store.dead_letter_topics(cursor, want);
    for (const auto& letter : topics) {
      ++scanned;
      cursor = letter.id;
      if (may_read(letter.topic)) picked.push_back(letter.id);
      if (picked.size() == request.limit) break;
    }
    if (topics.size() < want && picked.size() < request.limit) {
      exhausted = true;
      break;
    }
  }
  // 2. The chosen letters whole, until the page holds kDeadLettersPageBytes of payload.
  nlohmann::json letters = nlohmann::json::array();
  std::size_t bytes = 0;
  bool full = false;
  std::int64_t last_listed = 0;
  for (std::size_t first = 0; first < picked.size() && !full; first += kLettersPerRead) {
    const std::vector<std::int64_t> ids(picked.begin() + static_cast<std::ptrdiff_t>(first),
                                        picked.begin() + static_cast<std::ptrdiff_t>(std::min(picked.size(), first + kLettersPerRead)));
    for (auto& letter : store.dead_letters_by_id(ids)) {  // a letter pruned meanwhile is left out
      if (!letters.empty() && bytes + letter.payload.size() > kDeadLettersPageBytes) {
        full = true;
        break;
      }
      bytes += letter.payload.size();
      last_listed = letter.id;
      const bool truncated = letter.truncated();  // before the payload is moved out below
      letters.push_back({{"id", letter.id},
                         {"time_ms", letter.time_ms},
                         {"topic", std::move(letter.topic)},
                         {"payload", std::move(letter.payload)},
                         {"payload_bytes", letter.payload_bytes},
                         {"truncated", truncated},
                         {"reason", std::move(letter.reason)}});
    }
  }
  // `next`: where the following page starts, unless the store had nothing more. Cut by the byte budget:
  // after the last letter listed; otherwise after the last letter looked at (all chosen ones are listed).
  // A page that ended on `limit` gives it even if nothing follows (finding out would mean scanning on).
  nlohmann::json next = nullptr;
  if (full) {
    next = last_listed;
  } else if (!exhausted && cursor > 1) {
    next = cursor;
  }
  return dump({{"letters", std::move(letters)}, {"next", std::move(next)}});
}

void answer_dead_letters(ServerContext& context, const boost::beast::http::request<boost::beast::http::string_body>& request,
                         const RequestTarget& target, std::function<void(DeadLetterAnswer)> done) {
  auto parsed = parse_dead_letter_request(target);
  if (auto* problem = std::get_if<std::string>(&parsed)) {
    done(refused(Refused::plain(400, "bad_request", *problem)));
    return;
  }
  const std::string token = authorization_bearer(request);
  if (token.empty()) {
    done(refused(Refused::authorization(
        401, "token_required", "token_required",
        "dead letters need Authorization: Bearer <token> of someone who may read their topics")));
    return;
  }
  Authentication who = authenticate(context, token, "dead-letters");
  if (!who.ok) {
    done(refused(Refused::authorization(401, "invalid_token", who.code, who.message)));
    return;
  }
  context.replay.run([&context, page = std::get<DeadLetterPageRequest>(parsed), claims = std::move(who.claims),
                      done = std::move(done)]() mutable {
    DeadLetterAnswer answer;
    try {
      answer.body = read_dead_letter_page(context.store, page, [&](const std::string& topic) {
        return may_read_topic(context, claims, topic);
      });
    } catch (const std::exception& error) {  // StoreError, or out of memory: this request fails, not kabar
      spdlog::warn("dead letters could not be read: {}", error.what());
      answer = refused(Refused::plain(503, "store_unavailable", "the dead letters could not be read"));
    }
    done(std::move(answer));
  });
}

}  // namespace kabar
