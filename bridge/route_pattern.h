#pragma once
// Private to the bridge: the topic-pattern mechanics behind RouteTable, shared with the message parser
// so it can tell "no route" apart from "route matched but the channel name came out invalid".
#include <optional>
#include <string>
#include <string_view>

#include "bridge/routes.h"

namespace kabar {

// The channel the route's template yields for `topic`, or nullopt when the topic does not match the
// pattern. The result is not checked against the channel-name rules.
std::optional<std::string> fill_channel(const Route& route, std::string_view topic);

// The route's MQTT subscription: its pattern with every {placeholder} level replaced by '+'.
std::string subscription_filter(const Route& route);

}  // namespace kabar
