#include "gateway/hub/frame.h"

#include <nlohmann/json.hpp>

namespace kabar {

std::string json_quote(const std::string& text) {
  // error_handler::replace: a payload with invalid UTF-8 must not throw on the delivery path.
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string sse_message(const std::string& json, const std::string& id) {
  std::string out;
  out.reserve(json.size() + id.size() + 16);
  if (!id.empty()) out.append("id: ").append(id).append("\n");
  // json is compact (no raw newlines), so a single data line carries it.
  out.append("data: ").append(json).append("\n\n");
  return out;
}

std::string encode_pusher_event(const Envelope& e, const std::string& position) {
  std::string out;
  out.reserve(e.data.size() * 2 + e.channel.size() + e.event.size() + position.size() + 64);
  out.append(R"({"event":)").append(json_quote(e.event)).append(R"(,"data":)");
  if (!e.data.empty() && e.data.front() == '"') {
    // Already a JSON string (a Pusher REST publish whose data string does not hold JSON, e.g. an encrypted
    // channel's payload; JSON data travels as JSON since issue 11, docs/pusher.md): forwarded as is, so it
    // reaches the client byte for byte.
    out.append(e.data);
  } else {
    out.append(json_quote(e.data.empty() ? "null" : e.data));
  }
  out.append(R"(,"channel":)").append(json_quote(e.channel));
  // kabar extension, ignored by pusher-js: lets a kabar-aware client resume with "since".
  out.append(R"(,"position":")").append(position).append("\"}");
  return out;
}

std::string encode_event_json(const StoredEvent& event, const std::string& position) {
  const Envelope& e = event.envelope;
  std::string json;
  json.reserve(e.data.size() + e.channel.size() + e.event.size() + e.id.size() + e.topic.size() + position.size() + 108);
  json.append(R"({"type":"event","channel":)").append(json_quote(e.channel));
  json.append(R"(,"event":)").append(json_quote(e.event));
  json.append(R"(,"id":)").append(json_quote(e.id));
  json.append(R"(,"position":")").append(position).append("\"");
  // data was produced by the bridge as compact JSON; it is embedded verbatim, never re-serialised.
  json.append(R"(,"data":)").append(e.data.empty() ? "null" : e.data);
  json.append(R"(,"time":)").append(std::to_string(e.time_ms));
  // The MQTT topic it came on: a client with topic subscriptions hands it to those its topic matches.
  if (!e.topic.empty()) json.append(R"(,"topic":)").append(json_quote(e.topic));
  json.append("}");
  return json;
}

std::string encode_reset(const std::string& channel, const char* reason, const std::string& position) {
  return std::string(R"({"type":"reset","channel":)") + json_quote(channel) + R"(,"reason":")" + reason +
         R"(","position":")" + position + "\"}";
}

std::string event_position(const StoredEvent& event, const std::string& epoch) {
  return Position{epoch, event.seq, event.envelope.id}.to_string();
}

FramePtr encode_frame(const StoredEvent& event, const std::string& epoch) {
  const std::string position = event_position(event, epoch);
  auto frame = std::make_shared<Frame>();
  frame->seq = event.seq;
  frame->time_ms = event.envelope.time_ms;
  frame->channel = event.envelope.channel;
  frame->topic = event.envelope.topic;
  frame->socket_id = event.envelope.socket_id;
  frame->app = event.envelope.app;
  frame->json = encode_event_json(event, position);
  frame->sse = sse_message(frame->json, position);
  frame->pusher = encode_pusher_event(event.envelope, position);
  return frame;
}

}  // namespace kabar
