#include "gateway/hub/replay_reader.h"

#include <algorithm>
#include <map>
#include <spdlog/spdlog.h>

namespace kabar {

// Channels are grouped by cursor so each group is one indexed range query; the groups are merged by seq
// and cut at `limit`. Two things keep the merge exact although each query sees its own snapshot:
//  * Nothing above the head read *before* the queries is kept: such an event may be visible to one
//    group's snapshot and not to another's, and keeping it would let the cursor jump over the other.
//    (The store publishes its head only after the commit, so every seq <= head is in every snapshot.)
//  * A full group's rows all precede any row it did not return, so cutting the merge at `limit` loses
//    nothing at or below the last row kept.
std::size_t encoded_size_estimate(const StoredEvent& event) {
  const Envelope& e = event.envelope;
  return 2 * e.data.size() + e.channel.size() + e.event.size() + e.id.size() + 160;
}

ReplayPage ReplayReader::read_page_safely(const std::vector<ChannelCursor>& cursors, PageLimit limit) {
  ReplayPage failed;
  try {
    return read_page_now(cursors, limit);
  } catch (const std::exception& error) {
    failed.error = error.what();
  } catch (...) {
    failed.error = "unknown error";
  }
  spdlog::error("replay: reading history failed: {}", failed.error);
  return failed;
}

ReplayPage ReplayReader::read_page_now(const std::vector<ChannelCursor>& requested, PageLimit page_limit) {
  if (before_read_for_tests) before_read_for_tests(requested);
  const std::size_t limit = std::max<std::size_t>(1, page_limit.frames);
  ReplayPage page;
  page.head = store_.head_seq();
  // since=latest: resolved against the head the caller started from (cursor.after), never this page's
  // head, which may be newer: starting before an event committed after the caller's head would skip the
  // events between the two.
  std::vector<ChannelCursor> cursors = requested;
  for (auto& cursor : cursors) {
    if (!cursor.latest) continue;
    if (auto newest = store_.latest_seq(cursor.channel, cursor.after)) cursor.after = *newest - 1;
    cursor.latest = false;
    page.starts.push_back(ResolvedStart{cursor.channel, cursor.after});
  }
  std::map<std::int64_t, std::vector<std::string>> groups;
  for (const auto& cursor : cursors) groups[cursor.after].push_back(cursor.channel);

  for (const auto& [after, channels] : groups) {
    auto events = store_.read_after(channels, after, limit);
    page.full = page.full || events.size() >= limit;
    std::move(events.begin(), events.end(), std::back_inserter(page.events));
  }
  if (groups.size() > 1) {
    std::sort(page.events.begin(), page.events.end(),
              [](const StoredEvent& a, const StoredEvent& b) { return a.seq < b.seq; });
  }
  const auto above_head = std::find_if(page.events.begin(), page.events.end(),
                                       [&](const StoredEvent& event) { return event.seq > page.head; });
  if (above_head != page.events.end()) {
    page.events.erase(above_head, page.events.end());
    page.full = true;  // what was cut will be read next time
  }
  if (page.events.size() > limit) {
    page.events.resize(limit);
    page.full = true;
  }
  // A prefix of the merged events is as exact as the count cut above. It keeps a page of large events
  // within the send queue's byte bound (the session reads the next page once its queue has drained).
  std::size_t bytes = 0;
  for (std::size_t i = 0; i < page.events.size(); ++i) {
    bytes += encoded_size_estimate(page.events[i]);
    if (i > 0 && bytes > page_limit.bytes) {
      page.events.resize(i);
      page.full = true;
      break;
    }
  }
  if (!page.events.empty()) page.through = page.events.back().seq;
  // Checked after the read: pruned_through only grows, so if it is still at or below the cursor now,
  // nothing this page needed had been removed when it was read.
  for (const auto& cursor : cursors) {
    if (cursor.check_pruned && store_.channel_bounds(cursor.channel).pruned_through > cursor.after) {
      page.pruned.push_back(cursor.channel);
    }
  }
  if (!page.pruned.empty()) {
    std::erase_if(page.events, [&](const StoredEvent& event) {
      return std::find(page.pruned.begin(), page.pruned.end(), event.envelope.channel) != page.pruned.end();
    });
  }
  return page;
}

}  // namespace kabar
