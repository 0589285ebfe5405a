// What /metrics reports (docs/operations.md "Metrics, alerts and logs"): the Prometheus text of the
// Gateway's parts, gathered at each scrape. The names are a contract with dashboards and alerts
// (monitoring/): never rename one. The unlabelled totals of the first releases stay as they were; the
// labelled families beside them (transport, door, reason, app_id) and the histograms came later.
#include "gateway/app/gateway.h"
#include "gateway/app/metrics_text.h"
#include "gateway/app/process_metrics.h"
#include "gateway/pusher/pusher_service.h"

namespace kabar {

namespace {

void write_labelled(MetricsText& out, const GatewayStats& stats, const PusherStats& pusher, const StoreStats& store,
                    const BridgeStats& bridge) {
  const StreamMetrics& streams = stats.streams;
  const std::uint64_t open[kTransports] = {stats.ws_open.load(), stats.sse_open.load(), pusher.open.load()};
  const std::uint64_t accepted[kTransports] = {stats.ws_accepted.load(), stats.sse_accepted.load(),
                                               pusher.accepted.load()};
  auto per_transport = [&](const char* name, const char* type, const char* help, auto value_of) {
    out.family(name, type, help);
    for (std::size_t t = 0; t < kTransports; ++t)
      out.sample(name, {{"transport", transport_label(static_cast<Transport>(t))}}, std::uint64_t{value_of(t)});
  };
  per_transport("kabar_connections", "gauge", "Open streaming connections, by transport",
                [&](std::size_t t) { return open[t]; });
  per_transport("kabar_connections_accepted_total", "counter", "Streaming connections accepted, by transport",
                [&](std::size_t t) { return accepted[t]; });
  per_transport("kabar_transport_frames_sent_total", "counter", "Frames written to clients, by transport",
                [&](std::size_t t) { return streams.frames_sent[t].load(std::memory_order_relaxed); });
  per_transport("kabar_transport_bytes_sent_total", "counter", "Bytes written to clients, by transport",
                [&](std::size_t t) { return streams.bytes_sent[t].load(std::memory_order_relaxed); });
  per_transport("kabar_transport_replayed_events_total", "counter", "Events sent from history, by transport",
                [&](std::size_t t) { return streams.replayed_events[t].load(std::memory_order_relaxed); });

  out.family("kabar_disconnects_total", "counter", "Streaming connections ended, by transport and reason");
  for (std::size_t r = 0; r < kDisconnects; ++r) {
    for (std::size_t t = 0; t < kTransports; ++t) {
      out.sample("kabar_disconnects_total",
                 {{"transport", transport_label(static_cast<Transport>(t))},
                  {"reason", disconnect_label(static_cast<Disconnect>(r))}},
                 streams.disconnects[r][t].load(std::memory_order_relaxed));
    }
  }

  out.family("kabar_refusals_total", "counter",
             "Tokens and channels refused by authorization, and Pusher subscriptions with a bad signature, by door "
             "and reason");
  for (const auto& [labels, count] : streams.refusals.snapshot())
    out.sample("kabar_refusals_total", {{"door", labels.first}, {"reason", labels.second}}, count);

  out.family("kabar_dead_letters_by_reason_total", "counter", "MQTT messages dead-lettered, by reason");
  for (std::size_t kind = 0; kind < kDeadLetterKinds; ++kind) {
    out.sample("kabar_dead_letters_by_reason_total", {{"reason", dead_letter_kind_name(static_cast<DeadLetterKind>(kind))}},
               bridge.rejected_by_kind[kind]);
  }

  out.family("kabar_delivery_latency_seconds", "histogram",
             "From an event's time (the publisher's, else when kabar received it) to its live frame being queued "
             "for a connection, by transport");
  for (std::size_t t = 0; t < kTransports; ++t) {
    out.histogram("kabar_delivery_latency_seconds", {{"transport", transport_label(static_cast<Transport>(t))}},
                  streams.delivery_latency[t].snapshot());
  }
  out.family("kabar_replay_duration_seconds", "histogram",
             "One subscription's catch-up, from its first history read to going live, by transport");
  for (std::size_t t = 0; t < kTransports; ++t) {
    out.histogram("kabar_replay_duration_seconds", {{"transport", transport_label(static_cast<Transport>(t))}},
                  streams.replay_duration[t].snapshot());
  }
  out.family("kabar_store_commit_duration_seconds", "histogram",
             "Store transactions, from BEGIN to the end of COMMIT (fsync included with store.fsync)");
  out.histogram("kabar_store_commit_duration_seconds", {}, store.commit_duration);
}

void write_pusher_apps(MetricsText& out, const AppRegistry& apps) {
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    std::uint64_t (*value)(const PusherApp&);
  };
  static constexpr Family kFamilies[] = {
      {"kabar_pusher_app_connections", "gauge", "Open Pusher connections admitted to the app",
       [](const PusherApp& app) { return std::uint64_t{app.connections()}; }},
      {"kabar_pusher_app_accepted_total", "counter", "Pusher connections to the app's key upgraded (refused included)",
       [](const PusherApp& app) { return app.stats().accepted.load(std::memory_order_relaxed); }},
      {"kabar_pusher_app_refused_total", "counter", "Pusher connections to the app refused (origin, quota...)",
       [](const PusherApp& app) { return app.stats().refused.load(std::memory_order_relaxed); }},
      {"kabar_pusher_app_auth_failures_total", "counter",
       "Private/presence subscriptions to the app with a bad signature",
       [](const PusherApp& app) { return app.stats().auth_failures.load(std::memory_order_relaxed); }},
      {"kabar_pusher_app_client_events_total", "counter", "Client events relayed in the app",
       [](const PusherApp& app) { return app.stats().client_events.load(std::memory_order_relaxed); }},
      {"kabar_pusher_app_client_events_rejected_total", "counter", "Client events refused in the app",
       [](const PusherApp& app) { return app.stats().client_events_rejected.load(std::memory_order_relaxed); }},
  };
  for (const Family& family : kFamilies) {
    out.family(family.name, family.type, family.help);
    for (const auto& app : apps.all()) out.sample(family.name, {{"app_id", app->id()}}, family.value(*app));
  }
}

}  // namespace

std::string Gateway::metrics_text() const {
  MetricsText out;
  auto metric = [&out](const char* name, const char* type, const char* help, auto value) {
    out.single(name, type, help, static_cast<std::uint64_t>(value));
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
  out.family("kabar_resets_total", "counter", "Reset signals sent, by reason");
  out.sample("kabar_resets_total", {{"reason", "history_pruned"}}, stats_.resets_history_pruned.load());
  out.sample("kabar_resets_total", {{"reason", "epoch_changed"}}, stats_.resets_epoch_changed.load());
  out.sample("kabar_resets_total", {{"reason", "position_ahead"}}, stats_.resets_position_ahead.load());
  out.sample("kabar_resets_total", {{"reason", "bad_position"}}, stats_.resets_bad_position.load());
  out.family("kabar_http_refused_total", "counter", "Connections and requests refused by a hardening limit, by reason");
  for (std::size_t kind = 0; kind < kRefusalKinds; ++kind) {
    out.sample("kabar_http_refused_total", {{"reason", refusal_name(static_cast<Refusal>(kind))}},
               stats_.refusals[kind].load());
  }
  out.family("kabar_bad_requests_total", "counter", "Refused client input, by door");
  out.sample("kabar_bad_requests_total", {{"door", "ws"}}, stats_.ws_bad_requests.load());
  out.sample("kabar_bad_requests_total", {{"door", "http"}}, stats_.http_bad_requests.load());
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
  write_labelled(out, stats_, pusher, store, bridge);
  write_pusher_apps(out, pusher_->apps());
  write_build_info(out);
  write_process_metrics(out);
  return out.str();
}

}  // namespace kabar
