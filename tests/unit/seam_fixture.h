#pragma once
// Shared by the replay seam tests (gateway_seam_test.cpp, gateway_replay_faults_test.cpp): the real
// store, hub and replay reader on one I/O thread, and a session whose transport just records what it
// would send.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "gateway/http/stream_session.h"

namespace kabar::seam_test {
using namespace std::chrono_literals;


// A transport that records what it is given to write, and completes each write on the I/O thread (or,
// holding writes, never: a client that does not read).
class RecordingTransport final : public StreamTransport {
 public:
  RecordingTransport(boost::asio::io_context& io, bool hold_writes, std::size_t items_per_write)
      : io_(io), hold_writes_(hold_writes), items_per_write_(items_per_write) {}

  std::vector<nlohmann::json> frames() {
    std::lock_guard lock(mutex_);
    return frames_;
  }
  bool evicted() const { return evicted_; }
  bool closed() const { return closed_; }

  std::string_view name() const override { return "recording"; }
  const std::string& frame_bytes(const Frame& frame) const override { return frame.json; }
  std::string control_bytes(const std::string& json, const std::string&) const override { return json; }
  std::size_t max_frames_per_write() const override { return items_per_write_; }
  void write(const std::vector<boost::asio::const_buffer>& buffers, WriteDone done) override {
    {
      std::lock_guard lock(mutex_);
      for (const auto& buffer : buffers) {
        frames_.push_back(nlohmann::json::parse(std::string_view(static_cast<const char*>(buffer.data()), buffer.size())));
      }
    }
    if (hold_writes_) return;  // a client that never reads: the write never completes
    boost::asio::post(io_, [done = std::move(done)] { done({}); });
  }
  void close(StreamClose why) override {
    if (why == StreamClose::SlowConsumer) {
      evicted_ = true;
    } else {
      closed_ = true;
    }
  }

 private:
  boost::asio::io_context& io_;
  bool hold_writes_;
  std::size_t items_per_write_;
  std::atomic<bool> evicted_{false};
  std::atomic<bool> closed_{false};
  std::mutex mutex_;
  std::vector<nlohmann::json> frames_;
};

class RecordingSession : public StreamSession {
 public:
  RecordingSession(ServerContext& context, bool hold_writes = false, std::size_t items_per_write = 1)
      : StreamSession(context, 0, transport_),
        transport_(context.hub.shard_context(0), hold_writes, items_per_write) {}

  void subscribe_from(const std::vector<std::string>& channels, const std::string& since) {
    subscribe(channels, StartPoint::parse(since), true);
  }
  void subscribe_topics_from(const std::vector<std::string>& filters, const std::string& since) {
    subscribe_with_topics({}, filters, StartPoint::parse(since), true);
  }
  void heartbeat() override {}
  void shutdown() override {}
  using StreamSession::detach;

  std::vector<nlohmann::json> frames() { return transport_.frames(); }
  bool evicted() const { return transport_.evicted(); }
  bool closed() const { return transport_.closed(); }
  // Bytes in the send queue (call on the I/O thread).
  std::size_t queued_bytes() const { return send_queue_bytes(); }

 private:
  RecordingTransport transport_;
};

class SeamTest : public ::testing::Test {
 protected:
  void SetUp() override { open_store(0); }

  void open_store(std::size_t keep_per_channel) {
    dir_ = std::filesystem::temp_directory_path() /
           ("kabar-seam-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    StoreOptions options;
    options.data_dir = dir_;
    options.retention_max_per_channel = keep_per_channel;
    options.retention_max_age = 0s;
    options.retention_interval = 0ms;  // retention runs only when a test calls prune_now()
    store_ = std::make_unique<EventStore>(options);
    hub_ = std::make_unique<Hub>(std::vector<boost::asio::io_context*>{&io_}, store_->epoch());
    replay_ = std::make_unique<ReplayReader>(*store_, 1);
    SessionLimits limits;
    limits.replay_page = 37;  // small pages: many seams inside one catch-up
    context_ = std::make_unique<ServerContext>(*hub_, *replay_, *store_, limits, stats_);
    context_->sessions_by_shard.resize(1);
    store_->set_commit_listener([this](const std::vector<StoredEvent>& batch) { hub_->publish(batch); });
    io_thread_ = std::thread([this] {
      auto guard = boost::asio::make_work_guard(io_);
      io_.run();
    });
  }

  void TearDown() override {
    io_.stop();
    io_thread_.join();
    replay_->stop();
    store_->close();
    std::filesystem::remove_all(dir_);
  }

  // data is {"n":n}, or {"n":n,"pad":"xxx..."} with `pad` x's.
  std::int64_t append(const std::string& channel, int n, std::size_t pad = 0, const std::string& topic = {}) {
    Envelope envelope;
    envelope.topic = topic;
    envelope.id = channel + "-" + std::to_string(n);
    envelope.event = "test.event";
    envelope.channel = channel;
    envelope.data = "{\"n\":" + std::to_string(n) +
                    (pad ? ",\"pad\":\"" + std::string(pad, 'x') + "\"}" : std::string("}"));
    envelope.time_ms = 1;
    return store_->append(envelope).seq;
  }

  template <class F>
  auto on_io(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto result = task.get_future();
    boost::asio::post(io_, [&task] { task(); });
    return result.get();
  }

  static std::vector<nlohmann::json> of_type(const std::vector<nlohmann::json>& frames, const std::string& type) {
    std::vector<nlohmann::json> out;
    for (const auto& frame : frames) {
      if (frame["type"] == type) out.push_back(frame);
    }
    return out;
  }

  bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds timeout = 10s) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(5ms);
    }
    return true;
  }

  std::filesystem::path dir_;
  boost::asio::io_context io_;
  std::thread io_thread_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<ReplayReader> replay_;
  GatewayStats stats_;
  std::unique_ptr<ServerContext> context_;

  void expect_exact_seam_while_publishing(std::size_t items_per_write);
};

class PrunedSeamTest : public SeamTest {
 protected:
  void SetUp() override { open_store(10); }
};

}  // namespace kabar::seam_test
