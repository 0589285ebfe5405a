#include "gateway/pusher/webhook_sender.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <deque>
#include <future>

#include "core/clock.h"
#include "gateway/hub/frame.h"
#include "gateway/pusher/signature.h"
#include "gateway/pusher/webhook_post.h"

namespace kabar {
namespace {

// What logs say of a webhook URL: scheme://host:port/path. Userinfo and the query are left out, as
// receivers are often guarded by a password or a token in the URL, and logs travel further than configs.
std::string loggable_url(std::string_view url) {
  const auto scheme_end = url.find("://");
  const std::size_t authority = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  const std::size_t path = std::min(url.find_first_of("/?#", authority), url.size());
  const auto userinfo_end = url.substr(0, path).rfind('@');
  const std::size_t host =
      userinfo_end == std::string_view::npos || userinfo_end < authority ? authority : userinfo_end + 1;
  const std::size_t end = std::min(url.find_first_of("?#", path), url.size());
  return std::string(url.substr(0, authority)) + std::string(url.substr(host, path - host)) +
         std::string(url.substr(path, end - path));
}

std::string loggable_url(const WebhookUrl& url) { return url.loggable(); }

}  // namespace

// One (app, url): events waiting for the batch window, then bodies waiting to be sent, in order.
struct WebhookSender::Target {
  Target(boost::asio::io_context& context, const PusherApp& app_in, WebhookUrl url_in,
         const WebhookConfig& config)
      : app(app_in),
        url(std::move(url_in)),
        event_types(config.event_types),
        batch_timer(context),
        retry_timer(context) {}

  bool wants(const std::string& name) const {
    return event_types.empty() ||
           std::find(event_types.begin(), event_types.end(), name) != event_types.end();
  }

  const PusherApp& app;
  WebhookUrl url;
  std::shared_ptr<boost::asio::ssl::context> tls;  // https: the CAs its certificate is checked against
  std::vector<std::string> event_types;
  std::vector<std::string> pending;  // events of the open batch
  boost::asio::steady_timer batch_timer;
  bool batch_open = false;
  std::deque<std::string> backlog;  // bodies, oldest first
  bool sending = false;
  boost::asio::steady_timer retry_timer;
  std::chrono::milliseconds backoff{0};
  std::optional<std::chrono::steady_clock::time_point> failing_since;
};

WebhookSender::WebhookSender(const AppRegistry& apps, WebhookOptions options)
    : options_(options), work_(boost::asio::make_work_guard(context_)) {
  for (const auto& app : apps.all()) {
    for (const auto& hook : app->config().webhooks) {
      auto url = WebhookUrl::parse(hook.url);
      if (!url) {
        spdlog::warn("app {}: webhook url '{}' is not http(s)://host[:port]/path; ignored", app->id(),
                     loggable_url(hook.url));
        continue;
      }
      std::shared_ptr<boost::asio::ssl::context> tls;
      if (url->tls) {
        try {
          tls = make_tls_context(hook.ca_file);
        } catch (const std::exception& error) {  // the config check refuses this first
          spdlog::warn("app {}: webhook to {}: {}; ignored", app->id(), url->loggable(), error.what());
          continue;
        }
      }
      targets_.push_back(std::make_unique<Target>(context_, *app, std::move(*url), hook));
      targets_.back()->tls = std::move(tls);
      targets_.back()->backoff = options_.first_retry;
    }
  }
  if (!targets_.empty()) thread_ = std::thread([this] { context_.run(); });
}

WebhookSender::~WebhookSender() { stop(); }

void WebhookSender::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (thread_.joinable()) drain();
  work_.reset();
  context_.stop();
  if (thread_.joinable()) thread_.join();
}

// A node that stops sends its last webhooks: the cluster's sender has told the other nodes (through the
// broker) that it sent them, so dropping them here would be a gap nobody fills. Bounded: shutdown never
// waits longer than options.drain for a receiver.
void WebhookSender::drain() {
  const auto deadline = std::chrono::steady_clock::now() + options_.drain;
  while (std::chrono::steady_clock::now() < deadline) {
    auto idle = std::make_shared<std::promise<bool>>();
    auto answer = idle->get_future();
    boost::asio::post(context_, [this, idle] {
      bool empty = true;
      for (auto& target : targets_) {
        if (!target->pending.empty()) {
          target->batch_timer.cancel();
          flush(*target);
        }
        if (!target->backlog.empty() && !target->failing_since) empty = false;
      }
      idle->set_value(empty);
    });
    if (answer.wait_until(deadline) != std::future_status::ready || answer.get()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

WebhookStats WebhookSender::stats() const {
  return WebhookStats{sent_.load(), failed_.load(), dropped_.load()};
}

std::string WebhookSender::event_json(const WebhookEvent& event) {
  std::string json = R"({"name":)" + json_quote(event.name) + R"(,"channel":)" + json_quote(event.channel);
  if (!event.event.empty()) json.append(R"(,"event":)").append(json_quote(event.event));
  if (!event.data.empty()) json.append(R"(,"data":)").append(json_quote(event.data));
  if (!event.socket_id.empty()) json.append(R"(,"socket_id":)").append(json_quote(event.socket_id));
  if (!event.user_id.empty()) json.append(R"(,"user_id":)").append(json_quote(event.user_id));
  return json + "}";
}

std::string WebhookSender::body_json(std::int64_t time_ms, const std::vector<std::string>& events) {
  std::string body = R"({"time_ms":)" + std::to_string(time_ms) + R"(,"events":[)";
  for (std::size_t i = 0; i < events.size(); ++i) {
    if (i) body += ',';
    body += events[i];
  }
  return body + "]}";
}

void WebhookSender::notify(const PusherApp& app, WebhookEvent event) {
  if (app.config().webhooks.empty() || targets_.empty()) return;
  boost::asio::post(context_, [this, app = &app, name = event.name, json = event_json(event)] {
    for (auto& target : targets_) {
      if (&target->app == app && target->wants(name)) add(*target, json);
    }
  });
}

void WebhookSender::add(Target& target, const std::string& event) {
  target.pending.push_back(event);
  if (target.pending.size() >= options_.max_batch_events) {
    target.batch_timer.cancel();
    flush(target);
    return;
  }
  if (target.batch_open) return;
  target.batch_open = true;
  target.batch_timer.expires_after(options_.batch_window);
  target.batch_timer.async_wait([this, &target](const boost::system::error_code& error) {
    if (error != boost::asio::error::operation_aborted) flush(target);
  });
}

void WebhookSender::flush(Target& target) {
  target.batch_open = false;
  if (target.pending.empty()) return;
  if (target.backlog.size() >= options_.max_backlog && target.backlog.size() > 1) {
    // The receiver has been down long: keep the newest news. The front may be on its way: spare it.
    target.backlog.erase(target.backlog.begin() + (target.sending ? 1 : 0));
    dropped_.fetch_add(1, std::memory_order_relaxed);
  }
  target.backlog.push_back(body_json(unix_ms(), target.pending));
  target.pending.clear();
  if (!target.sending) send_next(target);
}

void WebhookSender::send_next(Target& target) {
  if (target.backlog.empty() || target.sending) return;
  target.sending = true;
  const std::string& body = target.backlog.front();
  Headers headers = {{"X-Pusher-Key", target.app.key()},
                     {"X-Pusher-Signature", hmac_sha256_hex(target.app.secret(), body)}};
  post_webhook(context_, target.url, body, std::move(headers), options_.timeout, target.tls,
               [this, &target](std::optional<std::string> error) { on_sent(target, error); });
}

void WebhookSender::on_sent(Target& target, const std::optional<std::string>& error) {
  target.sending = false;
  const auto now = std::chrono::steady_clock::now();
  if (!error) {
    sent_.fetch_add(1, std::memory_order_relaxed);
    target.backlog.pop_front();
    target.failing_since.reset();
    target.backoff = options_.first_retry;
    send_next(target);
    return;
  }
  failed_.fetch_add(1, std::memory_order_relaxed);
  if (!target.failing_since) target.failing_since = now;
  if (now - *target.failing_since >= options_.give_up_after) {
    spdlog::warn("app {}: webhook to {} failed for {} s ({}); dropping one body", target.app.id(),
                 loggable_url(target.url), options_.give_up_after.count() / 1000, *error);
    dropped_.fetch_add(1, std::memory_order_relaxed);
    target.backlog.pop_front();
    target.failing_since.reset();
    target.backoff = options_.first_retry;
    send_next(target);
    return;
  }
  // The first failure of a streak is a warning (a receiver down, a certificate refused: someone should
  // look); its retries are debug, until the body is given up (above).
  if (target.backoff == options_.first_retry) {
    spdlog::warn("app {}: webhook to {} failed ({}); retrying for up to {} s", target.app.id(),
                 loggable_url(target.url), *error, options_.give_up_after.count() / 1000);
  } else {
    spdlog::debug("app {}: webhook to {} failed ({}); retry in {} ms", target.app.id(),
                  loggable_url(target.url), *error, target.backoff.count());
  }
  target.retry_timer.expires_after(target.backoff);
  target.backoff = std::min(target.backoff * 2, options_.max_retry);
  target.retry_timer.async_wait([this, &target](const boost::system::error_code& wait_error) {
    if (!wait_error) send_next(target);
  });
}

}  // namespace kabar
