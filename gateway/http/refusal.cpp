// Refused: the body and the response of every HTTP door's refusal (refusal.h).
#include "gateway/http/refusal.h"

#include <nlohmann/json.hpp>

namespace kabar {
namespace http = boost::beast::http;

Refused Refused::plain(unsigned status, std::string error, std::string message) {
  return Refused{status, std::move(error), std::move(message), std::nullopt, {}, {}};
}

Refused Refused::authorization(unsigned status, std::string error, std::string reason, std::string message,
                               std::string channel, std::string topic) {
  return Refused{status, std::move(error), std::move(message), std::move(reason), std::move(channel), std::move(topic)};
}

std::string refused_body(const Refused& refused) {
  nlohmann::json body = {{"error", refused.error}, {"message", refused.message}};
  if (refused.reason) body["reason"] = *refused.reason;
  if (!refused.channel.empty()) body["channel"] = refused.channel;
  if (!refused.topic.empty()) body["topic"] = refused.topic;
  // A message may quote what the client sent (a channel name, a parameter): replace, do not throw.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

const char* www_authenticate_for(std::string_view error) {
  return error == "invalid_token" ? R"(Bearer error="invalid_token")" : "Bearer";
}

HttpResponse json_response(unsigned status, std::string body) {
  HttpResponse response{static_cast<http::status>(status), 11};
  response.set(http::field::content_type, "application/json");
  response.body() = std::move(body);
  return response;
}

HttpResponse refused_response(const Refused& refused) {
  HttpResponse response = json_response(refused.status, refused_body(refused));
  if (refused.reason && refused.status == 401)
    response.set(http::field::www_authenticate, www_authenticate_for(refused.error));
  return response;
}

}  // namespace kabar
