#pragma once
// What a connection joining or leaving a channel changes in its app, and what must be told because of
// it (checklist item 6): occupancy (webhooks), presence members (member_added / member_removed for the
// others, only on a user's first join or last leave anywhere), and the subscription reply. Works on
// the PusherApp only; the session sends, relays and notifies what comes back. A closing socket leaves
// each channel it held through leave_channel, so nothing it joined outlives it.
#include <cstdint>
#include <optional>
#include <string>

#include "core/channel.h"
#include "gateway/pusher/inbound_message.h"
#include "gateway/pusher/pusher_app.h"

namespace kabar {

struct MemberAnnouncement {
  std::string frame;          // pusher_internal:member_added / member_removed, for the other connections
  std::uint64_t version = 0;  // PresenceChange::version: orders it against subscription snapshots
  std::string user_key;       // who came or went (webhooks)
};

struct JoinOutcome {
  std::string reply;                   // subscription_succeeded; on presence channels with the members
  std::uint64_t snapshot_version = 0;  // member events up to this version are in `reply`
  bool occupied = false;               // the first subscriber on this node: channel_occupied
  std::optional<MemberAnnouncement> member_added;
};

// identity: the member, on presence channels; null elsewhere.
JoinOutcome join_channel(PusherApp& app, const std::string& channel, const PresenceIdentity* identity);

struct LeaveOutcome {
  bool vacated = false;  // the last subscriber on this node left: channel_vacated
  std::optional<MemberAnnouncement> member_removed;
};

// user_key: the member this connection was on a presence channel (ignored on other kinds).
LeaveOutcome leave_channel(PusherApp& app, const std::string& channel, ChannelKind kind,
                           const std::string& user_key);

}  // namespace kabar
