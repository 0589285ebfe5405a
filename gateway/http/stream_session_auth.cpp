// StreamSession's authorization state: the claims of the connection, and what happens to its
// subscriptions when the token expires or is replaced (docs/authorization.md, "Expiry").
#include <spdlog/spdlog.h>

#include "gateway/http/access.h"
#include "gateway/http/stream_session.h"

namespace kabar {

std::size_t StreamSession::end_unauthorized_subscriptions(const char* reason) {
  std::vector<std::string> ended;
  for (const auto& [channel, state] : channels_) {
    if (!decide(context_, claims_, authz::Action::Read, channel).allowed) ended.push_back(channel);
  }
  std::size_t ended_by_name = 0;
  for (const auto& channel : ended) {
    const bool by_name = is_subscribed(channel);
    unsubscribe(channel);
    if (!by_name) continue;  // found by a filter: not the client's subscription (the filter's is judged below)
    ++ended_by_name;
    send_control(R"({"type":"unsubscribed","channel":)" + json_quote(channel) + R"(,"reason":")" + reason +
                 "\"}");
  }
  std::vector<std::string> ended_filters;
  for (const auto& filter : filters_) {
    if (!may_read_topic(context_, claims_, filter)) ended_filters.push_back(filter);
  }
  for (const auto& filter : ended_filters) {
    unsubscribe_topic(filter);
    send_control(R"({"type":"unsubscribed","topic":)" + json_quote(filter) + R"(,"reason":")" + reason + "\"}");
  }
  return ended_by_name + ended_filters.size();
}

std::size_t StreamSession::expire_token(std::int64_t now_s) {
  if (!token_expired(context_, claims_, now_s)) return 0;
  const std::string subject = claims_.subject;
  claims_ = authz::Claims::anonymous();
  const std::size_t ended = end_unauthorized_subscriptions("token_expired");
  context_.stats.subscriptions_expired.fetch_add(ended, std::memory_order_relaxed);
  spdlog::info("authz: token of sub={} expired: {} subscription(s) ended", subject.substr(0, 64), ended);
  return ended;
}

}  // namespace kabar
