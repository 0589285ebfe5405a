// What /metrics reports (docs/operations.md "Health and metrics"): the Prometheus text of the
// Gateway's parts, gathered at each scrape. The names are a contract with dashboards and alerts: never
// rename one.
#include <sstream>

#include "gateway/app/gateway.h"
#include "gateway/pusher/pusher_service.h"

namespace kabar {

std::string Gateway::metrics_text() const {
  std::ostringstream out;
  auto metric = [&out](const char* name, const char* type, const char* help, auto value) {
    out << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n'
        << name << ' ' << value << '\n';
  };
  const StoreStats store = store_->stats();
  const BridgeStats bridge = bridge_ ? bridge_->stats() : BridgeStats{};
  const HubStats hub = hub_->stats();
  metric("kabar_store_events_appended_total", "counter", "Events newly stored", store.appended);
  metric("kabar_store_duplicates_total", "counter", "Appends ignored because the event id was stored", store.duplicates);
  metric("kabar_store_commits_total", "counter", "Store transactions committed", store.commits);
  metric("kabar_store_pruned_total", "counter", "Events removed by retention", store.pruned);
  metric("kabar_store_head_seq", "gauge", "Highest stored sequence number", store.head_seq);
  metric("kabar_dead_letters_total", "counter", "MQTT messages dead-lettered", store.dead_letters);
  metric("kabar_mqtt_messages_received_total", "counter", "MQTT messages received", bridge.received);
  metric("kabar_mqtt_messages_accepted_total", "counter", "MQTT messages accepted as events", bridge.accepted);
  metric("kabar_mqtt_messages_rejected_total", "counter", "MQTT messages rejected", bridge.rejected);
  metric("kabar_mqtt_twin_duplicates_total", "counter", "Twin-session copies dropped", bridge.twin_duplicates);
  metric("kabar_mqtt_sink_failures_total", "counter", "Failed attempts to store a message (each retry counts)",
         bridge.sink_failures);
  metric("kabar_store_write_failing", "gauge",
         "1 while a message is held unacknowledged because the store cannot write (ingest stopped)",
         bridge.store_failing ? 1 : 0);
  metric("kabar_store_write_stalls_total", "counter", "Times ingest stopped because the store could not write",
         bridge.store_stalls);
  metric("kabar_mqtt_reconnects_total", "counter", "MQTT reconnects", bridge.reconnects);
  metric("kabar_mqtt_retained_skipped_total", "counter",
         "MQTT 3.1.1: retained copies the broker sent at subscribe, dropped (not new events)",
         bridge.retained_skipped);
  metric("kabar_mqtt_connected", "gauge", "1 when every MQTT session is connected", bridge.connected ? 1 : 0);
  metric("kabar_hub_events_published_total", "counter", "Committed events handed to the hub", hub.events_published);
  metric("kabar_hub_deliveries_total", "counter", "Frames handed to subscribed sessions", hub.deliveries);
  metric("kabar_ws_connections", "gauge", "Open /ws connections", stats_.ws_open.load());
  metric("kabar_sse_connections", "gauge", "Open /sse streams", stats_.sse_open.load());
  metric("kabar_ws_accepted_total", "counter", "/ws connections accepted", stats_.ws_accepted.load());
  metric("kabar_accept_failures_total", "counter", "accept() failures (out of file descriptors...)",
         stats_.accept_failures.load());
  metric("kabar_sse_accepted_total", "counter", "/sse streams accepted", stats_.sse_accepted.load());
  metric("kabar_evicted_slow_consumers_total", "counter", "Clients closed because their send queue overflowed",
         stats_.evicted_slow.load());
  metric("kabar_frames_sent_total", "counter", "Frames written to clients", stats_.frames_sent.load());
  metric("kabar_bytes_sent_total", "counter", "Bytes written to clients", stats_.bytes_sent.load());
  metric("kabar_replayed_events_total", "counter", "Events sent from history", stats_.replayed_events.load());
  metric("kabar_replay_failures_total", "counter", "Sessions closed because reading their history failed",
         stats_.replay_failures.load());
  metric("kabar_resumes_from_other_node_total", "counter",
         "Subscriptions resumed from another node's position, by the id of its last event",
         stats_.resumes_from_other_node.load());
  out << "# HELP kabar_resets_total Reset signals sent, by reason\n# TYPE kabar_resets_total counter\n"
      << "kabar_resets_total{reason=\"history_pruned\"} " << stats_.resets_history_pruned.load() << '\n'
      << "kabar_resets_total{reason=\"epoch_changed\"} " << stats_.resets_epoch_changed.load() << '\n'
      << "kabar_resets_total{reason=\"position_ahead\"} " << stats_.resets_position_ahead.load() << '\n'
      << "kabar_resets_total{reason=\"bad_position\"} " << stats_.resets_bad_position.load() << '\n';
  out << "# HELP kabar_http_refused_total Connections and requests refused by a hardening limit, by reason\n"
      << "# TYPE kabar_http_refused_total counter\n";
  for (std::size_t kind = 0; kind < kRefusalKinds; ++kind) {
    out << "kabar_http_refused_total{reason=\"" << refusal_name(static_cast<Refusal>(kind)) << "\"} "
        << stats_.refusals[kind].load() << '\n';
  }
  out << "# HELP kabar_bad_requests_total Refused client input, by door\n# TYPE kabar_bad_requests_total counter\n"
      << "kabar_bad_requests_total{door=\"ws\"} " << stats_.ws_bad_requests.load() << '\n'
      << "kabar_bad_requests_total{door=\"http\"} " << stats_.http_bad_requests.load() << '\n';
  metric("kabar_forbidden_channels_total", "counter", "Subscriptions refused by the authorization policy",
         stats_.forbidden_channels.load());
  metric("kabar_oversized_messages_total", "counter", "WebSocket messages over the size limit",
         stats_.oversized_messages.load());
  metric("kabar_tokens_refused_total", "counter", "Tokens refused at any door (expired, bad signature...)",
         stats_.tokens_refused.load());
  metric("kabar_subscriptions_expired_total", "counter", "Subscriptions ended because their token expired",
         stats_.subscriptions_expired.load());
  const PusherStats& pusher = pusher_->stats();
  metric("kabar_pusher_connections", "gauge", "Open /app/{key} (Pusher) connections", pusher.open.load());
  metric("kabar_pusher_accepted_total", "counter", "Pusher connections accepted", pusher.accepted.load());
  metric("kabar_pusher_refused_total", "counter", "Pusher connections refused (unknown key, origin, quota...)",
         pusher.refused.load());
  metric("kabar_pusher_bad_messages_total", "counter", "Malformed or unknown Pusher messages",
         pusher.bad_messages.load());
  metric("kabar_pusher_auth_failures_total", "counter", "Private/presence subscriptions with a bad signature",
         pusher.auth_failures.load());
  metric("kabar_pusher_client_events_total", "counter", "Client events relayed", pusher.client_events.load());
  metric("kabar_pusher_client_events_rejected_total", "counter", "Client events refused (disabled, rate, size...)",
         pusher.client_events_rejected.load());
  const WebhookStats webhooks = pusher_->webhook_stats();
  metric("kabar_webhooks_sent_total", "counter", "Webhook bodies accepted by their receivers", webhooks.sent);
  metric("kabar_webhooks_failed_total", "counter", "Webhook attempts that failed (each retry counts)", webhooks.failed);
  metric("kabar_webhooks_dropped_total", "counter", "Webhook bodies given up on", webhooks.dropped);
  return out.str();
}

}  // namespace kabar
