// The SSE door: /sse and /api/history (sse_door.h).
#include "gateway/doors/sse/sse_door.h"

#include <optional>
#include <string_view>

#include "gateway/doors/sse/history_view.h"
#include "gateway/doors/sse/sse_request.h"
#include "gateway/http/access.h"
#include "gateway/http/refusal.h"
#include "gateway/http/router.h"
#include "gateway/http/server_context.h"
#include "gateway/http/sse_session.h"

namespace kabar {
namespace http = boost::beast::http;
namespace {

// The request (channels, start point), then who asks and whether they may read every channel asked for
// (docs/authorization.md), and only then the stream: a refusal is still an ordinary HTTP answer.
void start_sse(ServerContext& context, const HttpRequest& request, Exchange& exchange) {
  if (!exchange.check_origin("sse")) return;
  std::optional<std::string_view> last_event_id;
  if (auto header = request.find("Last-Event-ID"); header != request.end())
    last_event_id = std::string_view(header->value().data(), header->value().size());
  auto parsed = parse_sse_request(exchange.target(), last_event_id, context.limits.max_subscriptions);
  if (auto* problem = std::get_if<SseRequestError>(&parsed)) {
    context.stats.http_bad_requests.fetch_add(1, std::memory_order_relaxed);
    exchange.send(refused_response(Refused::plain(400, problem->code, problem->message)));
    return;
  }
  const auto& [channels, topics, since] = std::get<SseRequest>(parsed);
  ChannelReadAccess access = authorize_reading(context, request, exchange.target(), channels, "sse", topics);
  if (!access.ok) {
    exchange.send(refused_response(Refused::authorization(access.status, access.error, access.reason,
                                                          access.message, access.channel, access.topic)));
    return;
  }
  auto session =
      std::make_shared<SseSession>(context, exchange.shard(), exchange.release_stream().release_socket());
  exchange.hand_over(session);
  session->set_claims(std::move(access.claims));
  session->start(channels, topics, StartPoint::parse(since), exchange.cors_header_lines());
}

// Checked on this thread, read on a replay thread (history_view.h), answered from this connection's.
void serve_history(ServerContext& context, const HttpRequest& request, Exchange& exchange) {
  if (!exchange.check_origin("history")) return;
  answer_history(context, request, exchange.target(), [reply = exchange.reply_later()](HistoryAnswer answer) {
    HttpResponse response = json_response(answer.status, std::move(answer.body));
    if (!answer.www_authenticate.empty())
      response.set(http::field::www_authenticate, answer.www_authenticate);
    reply(std::move(response));
  });
}

}  // namespace

void open_sse_door(Router& router, ServerContext& context) {
  router.exact("/sse", RouteRules::browser_reads(), [&context](HttpRequest&& request, Exchange& exchange) {
    start_sse(context, request, exchange);
  });
  router.exact(
      std::string(kHistoryPath), RouteRules::browser_reads(),
      [&context](HttpRequest&& request, Exchange& exchange) { serve_history(context, request, exchange); });
}

}  // namespace kabar
