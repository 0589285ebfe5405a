#pragma once
// WebhookSender: tells an app's backend what happened on its channels (shared/docs/pusher-protocol.md
// §7): channel_occupied/vacated, member_added/removed, client_event, cache_miss. Events gathered over a
// short window go out as one signed POST ({"time_ms":…,"events":[…]}, X-Pusher-Key, X-Pusher-Signature
// = hex(HMAC_SHA256(secret, body))). A failed POST is retried with doubling delays for up to five
// minutes (as hosted Pusher does), keeping the order of bodies per target.
//
// Never blocks delivery: notify() only posts to the sender's own thread, and each target's backlog is
// bounded (the oldest body is dropped, and counted, when a receiver stays down).
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "gateway/pusher/app_registry.h"

namespace kabar {

struct WebhookEvent {
  std::string
      name;  // channel_occupied, channel_vacated, member_added, member_removed, client_event, cache_miss
  std::string channel;
  std::string user_id;    // member_*, client_event on presence channels
  std::string event;      // client_event: the client event's name
  std::string data;       // client_event: its data as JSON text (sent as a string)
  std::string socket_id;  // client_event: the sender

  static WebhookEvent about_channel(std::string name, std::string channel) {
    WebhookEvent event;
    event.name = std::move(name);
    event.channel = std::move(channel);
    return event;
  }
  static WebhookEvent about_member(std::string name, std::string channel, std::string user_id) {
    WebhookEvent event = about_channel(std::move(name), std::move(channel));
    event.user_id = std::move(user_id);
    return event;
  }
  static WebhookEvent client_event(std::string channel, std::string client_event, std::string data,
                                   std::string socket_id, std::string user_id) {
    WebhookEvent event = about_member("client_event", std::move(channel), std::move(user_id));
    event.event = std::move(client_event);
    event.data = std::move(data);
    event.socket_id = std::move(socket_id);
    return event;
  }
};

struct WebhookOptions {
  std::chrono::milliseconds batch_window{50};
  std::size_t max_batch_events = 100;
  std::chrono::milliseconds timeout{10000};
  std::chrono::milliseconds first_retry{1000};
  std::chrono::milliseconds max_retry{60000};
  std::chrono::milliseconds give_up_after{5 * 60 * 1000};
  std::size_t max_backlog = 1000;  // bodies per target
  std::chrono::milliseconds drain{2000};  // at stop: how long what is batched or queued may take to go out
};

struct WebhookStats {
  std::uint64_t sent = 0;     // bodies a receiver accepted (2xx)
  std::uint64_t failed = 0;   // attempts that failed (each retry counts)
  std::uint64_t dropped = 0;  // bodies given up on (retries exhausted or backlog full)
};

class WebhookSender {
 public:
  explicit WebhookSender(const AppRegistry& apps, WebhookOptions options = {});
  ~WebhookSender();
  WebhookSender(const WebhookSender&) = delete;
  WebhookSender& operator=(const WebhookSender&) = delete;

  // Any thread. Cheap when the app has no webhooks.
  void notify(const PusherApp& app, WebhookEvent event);
  // Sends what is batched or queued, for up to options.drain (a receiver that is failing is not waited
  // for), then drops the rest and stops the thread.
  void stop();
  WebhookStats stats() const;

  static std::string event_json(const WebhookEvent& event);
  static std::string body_json(std::int64_t time_ms, const std::vector<std::string>& events);

 private:
  struct Target;
  void add(Target& target, const std::string& event);
  void flush(Target& target);
  void send_next(Target& target);
  void on_sent(Target& target, const std::optional<std::string>& error);
  void drain();

  WebhookOptions options_;
  boost::asio::io_context context_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::vector<std::unique_ptr<Target>> targets_;  // fixed after construction; state touched on thread_ only
  std::thread thread_;
  std::atomic<std::uint64_t> sent_{0}, failed_{0}, dropped_{0};
  bool stopped_ = false;
};

}  // namespace kabar
