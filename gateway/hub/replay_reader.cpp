#include "gateway/hub/replay_reader.h"

#include <algorithm>
#include <map>

namespace kabar {

// Channels are grouped by cursor so each group is one indexed range query; the groups are merged by seq
// and cut at `limit`. Cutting is safe: a group that returned fewer than `limit` rows is complete, and a
// full group's rows all precede any row it did not return, so no event at or below the last one kept
// can be missing from the merged page.
ReplayPage ReplayReader::read_page_now(const std::vector<ChannelCursor>& cursors, std::size_t limit) {
  std::map<std::int64_t, std::vector<std::string>> groups;
  for (const auto& cursor : cursors) groups[cursor.after].push_back(cursor.channel);

  ReplayPage page;
  bool any_group_full = false;
  for (const auto& [after, channels] : groups) {
    auto events = store_.read_after(channels, after, limit);
    any_group_full = any_group_full || events.size() >= limit;
    std::move(events.begin(), events.end(), std::back_inserter(page.events));
  }
  if (groups.size() > 1) {
    std::sort(page.events.begin(), page.events.end(),
              [](const StoredEvent& a, const StoredEvent& b) { return a.seq < b.seq; });
  }
  if (page.events.size() > limit) page.events.resize(limit);
  page.full = any_group_full || page.events.size() >= limit;
  return page;
}

HistoryCheck ReplayReader::check_history_now(const std::vector<std::string>& channels, std::int64_t after) {
  HistoryCheck check;
  check.head = store_.head_seq();
  for (const auto& channel : channels) {
    if (store_.channel_bounds(channel).pruned_through > after) check.pruned.push_back(channel);
  }
  return check;
}

}  // namespace kabar
