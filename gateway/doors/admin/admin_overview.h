#pragma once
// What GET /api/admin/overview answers, gathered without stopping anything: the hub's channels on each
// shard's own thread (posted there, summed as the shards answer), the store's dead letters on a replay
// thread (never on an I/O thread), the rest from counters.
#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "gateway/doors/admin/admin_door.h"

namespace kabar {

class Hub;
class EventStore;

inline constexpr std::size_t kAdminChannelsShown = 500;   // the busiest; the total is given too
inline constexpr std::size_t kAdminDeadLettersShown = 20;  // the latest
inline constexpr std::size_t kAdminPayloadShown = 512;     // bytes of a dead letter's payload

// Sums every shard's channel -> subscribers; `done` runs once, on the thread of the shard that answered
// last. Shards that are stopped never answer (then neither does `done`: the request ends with the server).
void gather_channel_subscribers(Hub& hub, std::function<void(std::map<std::string, std::size_t>)> done);

// The overview document, read on the calling thread (a replay thread: it reads the store).
std::string overview_json(const AdminDoor& door, EventStore& store,
                          const std::map<std::string, std::size_t>& channels);

}  // namespace kabar
