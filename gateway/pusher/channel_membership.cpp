#include "gateway/pusher/channel_membership.h"

#include "gateway/pusher/protocol_frames.h"

namespace kabar {

JoinOutcome join_channel(PusherApp& app, const std::string& channel, const PresenceIdentity* identity) {
  JoinOutcome outcome;
  outcome.occupied = app.add_subscriber(channel);
  if (!identity) {
    outcome.reply = pusher_frame::subscription_succeeded(channel);
    return outcome;
  }
  const PresenceChange change =
      app.join(channel, "", identity->user_key, identity->user_id_json, identity->user_info_json);
  if (change.announced) {
    outcome.member_added =
        MemberAnnouncement{pusher_frame::member_added(channel, change.user_id_json, change.user_info_json),
                           change.version, identity->user_key};
  }
  outcome.snapshot_version = change.version;
  outcome.reply = pusher_frame::presence_subscription_succeeded(channel, change.snapshot_json);
  return outcome;
}

LeaveOutcome leave_channel(PusherApp& app, const std::string& channel, ChannelKind kind,
                           const std::string& user_key) {
  LeaveOutcome outcome;
  if (kind == ChannelKind::Presence) {
    const PresenceChange change = app.leave(channel, "", user_key);
    if (change.announced) {
      outcome.member_removed = MemberAnnouncement{pusher_frame::member_removed(channel, change.user_id_json),
                                                  change.version, user_key};
    }
  }
  outcome.vacated = app.remove_subscriber(channel);
  return outcome;
}

}  // namespace kabar
