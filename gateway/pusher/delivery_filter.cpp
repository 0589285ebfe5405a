#include "gateway/pusher/delivery_filter.h"

namespace kabar {

bool relayed_frame_wanted(const RelayedFrame& frame, std::string_view socket_id,
                          std::optional<std::uint64_t> snapshot_version) {
  if (frame.except_socket_id == socket_id) return false;
  if (!snapshot_version) return false;
  // Version 0: not a member event (client events carry none).
  return frame.presence_version == 0 || frame.presence_version > *snapshot_version;
}

bool event_frame_wanted(const Frame& frame, std::string_view socket_id, std::string_view app_id) {
  if (!frame.socket_id.empty() && frame.socket_id == socket_id) return false;
  // An unknown key's session has no app: it must not see app-bound events either.
  if (!frame.app.empty() && (app_id.empty() || frame.app != app_id)) return false;
  return true;
}

}  // namespace kabar
