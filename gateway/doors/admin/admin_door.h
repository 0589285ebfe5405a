#pragma once
// The operator's door (docs/operations.md "The operator's page"): what an operator wants to see of a
// running node and its cluster, as JSON for the page web/admin/ (served by the site door at /admin/):
//
//   GET  /api/admin/overview  connections per door of this node and of every node of the cluster, the
//                             channels with their subscribers, the latest dead letters, the store's head
//                             and retention
//   POST /api/admin/publish   {"channel","event","data"}: a test event, published through the broker
//                             like a REST publish (so it takes the path of every event)
//
// Both need "Authorization: Bearer <token>" (never a cookie or ?token=) of a token the policy grants
// `admin` (docs/authorization.md): 401 without one or with a bad one, 403 when the role lacks the grant.
// The grant includes publishing test events to any channel. Not a browser door: no CORS, so another
// site's page cannot call it with the operator's token.
//
// It gets what it shows, not the parts it comes from: this node's and the other nodes' figures and the
// test publish as functions the Gateway wires (the door knows nothing of Pusher or of the node link),
// the store, the hub and the policy through the ServerContext.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace kabar {

class Router;
struct ServerContext;

// One node as the page shows it.
struct AdminNode {
  std::string name;       // broker.client_id
  std::int64_t since_ms = 0;  // when it started (Unix ms)
  std::map<std::string, std::uint64_t> connections;  // door ("ws", "sse", "pusher") -> open connections
};

struct AdminRetention {
  std::int64_t max_age_s = 0;         // store.retention_max_age_s (0: forever)
  std::uint64_t max_per_channel = 0;  // store.retention_max_per_channel (0: unlimited)
};

struct AdminTestEvent {
  std::string channel;
  std::string event;
  std::string data_json;  // any JSON value
};
// Empty: the broker took it (PUBACK); otherwise why not. Called once, on any thread.
using AdminPublished = std::function<void(std::optional<std::string> error)>;

struct AdminDoor {
  ServerContext* context = nullptr;                     // the policy, the hub, the store, the replay threads
  std::function<AdminNode()> this_node;                 // any I/O thread calls it
  std::function<std::vector<AdminNode>()> other_nodes;  // the cluster's other live nodes; any thread
  AdminRetention retention;
  std::function<void(AdminTestEvent, AdminPublished)> publish;
};

void open_admin_door(Router& router, AdminDoor door);

}  // namespace kabar
