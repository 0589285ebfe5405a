#pragma once
// Refused: the one way an HTTP door says no (docs/protocol.md "Errors", docs/authorization.md). Every
// door builds its refusal here, so the JSON reads the same everywhere and clients branch on one field:
//
//   {"error":"<code>","message":"<for people>"}                                  a plain refusal
//   {"error":"<code>","reason":"<why>","message":"…"[,"channel":"<name>"|,"topic":"<filter>"]}
//                                                                                 an authorization refusal
//
// (nlohmann sorts the keys when it writes them.) An authorization refusal (invalid_token,
// forbidden_channel) also names the token check's or the policy's reason; as a 401 it carries
// WWW-Authenticate, so an HTTP client knows a bearer token helps.
#include <optional>
#include <string>
#include <string_view>

#include "gateway/http/message.h"

namespace kabar {

struct Refused {
  unsigned status = 400;
  std::string error;    // the code clients branch on: bad_request, invalid_token, forbidden_channel, ...
  std::string message;  // for people; never holds a token
  std::optional<std::string> reason;  // set: an authorization refusal (the reason code of the check)
  std::string channel;                // an authorization refusal of one channel: that channel
  std::string topic;                  // ...or of one topic filter (forbidden_topic): that filter

  static Refused plain(unsigned status, std::string error, std::string message);
  static Refused authorization(unsigned status, std::string error, std::string reason, std::string message,
                               std::string channel = {}, std::string topic = {});
};

// The JSON body (invalid UTF-8 in a message is replaced, never thrown on).
std::string refused_body(const Refused& refused);

// WWW-Authenticate of a 401 with that error code.
const char* www_authenticate_for(std::string_view error);

// A JSON answer: Content-Type application/json, HTTP/1.1.
HttpResponse json_response(unsigned status, std::string body);

// The whole answer: the JSON body, plus WWW-Authenticate on a 401 authorization refusal.
HttpResponse refused_response(const Refused& refused);

}  // namespace kabar
