#include "gateway/pusher/channel_directory.h"

#include <algorithm>
#include <boost/asio/post.hpp>

namespace kabar {

ChannelDirectory::ChannelDirectory(std::vector<boost::asio::io_context*> shards) {
  for (auto* context : shards) {
    auto shard = std::make_unique<Shard>();
    shard->context = context;
    shards_.push_back(std::move(shard));
  }
}

void ChannelDirectory::add(std::size_t shard, const std::string& app_id, const std::string& channel,
                           RelayTarget* target) {
  auto& list = shards_[shard]->targets[key(app_id, channel)];
  if (std::find(list.begin(), list.end(), target) == list.end()) list.push_back(target);
}

void ChannelDirectory::remove(std::size_t shard, const std::string& app_id, const std::string& channel,
                              RelayTarget* target) {
  auto& targets = shards_[shard]->targets;
  auto it = targets.find(key(app_id, channel));
  if (it == targets.end()) return;
  std::erase(it->second, target);
  if (it->second.empty()) targets.erase(it);
}

std::size_t ChannelDirectory::count(std::size_t shard, const std::string& app_id,
                                    const std::string& channel) const {
  const auto& targets = shards_[shard]->targets;
  auto it = targets.find(key(app_id, channel));
  return it == targets.end() ? 0 : it->second.size();
}

void ChannelDirectory::relay(RelayedFramePtr frame) {
  for (auto& shard : shards_) {
    boost::asio::post(*shard->context, [s = shard.get(), frame] { deliver(*s, *frame); });
  }
}

void ChannelDirectory::deliver(Shard& shard, const RelayedFrame& frame) {
  auto it = shard.targets.find(key(frame.app_id, frame.channel));
  if (it == shard.targets.end()) return;
  for (RelayTarget* target : it->second) target->deliver(frame);
}

}  // namespace kabar
