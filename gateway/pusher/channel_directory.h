#pragma once
// ChannelDirectory: which Pusher sessions hold which channel of which app, per I/O shard, for the frames
// that do not come from the event log: client events (whisper) and presence member_added/removed.
// Those are relayed session to session; they are not stored, not replayed, and never take the
// MQTT -> store -> hub path (typing indicators are not business events).
//
// Like the hub, each shard's map is touched only on its own thread, so relaying takes no lock: relay()
// posts the shared frame to every shard, which hands it to its local sessions of that channel.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace kabar {

struct RelayedFrame {
  std::string app_id;
  std::string channel;
  std::string text;              // the complete frame
  std::string except_socket_id;  // the sender (client events) or the member's own connection
  // Member events: their PresenceChange::version. A session whose subscription snapshot already has
  // this version (or a later one) drops the event, so nobody hears of a member twice.
  std::uint64_t presence_version = 0;
};
using RelayedFramePtr = std::shared_ptr<const RelayedFrame>;

// Implemented by PusherSession; called on the session's shard thread. Must not add or remove targets
// synchronously (the directory is iterating), as with Hub subscribers.
class RelayTarget {
 public:
  virtual void deliver(const RelayedFrame& frame) = 0;

 protected:
  ~RelayTarget() = default;
};

class ChannelDirectory {
 public:
  explicit ChannelDirectory(std::vector<boost::asio::io_context*> shards);

  // Shard thread only.
  void add(std::size_t shard, const std::string& app_id, const std::string& channel, RelayTarget* target);
  void remove(std::size_t shard, const std::string& app_id, const std::string& channel, RelayTarget* target);
  std::size_t count(std::size_t shard, const std::string& app_id, const std::string& channel) const;

  // Any thread.
  void relay(RelayedFramePtr frame);

 private:
  struct Shard {
    boost::asio::io_context* context = nullptr;
    std::unordered_map<std::string, std::vector<RelayTarget*>> targets;  // "app\nchannel" -> sessions
  };
  static std::string key(const std::string& app_id, const std::string& channel) {
    return app_id + '\n' + channel;
  }
  static void deliver(Shard& shard, const RelayedFrame& frame);

  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace kabar
