#include "gateway/pusher/protocol_frames.h"

#include "gateway/hub/frame.h"

namespace kabar::pusher_frame {
namespace {

std::string quote(std::string_view text) { return json_quote(std::string(text)); }

// {"event":EVENT,"data":"<data encoded as a string>","channel":CHANNEL}, Reverb's key order.
std::string with_string_data(std::string_view event, std::string_view data_json, std::string_view channel) {
  std::string frame = R"({"event":")";
  frame.append(event).append(R"(","data":)").append(quote(data_json));
  if (!channel.empty()) frame.append(R"(,"channel":)").append(quote(channel));
  frame += '}';
  return frame;
}

}  // namespace

std::string connection_established(std::string_view socket_id, int activity_timeout_s) {
  const std::string data = R"({"socket_id":")" + std::string(socket_id) + R"(","activity_timeout":)" +
                           std::to_string(activity_timeout_s) + "}";
  return with_string_data("pusher:connection_established", data, {});
}

std::string error(int code, std::string_view message, std::string_view channel) {
  const std::string data = R"({"code":)" + std::to_string(code) + R"(,"message":)" + quote(message) + "}";
  return with_string_data("pusher:error", data, channel);
}

std::string pong() { return R"({"event":"pusher:pong"})"; }
std::string ping() { return R"({"event":"pusher:ping"})"; }

std::string subscription_succeeded(std::string_view channel) {
  return with_string_data("pusher_internal:subscription_succeeded", "{}", channel);
}

std::string presence_subscription_succeeded(std::string_view channel, std::string_view presence_json) {
  const std::string data = R"({"presence":)" + std::string(presence_json) + "}";
  return with_string_data("pusher_internal:subscription_succeeded", data, channel);
}

std::string with_position(std::string frame, std::string_view position) {
  if (frame.size() < 2 || frame.front() != '{' || frame.back() != '}') return frame;
  frame.pop_back();
  frame.append(R"(,"position":)").append(quote(position)).append("}");
  return frame;
}

std::string member_added(std::string_view channel, std::string_view user_id_json,
                         std::string_view user_info_json) {
  std::string data = R"({"user_id":)" + std::string(user_id_json);
  if (!user_info_json.empty()) data.append(R"(,"user_info":)").append(user_info_json);
  data += '}';
  return with_string_data("pusher_internal:member_added", data, channel);
}

std::string member_removed(std::string_view channel, std::string_view user_id_json) {
  return with_string_data("pusher_internal:member_removed",
                          R"({"user_id":)" + std::string(user_id_json) + "}", channel);
}

std::string cache_miss(std::string_view channel) {
  return R"({"event":"pusher:cache_miss","channel":)" + quote(channel) + "}";
}

std::string subscription_error(std::string_view channel, std::string_view type, std::string_view message,
                               int status, std::string_view reason) {
  std::string frame = R"({"event":"pusher:subscription_error","channel":)" + quote(channel) +
                      R"(,"data":{"type":)" + quote(type) + R"(,"error":)" + quote(message) +
                      R"(,"status":)" + std::to_string(status);
  if (!reason.empty()) frame.append(R"(,"reason":)").append(quote(reason));
  frame += "}}";
  return frame;
}

std::string client_event(std::string_view event, std::string_view channel, std::string_view data_json,
                         std::string_view user_id) {
  std::string frame = R"({"event":)" + quote(event) + R"(,"channel":)" + quote(channel) + R"(,"data":)";
  frame.append(data_json);
  if (!user_id.empty()) frame.append(R"(,"user_id":)").append(quote(user_id));
  frame += '}';
  return frame;
}

std::string reset(std::string_view channel, std::string_view reason, std::string_view position) {
  const std::string data = R"({"reason":)" + quote(reason) + R"(,"position":)" + quote(position) + "}";
  return R"({"event":"kabar:reset","channel":)" + quote(channel) + R"(,"data":)" + quote(data) + "}";
}

}  // namespace kabar::pusher_frame
