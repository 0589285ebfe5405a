#pragma once
// The SSE door (docs/protocol.md "/sse"): GET /sse opens an event stream after the request and its token
// were checked against every channel asked for; GET /api/history answers the same channels' stored events
// a page at a time (history_view.h). Both are browser doors: CORS on every answer, preflights answered.
// What happens on an open stream is the SseSession's (gateway/http/sse_session.h), not this door's.
namespace kabar {

class Router;
struct ServerContext;

void open_sse_door(Router& router, ServerContext& context);

}  // namespace kabar
