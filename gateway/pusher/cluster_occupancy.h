#pragma once
// ClusterOccupancy: the cluster's view of who is subscribed where, for the REST queries and the
// occupancy and member webhooks, which Pusher defines per app, not per node.
//
//  * Each node shares its own occupancy (subscriptions per channel, present users, when it started, and
//    its open connections per door for the operator's page) in its retained snapshot (ClusterLink). The REST API answers with this node's live figures plus the
//    other nodes' snapshots.
//  * One node sends the cluster's channel_occupied / vacated and member_added / removed webhooks: the
//    oldest live node (smallest start time, then smallest name), so a node that joins never takes over
//    from one that is running, and when the sender dies the next oldest takes over. It computes them as
//    the difference between the union of every node's occupancy and what receivers were told last
//    (`announced`). The sender shares `announced` through the broker too, so a node taking over starts
//    from what the dead sender had told, and sends exactly what it had not: the members of the dead node
//    leave (member_removed), and what changed while the dead sender was not yet known to be dead is sent.
//
// Thread-safe (one mutex): ClusterLink's threads write, the REST API reads.
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "gateway/pusher/webhook_sender.h"

namespace kabar {

// What one node has: per app and channel, its subscribed connections and the users present through it.
struct NodeOccupancy {
  std::int64_t since_ms = 0;  // when the node started (its snapshot's "since")
  std::map<std::string, std::map<std::string, std::size_t>> subscriptions;      // app -> channel -> count
  std::map<std::string, std::map<std::string, std::set<std::string>>> members;  // app -> channel -> user keys
  // Open connections per door ("ws", "sse", "pusher"), for the operator's page; empty from an older node.
  std::map<std::string, std::uint64_t> connections;
};

// What webhook receivers know: per app, the occupied channels and, on presence channels, their users.
using OccupancyView = std::map<std::string, std::map<std::string, std::set<std::string>>>;

struct AppWebhook {
  std::string app;
  WebhookEvent event;
};

// The union of several nodes' occupancy: a channel is occupied when some node has a subscription (or,
// from a node that shares no counts, a present user) on it.
OccupancyView merge_occupancy(const std::vector<const NodeOccupancy*>& nodes);
// The webhooks that take receivers from `before` to `after`, per channel in protocol order:
// channel_occupied, member_added... or member_removed..., channel_vacated.
std::vector<AppWebhook> occupancy_transitions(const OccupancyView& before, const OccupancyView& after);

std::string occupancy_view_json(const OccupancyView& view);  // {"apps":{app:{channel:[user keys]}}}
OccupancyView parse_occupancy_view(const std::string& payload);

class ClusterOccupancy {
 public:
  ClusterOccupancy(std::string self, std::int64_t since_ms);

  const std::string& self() const { return self_; }
  std::int64_t since_ms() const { return since_ms_; }

  // Other nodes, as their snapshots arrive (an empty snapshot: drop_node).
  void set_node(const std::string& node, NodeOccupancy occupancy);
  void drop_node(const std::string& node);
  // The other nodes' subscriptions of an app, summed per channel.
  std::map<std::string, std::size_t> remote_subscriptions(const std::string& app) const;
  // The other live nodes as their last snapshots told (the operator's page).
  std::map<std::string, NodeOccupancy> other_nodes() const;

  // Only a node that has been connected to the broker long enough to have heard the others' retained
  // snapshots may send (ClusterLink sets it); a node cut off from the broker does not.
  void set_settled(bool settled);
  // Whether this node sends the cluster's webhooks: settled, and the oldest of the live nodes it knows.
  bool leads() const;

  // What the sender announced, shared through the broker. Taken as the starting point while this node
  // does not lead (when it does, its own is newer).
  void set_announced(OccupancyView announced);

  struct Reconciled {
    std::vector<AppWebhook> webhooks;  // to send; empty when another node leads
    bool leads = false;
    std::string announced_json;  // set when this node leads and told receivers something new
  };
  // This node's live occupancy in, what receivers must be told now out.
  Reconciled reconcile(const NodeOccupancy& local);

 private:
  bool leads_locked() const;

  const std::string self_;
  const std::int64_t since_ms_;
  mutable std::mutex mutex_;
  std::map<std::string, NodeOccupancy> others_;
  OccupancyView announced_;
  bool settled_ = false;
};

}  // namespace kabar
