#pragma once
// DemoService: what `kabar demo` adds to a gateway (docs/demo.md) so both sample apps can be tried with
// nothing else running: development logins (tokens signed with the demo's own key), the document app's
// backend (the list, approve and reject, which broadcast dokumen.updated "to others" as Laravel does),
// and sample traffic from the optical chain (sales, new transactions, ready orders) and from colleagues
// approving documents. Everything it publishes goes through the broker like any backend's events, so the
// apps see exactly what production delivers.
//
// One thread owns all of its state (documents, the branches' figures, the MQTT publisher): requests and
// timers run there, answers are handed back through the callback.
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "authz/claims.h"
#include "bridge/mqtt_publisher.h"
#include "gateway/demo/demo_data.h"

namespace kabar {

struct DemoOptions {
  std::string jwt_secret;                   // the demo's development key (HS256), signs the logins
  PublisherOptions publisher;               // kabar's own broker credentials, a client id of its own
  bool traffic = true;                      // publish sample sales and approvals by itself
  std::chrono::milliseconds sale_interval{2500};
};

struct DemoRequest {
  std::string method;  // GET, POST
  std::string path;    // /demo/...
  std::string body;
  std::optional<authz::Claims> who;  // a verified bearer token, when one was sent
  std::string socket_id;             // X-Socket-ID: the Pusher connection to leave out (toOthers)
};

struct DemoAnswer {
  int status = 200;
  std::string body;
};

class DemoService {
 public:
  explicit DemoService(DemoOptions options);
  ~DemoService();
  DemoService(const DemoService&) = delete;
  DemoService& operator=(const DemoService&) = delete;

  // Runs on the demo thread; `done` is called there with the answer.
  void handle(DemoRequest request, std::function<void(DemoAnswer)> done);
  void stop();

 private:
  DemoAnswer answer(const DemoRequest& request);
  DemoAnswer login(const std::string& body);
  DemoAnswer decide(const DemoRequest& request, std::size_t index, bool approve);
  nlohmann::json* document(std::string_view id, std::size_t* index);
  void publish(const std::string& topic, const nlohmann::json& payload);
  void schedule_sale();
  void schedule_colleague();
  void make_sale();
  void colleague_decides();
  demo::BranchDay& today(int branch);

  DemoOptions options_;
  boost::asio::io_context io_;
  boost::asio::steady_timer sale_timer_{io_}, colleague_timer_{io_};
  std::unique_ptr<MqttPublisher> publisher_;
  std::mt19937 random_{std::random_device{}()};
  std::vector<nlohmann::json> documents_;
  std::vector<demo::BranchDay> days_;
  int orders_ = 0;
  std::uint64_t published_ = 0;
  std::thread thread_;
};

}  // namespace kabar
