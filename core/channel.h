#pragma once
// Channel names and kinds, shared by every door. Names follow Pusher's rules so the same names work on
// the Pusher protocol, /ws and /sse: 1..164 characters of [A-Za-z0-9_-=@,.;].
#include <string_view>

namespace kabar {

enum class ChannelKind { Public, Private, PrivateEncrypted, Presence };

bool is_valid_channel_name(std::string_view name);
// presence-* -> Presence; private-encrypted-* -> PrivateEncrypted; private-* -> Private; else Public.
ChannelKind channel_kind(std::string_view name);
// cache-, private-cache-, private-encrypted-cache-, presence-cache-: a new subscriber gets the last event.
bool is_cache_channel(std::string_view name);

}  // namespace kabar
