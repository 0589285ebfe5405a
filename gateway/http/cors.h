#pragma once
// CORS for the browser doors (/sse, /api/history, /pusher/auth; docs/authorization.md "Browser origins"):
// which origin an answer may be read by, and the preflight. The router marks those routes; HttpSession
// then adds these headers to every answer of theirs, errors included, so a page can read why it was refused.
#include <string>
#include <string_view>
#include <vector>

#include "gateway/http/message.h"

namespace kabar {

struct CorsAnswer {
  std::string allow_origin;  // empty: no CORS headers
  bool credentials = false;
};

// A named origin gets itself back with credentials allowed (cookies cross-site); with "*" every origin
// may read, but without credentials: echoing any origin with credentials would let every site read a
// user's answers. A refused origin learns nothing.
CorsAnswer cors_answer(const std::vector<std::string>& allowed_origins, std::string_view origin);

void add_cors_headers(HttpResponse& response, const CorsAnswer& answer);
// The same headers as raw lines ("Name: value\r\n"), for a door that writes its own head (the SSE stream).
std::string cors_header_lines(const CorsAnswer& answer);

// The answer to an allowed preflight (fetch-based SSE with Authorization, /pusher/auth). The allowed
// request headers are named: "*" in Access-Control-Allow-Headers does not cover Authorization.
HttpResponse preflight_response();

}  // namespace kabar
