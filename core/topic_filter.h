#pragma once
// MQTT topic filters (MQTT 3.1.1 §4.7, 5.0 §4.7), as a broker matches them: "+" is exactly one level, a
// final "#" is any number of levels including none (so "cabang/#" also matches "cabang"), and a filter
// that starts with a wildcard does not match a topic that starts with '$' ($SYS, $share...). The browser
// doors use it for topic subscriptions (docs/protocol.md "Topic subscriptions"), so a browser's filter
// selects exactly the events a mobile app subscribed with the same filter receives.
#include <string_view>

namespace kabar {

// `filter` must be valid (is_topic_filter); `topic` a topic name (no wildcards). An empty topic (an event
// that did not come over MQTT) matches nothing.
bool topic_matches(std::string_view filter, std::string_view topic);

// A valid subscription filter: 1..65535 bytes, no NUL, '+' and '#' only as whole levels, '#' last.
bool is_topic_filter(std::string_view filter);

}  // namespace kabar
