#include "gateway/app/gateway.h"

#include <spdlog/spdlog.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <cstdlib>
#include <future>

#include "bridge/mqtt_client_setup.h"
#include "gateway/app/demo_key.h"
#include "gateway/app/embedded_broker_auth.h"
#include "gateway/demo/demo_service.h"
#include "gateway/doors/admin/admin_door.h"
#include "gateway/doors/demo/demo_door.h"
#include "gateway/doors/ops/ops_door.h"
#include "gateway/doors/pusher/pusher_door.h"
#include "gateway/doors/site/site_door.h"
#include "gateway/doors/sse/sse_door.h"
#include "gateway/doors/ws/ws_door.h"
#include "gateway/http/stream_session.h"
#include "gateway/pusher/pusher_service.h"

namespace kabar {
namespace asio = boost::asio;

// The bridge's IngestSink: durable first (append returns after the commit), and bad messages become
// dead letters instead of stopping the stream.
class StoreSink : public IngestSink {
 public:
  explicit StoreSink(EventStore& store) : store_(store) {}
  void accept(Envelope envelope) override { store_.append(std::move(envelope)); }
  void reject(const std::string& topic, const std::string& payload, const std::string& reason) override {
    store_.record_dead_letter(topic, payload, reason);
  }

 private:
  EventStore& store_;
};

namespace {

std::size_t io_thread_count(int configured) {
  if (configured > 0) return static_cast<std::size_t>(configured);
  return std::max(1u, std::thread::hardware_concurrency());
}

SessionLimits limits_from(const HttpConfig& http) {
  SessionLimits limits;
  limits.max_message_bytes = http.max_message_bytes;
  limits.max_subscriptions = http.max_subscriptions;
  limits.queue_max_frames = http.send_queue_max_frames;
  limits.queue_max_bytes = http.send_queue_max_bytes;
  limits.heartbeat = std::chrono::milliseconds(http.heartbeat_ms);
  limits.sse_retry = std::chrono::milliseconds(http.sse_retry_ms);
  limits.replay_page = http.replay_page;
  limits.max_header_bytes = http.max_header_bytes;
  limits.request_timeout = std::chrono::milliseconds(http.request_timeout_ms);
  limits.ws_messages_per_s = http.ws_messages_per_s;
  limits.ws_message_burst = http.ws_message_burst;
  return limits;
}

StoreOptions store_options_from(const StoreConfig& store) {
  StoreOptions options;
  options.data_dir = store.data_dir;
  options.commit_max_batch = store.commit_max_batch;
  options.retention_max_age = std::chrono::seconds(store.retention_max_age_s);
  options.retention_max_per_channel = store.retention_max_per_channel;
  options.retention_interval = std::chrono::milliseconds(store.retention_interval_ms);
  options.fsync = store.fsync;
  return options;
}

// What every MQTT client of kabar shares: the broker (or the brokers of a cluster), the protocol version and
// the credentials; each has its own client id.
template <class Options>
Options mqtt_client_options(const BrokerConfig& broker, std::string client_id) {
  Options options;
  options.server_uri = "tcp://" + broker.host + ":" + std::to_string(broker.port);
  if (!broker.servers.empty()) {  // a cluster: the first, then the others in turn (config checked the list)
    std::vector<std::string> servers = parse_mqtt_servers(broker.servers);
    options.server_uri = servers.front();
    options.failover_uris.assign(servers.begin() + 1, servers.end());
  }
  // The Pusher cluster link speaks 3.1.1 whatever the setting (every broker does).
  if constexpr (requires { options.mqtt_version; }) options.mqtt_version = broker.mqtt_version;
  options.client_id = std::move(client_id);
  options.username = broker.username;
  options.password = broker.password;
  return options;
}

BridgeOptions bridge_options_from(const BrokerConfig& broker) {
  auto options = mqtt_client_options<BridgeOptions>(broker, broker.client_id);
  options.keepalive = std::chrono::seconds(broker.keepalive_s);
  options.session_expiry = std::chrono::seconds(broker.session_expiry_s);
  options.twin_sessions = broker.twin_sessions;
  return options;
}

// The REST API's re-publisher: its own client id, so it never takes over the bridge's sessions.
JwksOptions jwks_options_from(const JwtConfig& jwt) {
  JwksOptions options;
  options.url = jwt.jwks_url;
  options.ca_file = jwt.jwks_ca_file;
  options.refresh = std::chrono::seconds(jwt.jwks_refresh_s);
  options.min_refetch = std::chrono::seconds(jwt.jwks_min_refetch_s);
  return options;
}

PublisherOptions publisher_options_from(const BrokerConfig& broker) {
  return mqtt_client_options<PublisherOptions>(broker, broker.client_id + "-rest");
}

// Presence and client events shared with the other nodes on the broker (docs/pusher.md "Several nodes").
ClusterOptions cluster_options_from(const BrokerConfig& broker) {
  auto options = mqtt_client_options<ClusterOptions>(broker, broker.client_id + "-pusher");
  options.node = broker.client_id;
  return options;
}

// The guarded embedded broker knows kabar's own clients by its per-start internal credentials only.
void use_internal_credentials(BrokerConfig& broker, const BrokerCredentials& credentials) {
  if (credentials.username.empty()) return;
  if (!broker.password.empty())
    spdlog::warn("broker.username/password are not used with the embedded broker: kabar logs in with its "
                 "internal credentials");
  broker.username = credentials.username;
  broker.password = credentials.password;
}

}  // namespace

Gateway::Gateway(Config config, const SchemaRegistry& schemas) : config_(std::move(config)) {
  if (config_.broker.embedded) {
    BrokerProcessOptions options;
    options.mosquitto = config_.broker.mosquitto;
    options.host = config_.broker.host;
    options.port = config_.broker.port;
    options.port_fallback = config_.broker.embedded_port_fallback;
    options.data_dir = config_.store.data_dir;
    options.auth = embedded_broker_auth(config_);
    broker_.emplace(options);
    config_.broker.port = broker_->port();  // kabar's own clients go where it listens
    use_internal_credentials(config_.broker, broker_->credentials());
  }
  store_ = std::make_unique<EventStore>(store_options_from(config_.store));
  spdlog::info("store open: {}/kabar.db, epoch {}, head {}", config_.store.data_dir, store_->epoch(),
               store_->head_seq());

  const std::size_t threads = io_thread_count(config_.http.io_threads);
  std::vector<asio::io_context*> contexts;
  for (std::size_t i = 0; i < threads; ++i) {
    shards_.push_back(std::make_unique<asio::io_context>(1));
    work_.push_back(asio::make_work_guard(*shards_.back()));
    contexts.push_back(shards_.back().get());
  }
  hub_ = std::make_unique<Hub>(contexts, store_->epoch());
  replay_ = std::make_unique<ReplayReader>(*store_, 2);
  // Promise 3: the hub only ever sees committed events, handed over by the store's writer.
  store_->set_commit_listener([hub = hub_.get()](const std::vector<StoredEvent>& batch) { hub->publish(batch); });

  context_ = std::make_unique<ServerContext>(*hub_, *replay_, *store_, limits_from(config_.http), stats_);
  context_->server_name = "kabar/" KABAR_VERSION;
  context_->sessions_by_shard.resize(threads);
  // One policy and one token verifier for every door (docs/authorization.md); checked by load_config.
  // auth.jwt.jwks_url: its keys are fetched (the first time before any door opens) and kept fresh.
  // `kabar demo` sets the configuration's keys aside for its own (main.cpp), this one too.
  authz::JwtSettings jwt = jwt_settings(config_.auth);
  if (!config_.auth.jwt.jwks_url.empty() && !config_.demo.enabled) {
    jwks_ = std::make_unique<JwksFetcher>(jwks_options_from(config_.auth.jwt));
    jwks_->start();
    jwt.key_ring = jwks_->ring();
  }
  context_->authorizer = authz::Authorizer::load(config_.auth.policy_file, jwt);
  context_->allow_query_token = config_.auth.query_token;
  context_->allowed_origins = config_.http.allowed_origins;
  context_->trusted_proxies = TrustedProxies(config_.http.trusted_proxies);
  connections_ = std::make_unique<ConnectionLimiter>(config_.http.max_connections_per_ip);
  context_->connections = connections_.get();
  spdlog::info(
      "authorization: {} ({} rules); {}", context_->authorizer->policy().origin(),
      context_->authorizer->policy().rules().size(),
      context_->authorizer->verifier().has_keys() ? "tokens verified" : "no JWT key: anonymous access only");
  // Before the Pusher service: its REST publishes go to the topics the routes map their channels to.
  routes_ = std::make_unique<RouteTable>(config_.routes);
  pusher_ =
      std::make_unique<PusherService>(config_.apps, publisher_options_from(config_.broker),
                                      cluster_options_from(config_.broker), schemas, *routes_, *context_);
  open_doors();

  // Bind before any thread starts: a port already in use must end in a clear error, and a constructor
  // that throws with running I/O threads would leave joinable std::threads behind (std::terminate).
  const asio::ip::tcp::endpoint endpoint(asio::ip::make_address(config_.http.listen),
                                         static_cast<unsigned short>(config_.http.port));
  listener_ = std::make_shared<Listener>(*context_, router_, *shards_[0], endpoint);

  start_io_threads();
  try {
    sink_ = std::make_unique<StoreSink>(*store_);
    bridge_ = std::make_unique<MqttBridge>(bridge_options_from(config_.broker), *routes_, schemas, *sink_);
    bridge_->start();
    if (config_.demo.enabled) start_demo();
    open_demo_door(router_, *context_, demo_.get());  // under `kabar serve` it says why there is no demo
    listener_->run();
  } catch (...) {
    shutdown();  // joins the I/O threads and closes the store before the exception leaves
    throw;
  }
  spdlog::info("kabar listening on http://{}:{} ({} I/O threads)", config_.http.listen, listener_->port(), threads);
  warn_of_development_apps();
}

// Every door but the demo's (opened once the demo runs, or not). The router is complete before the
// listener accepts, so every shard reads it without a lock.
void Gateway::open_doors() {
  open_ws_door(router_, *context_);
  open_sse_door(router_, *context_);
  open_pusher_door(router_, *context_, *pusher_);
  OpsDoor ops;
  // While the store cannot write, the bridge holds the message it could not store (unacknowledged) and
  // ingests nothing: not ready, so a load balancer sends clients to a node that is current.
  ops.readiness = [this] {
    return Readiness{store_ != nullptr && !(bridge_ && bridge_->store_failing()), bridge_ && bridge_->ready()};
  };
  ops.shutting_down = &context_->shutting_down;
  ops.metrics_text = [this] { return metrics_text(); };
  ops.dead_letters = context_.get();
  open_ops_door(router_, std::move(ops));
  open_admin_door(router_, admin_door());
  open_site_door(router_);
}

// The operator's page (docs/operations.md "The operator's page"): the node and its cluster as the Pusher
// service's node link knows them, and test events through its re-publisher, like a REST publish.
AdminDoor Gateway::admin_door() {
  AdminDoor admin;
  admin.context = context_.get();
  auto node = [](std::string name, std::int64_t since_ms, std::map<std::string, std::uint64_t> connections) {
    return AdminNode{std::move(name), since_ms, std::move(connections)};
  };
  admin.this_node = [this, node] { return node(pusher_->node(), pusher_->since_ms(), pusher_->door_connections()); };
  admin.other_nodes = [this, node] {
    std::vector<AdminNode> nodes;
    for (auto& [name, occupancy] : pusher_->cluster_nodes())
      nodes.push_back(node(name, occupancy.since_ms, std::move(occupancy.connections)));
    return nodes;
  };
  admin.retention = {config_.store.retention_max_age_s, config_.store.retention_max_per_channel};
  admin.publish = [this](AdminTestEvent event, AdminPublished done) {
    OutgoingEvent outgoing;
    outgoing.channel = std::move(event.channel);
    outgoing.name = std::move(event.event);
    outgoing.data_json = std::move(event.data_json);
    pusher_->republish({std::move(outgoing)}, std::move(done));
  };
  return admin;
}

// `kabar demo` (docs/demo.md): logins signed with the demo's development key, the document app's backend
// and sample traffic, published through the broker like any backend's.
void Gateway::start_demo() {
  DemoOptions options;
  options.jwt_secret = read_demo_key(config_.auth.jwt.secret_file);
  options.publisher = mqtt_client_options<PublisherOptions>(config_.broker, config_.broker.client_id + "-demo");
  options.traffic = config_.demo.traffic;
  options.sale_interval = std::chrono::milliseconds(config_.demo.sale_interval_ms);
  demo_ = std::make_unique<DemoService>(std::move(options));
  spdlog::info("demo: development logins at POST /demo/login (key {}), sample apps at /dokumen/ and /optik/{}",
               config_.auth.jwt.secret_file, config_.demo.traffic ? ", sample traffic on" : "");
}

// The development app (public secret "local-secret") is served only on the loopback without token
// keys, and refused by the config beyond the loopback (gateway/app/config_apps.cpp). Say at start what
// the Pusher door serves, so a Laravel app that gets 4001 has its answer in the log.
void Gateway::warn_of_development_apps() const {
  if (config_.development_app) {
    spdlog::info("serving the development Pusher app \"local\" (key local-key, public secret local-secret) "
                 "because the config names no apps: on the loopback only (docs/configuration.md \"Pusher apps\")");
  } else if (config_.apps.empty()) {
    spdlog::info("no Pusher app is served: the config names none, and the development app is served only when "
                 "http.listen is a loopback address and auth.jwt has no key (docs/configuration.md \"Pusher apps\")");
  }
}

Gateway::~Gateway() { shutdown(); }

void Gateway::start_io_threads() {
  for (std::size_t shard = 0; shard < shards_.size(); ++shard) {
    heartbeat_timers_.push_back(std::make_unique<asio::steady_timer>(*shards_[shard]));
    schedule_heartbeat(shard);
    threads_.emplace_back([context = shards_[shard].get()] { context->run(); });
  }
}

void Gateway::schedule_heartbeat(std::size_t shard) {
  auto& timer = *heartbeat_timers_[shard];
  timer.expires_after(context_->limits.heartbeat);
  timer.async_wait([this, shard](const boost::system::error_code& error) {
    if (error) return;
    // Copy: a heartbeat may fail a write, and a session may leave the set while we iterate.
    const auto sessions = context_->sessions_by_shard[shard];
    for (StreamSession* session : sessions) session->heartbeat();
    schedule_heartbeat(shard);
  });
}

int Gateway::run_until_signal() {
  std::promise<int> stop;
  auto stopped = stop.get_future();
  signals_ = std::make_unique<asio::signal_set>(*shards_[0], SIGINT, SIGTERM);
  signals_->async_wait([&stop](const boost::system::error_code& error, int signal) {
    if (!error) {
      spdlog::info("signal {} received: shutting down", signal);
      stop.set_value(signal);
    }
  });
  stopped.wait();
  shutdown();
  return 0;
}

void Gateway::shutdown() {
  if (stopped_) return;
  stopped_ = true;
  context_->shutting_down = true;  // /readyz answers 503 from now on
  if (listener_) {
    asio::post(*shards_[0], [listener = listener_] { listener->stop(); });
  }
  // Tell every streaming client to reconnect (WS: shutdown frame + close 1012; SSE: shutdown frame).
  for (std::size_t shard = 0; shard < shards_.size(); ++shard) {
    asio::post(*shards_[shard], [this, shard] {
      const auto sessions = context_->sessions_by_shard[shard];
      for (StreamSession* session : sessions) session->shutdown();
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
  const auto open_connections = [this] {
    return stats_.ws_open.load() + stats_.sse_open.load() + pusher_->stats().open.load();
  };
  while (open_connections() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (demo_) demo_->stop();  // publishes nothing more; its answers in flight are dropped with their sessions
  // The bridge stops before the store: unacknowledged messages stay with the broker's session. It also
  // stops before the Pusher service's MQTT clients: if it had to leave a message for a failing store
  // unacknowledged in Paho's callback (parked), every other Paho call would block forever.
  if (bridge_) bridge_->stop();
  const bool parked = bridge_ && bridge_->parked();
  // REST publishes under way get their PUBACK (or an error) before the broker connection goes.
  if (pusher_ && !parked) pusher_->stop();
  for (auto& timer : heartbeat_timers_) {
    asio::post(timer->get_executor(), [t = timer.get()] { t->cancel(); });
  }
  work_.clear();
  for (auto& shard : shards_) shard->stop();
  for (auto& thread : threads_) {
    if (thread.joinable()) thread.join();
  }
  if (replay_) replay_->stop();  // nothing posts to a shard any more
  if (jwks_) jwks_->stop();      // no I/O thread verifies tokens any more
  // Parked, the store's queue holds only the bridge's failing retry: closing would wait for it (a busy
  // timeout, 5 s, per attempt) to commit nothing. Everything committed is durable already.
  if (parked) exit_leaving_message_unacknowledged();
  release_shards();
  if (store_) store_->close();
  spdlog::info("kabar stopped");
}

// A connection that did not close within the drain (a peer that never answers) is still held by a
// handler waiting in its shard's io_context. Destroying the io_contexts now destroys those handlers, and
// with them the sessions, while the shared context and the Pusher service they point to are alive: left
// to the member destructors, the io_contexts would go after those, and the last sessions' destructors
// would count down open connections in freed memory. What lives on a shard goes first: the signal set,
// the heartbeat timers and the listener's acceptor. From here on no event may reach the hub (it posts to
// the shards).
void Gateway::release_shards() {
  if (store_) store_->set_commit_listener({});
  signals_.reset();  // a signal from here on has its default action, as after any shutdown
  heartbeat_timers_.clear();
  listener_.reset();
  for (auto& shard : shards_) shard.reset();
}

// Paho's receive thread is inside the bridge's callback with an event the store could not write. Letting
// it return would acknowledge the event; destroying any MQTT client would wait for it forever. So the
// process ends here, like a crash as far as SQLite is concerned (a write transaction the retry may have
// open is rolled back at the next open): the kernel closes the MQTT sockets, the broker keeps the event
// (never acknowledged) in kabar's persistent session and delivers it again after the restart.
void Gateway::exit_leaving_message_unacknowledged() {
  broker_.reset();  // the embedded broker writes its persistence file on the way out
  spdlog::warn("kabar stopped with one MQTT message not stored and not acknowledged (the store failed); the "
               "broker delivers it again after the restart");
  spdlog::shutdown();
  std::_Exit(0);
}

}  // namespace kabar
