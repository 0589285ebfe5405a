#pragma once
// Which frames reach one Pusher connection (checklist items 6, 7 and 8). Pure: the session passes what
// it knows about itself.
#include <cstdint>
#include <optional>
#include <string_view>

#include "gateway/hub/frame.h"
#include "gateway/pusher/channel_directory.h"

namespace kabar {

// A frame relayed session to session (whisper, member_added/removed):
//  * never to the socket that caused it: a client event is not echoed, a member is not told of itself;
//  * only to subscribers of the channel (`snapshot_version` is null when this connection holds none);
//  * a member event only when it is newer than the presence snapshot this connection was sent, so a
//    newcomer never hears of a member twice (once in subscription_succeeded, once as member_added).
bool relayed_frame_wanted(const RelayedFrame& frame, std::string_view socket_id,
                          std::optional<std::uint64_t> snapshot_version);

// A stored event, live or replayed: not to the publisher's own socket (Laravel's toOthers), and not to
// the connections of another app than the one that published it (docs/pusher.md "Apps").
bool event_frame_wanted(const Frame& frame, std::string_view socket_id, std::string_view app_id);

}  // namespace kabar
