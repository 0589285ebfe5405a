#pragma once
// Gateway: wires the parts of `kabar serve` together and owns them, in the order data flows:
// broker process -> store -> hub -> HTTP sessions, and the bridge feeding the store. main() only
// builds a Config and calls run().
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "bridge/mqtt_bridge.h"
#include "bridge/routes.h"
#include "bridge/schema_registry.h"
#include "gateway/app/broker_process.h"
#include "gateway/app/config.h"
#include "gateway/app/jwks_fetcher.h"
#include "gateway/http/listener.h"
#include "gateway/http/router.h"
#include "gateway/http/server_context.h"

namespace kabar {

class StoreSink;
class PusherService;
class DemoService;
struct AdminDoor;

class Gateway {
 public:
  // Starts everything (embedded broker, store, I/O threads, bridge, listener). Throws on failure with
  // a message fit for the operator (BrokerError, StoreError, ListenError).
  Gateway(Config config, const SchemaRegistry& schemas);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Serves until SIGINT or SIGTERM, then shuts down gracefully. Returns the process exit code.
  int run_until_signal();
  // Graceful shutdown: stop accepting, tell clients to reconnect, drain, stop the bridge, flush the store.
  void shutdown();

  unsigned short http_port() const { return listener_->port(); }

 private:
  void warn_of_development_apps() const;
  void open_doors();
  AdminDoor admin_door();
  void start_demo();
  void start_io_threads();
  void schedule_heartbeat(std::size_t shard);
  std::string metrics_text() const;
  [[noreturn]] void exit_leaving_message_unacknowledged();
  void release_shards();  // the io_contexts, and the sessions still waiting in them, before what they use

  Config config_;
  std::optional<BrokerProcess> broker_;
  std::unique_ptr<EventStore> store_;
  std::vector<std::unique_ptr<boost::asio::io_context>> shards_;
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  std::vector<std::unique_ptr<boost::asio::steady_timer>> heartbeat_timers_;
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<ReplayReader> replay_;
  GatewayStats stats_;
  std::unique_ptr<ConnectionLimiter> connections_;
  std::unique_ptr<JwksFetcher> jwks_;  // auth.jwt.jwks_url; its keys are read by context_'s authorizer
  std::unique_ptr<ServerContext> context_;
  std::unique_ptr<RouteTable> routes_;  // before pusher_ and bridge_, which route with it
  std::unique_ptr<PusherService> pusher_;
  std::unique_ptr<StoreSink> sink_;
  std::unique_ptr<MqttBridge> bridge_;
  std::unique_ptr<DemoService> demo_;  // `kabar demo` only
  Router router_;  // every door's routes, complete before the listener accepts; read-only from then on
  std::shared_ptr<Listener> listener_;
  std::unique_ptr<boost::asio::signal_set> signals_;  // run_until_signal's; on shard 0
  bool stopped_ = false;
};

}  // namespace kabar
