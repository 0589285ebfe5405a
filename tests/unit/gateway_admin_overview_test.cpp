// The operator's page's figures (gateway/doors/admin/admin_overview.h): the hub's channels summed over
// the shards, each read on its own thread, and the overview document from a real store.
#include "gateway/doors/admin/admin_overview.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "gateway/hub/hub.h"
#include "gateway/store/event_store.h"

namespace kabar {
namespace {
using nlohmann::json;

struct Nobody : Subscriber {
  void on_frame(const FramePtr&) override {}
};

TEST(AdminOverview, ChannelsAreSummedOverTheShardsEachOnItsOwnThread) {
  boost::asio::io_context a, b;
  Hub hub({&a, &b}, "epoch");
  Nobody s1, s2, s3;
  hub.subscribe(0, "orders", &s1);
  hub.subscribe(1, "orders", &s2);
  hub.subscribe(1, "orders", &s3);
  hub.subscribe(1, "quiet", &s1);
  std::map<std::string, std::size_t> got;
  int calls = 0;
  gather_channel_subscribers(hub, [&](std::map<std::string, std::size_t> channels) {
    got = std::move(channels);
    ++calls;
  });
  EXPECT_EQ(calls, 0) << "nothing is read before the shards run";
  std::thread other([&] { b.run(); });  // one shard on another thread, as in the server
  a.run();
  other.join();
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(got, (std::map<std::string, std::size_t>{{"orders", 3}, {"quiet", 1}}));
}

class AdminOverviewStore : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kabar-admin-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    StoreOptions options;
    options.data_dir = dir_;
    store_ = std::make_unique<EventStore>(options);
  }
  void TearDown() override {
    store_->close();
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
  std::unique_ptr<EventStore> store_;
};

TEST_F(AdminOverviewStore, TheDocumentHoldsTheNodesTheChannelsTheDeadLettersAndTheStore) {
  store_->record_dead_letter("kabar/c/bad", std::string(600, 'x'), "not an envelope: not JSON");
  store_->record_dead_letter("kabar/c/worse", "<b>", "no route");
  AdminDoor door;
  door.this_node = [] { return AdminNode{"node-a", 1000, {{"ws", 2}, {"sse", 1}, {"pusher", 0}}}; };
  door.other_nodes = [] {
    return std::vector<AdminNode>{{"node-b", 2000, {{"ws", 1}, {"sse", 4}}}, {"node-old", 0, {}}};
  };
  door.retention = {3600, 50};
  const json overview =
      json::parse(overview_json(door, *store_, {{"quiet", 1}, {"busy", 5}, {"also-one", 1}}));
  EXPECT_EQ(overview["node"]["name"], "node-a");
  EXPECT_EQ(overview["cluster"]["nodes"].size(), 3u);
  EXPECT_EQ(overview["cluster"]["nodes"][0]["self"], true);
  EXPECT_EQ(overview["cluster"]["nodes"][1]["self"], false);
  EXPECT_EQ(overview["cluster"]["connections"], json::parse(R"({"ws":3,"sse":5,"pusher":0})"));
  EXPECT_EQ(overview["channels"]["total"], 3);
  EXPECT_EQ(overview["channels"]["subscriptions"], 7);
  EXPECT_EQ(overview["channels"]["busiest"][0]["channel"], "busy");
  EXPECT_EQ(overview["channels"]["busiest"][1]["channel"], "also-one");  // ties by name
  const json& letters = overview["dead_letters"]["latest"];
  ASSERT_EQ(letters.size(), 2u);
  EXPECT_EQ(letters[0]["topic"], "kabar/c/worse");  // newest first
  EXPECT_EQ(letters[0]["payload"], "<b>");
  EXPECT_EQ(letters[1]["reason"], "not an envelope: not JSON");
  EXPECT_EQ(letters[1]["payload"].get<std::string>().size(), kAdminPayloadShown);
  EXPECT_EQ(letters[1]["payload_bytes"], 600);
  EXPECT_EQ(letters[1]["truncated"], true);
  EXPECT_EQ(overview["store"]["epoch"], store_->epoch());
  EXPECT_EQ(overview["store"]["head"], store_->epoch() + ":0");
  EXPECT_EQ(overview["store"]["retention"], json::parse(R"({"max_age_s":3600,"max_per_channel":50})"));
}

}  // namespace
}  // namespace kabar
