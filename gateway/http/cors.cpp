// CORS answers of the browser doors (cors.h).
#include "gateway/http/cors.h"

#include <algorithm>

#include "gateway/http/hardening.h"

namespace kabar {
namespace http = boost::beast::http;

CorsAnswer cors_answer(const std::vector<std::string>& allowed, std::string_view origin) {
  if (origin.empty() || !origin_matches(allowed, origin)) return {};
  if (std::find(allowed.begin(), allowed.end(), "*") != allowed.end()) return {"*", false};
  return {std::string(origin), true};
}

void add_cors_headers(HttpResponse& response, const CorsAnswer& answer) {
  if (answer.allow_origin.empty()) return;
  response.set(http::field::access_control_allow_origin, answer.allow_origin);
  if (!answer.credentials) return;
  response.set(http::field::access_control_allow_credentials, "true");
  response.set(http::field::vary, "Origin");
}

std::string cors_header_lines(const CorsAnswer& answer) {
  if (answer.allow_origin.empty()) return {};
  std::string lines = "Access-Control-Allow-Origin: " + answer.allow_origin + "\r\n";
  if (answer.credentials) lines += "Access-Control-Allow-Credentials: true\r\nVary: Origin\r\n";
  return lines;
}

HttpResponse preflight_response() {
  HttpResponse response{http::status::no_content, 11};
  response.set(http::field::access_control_allow_methods, "GET, POST, OPTIONS");
  response.set(http::field::access_control_allow_headers,
               "Authorization, Content-Type, Last-Event-ID, X-Requested-With, X-CSRF-TOKEN, X-Socket-ID");
  response.set(http::field::access_control_max_age, "600");
  return response;
}

}  // namespace kabar
