// /api/history (gateway/doors/sse/history_view.h): the request's parameters, pages that follow one cursor over
// several channels, the start points and resets of the streams, the /sse token and policy, and the read
// done on a replay thread, never on the I/O thread that took the request.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "authz/token.h"
#include "gateway/doors/sse/history_view.h"
#include "gateway/http/server_context.h"
#include "gateway/hub/frame.h"
#include "gateway/hub/hub.h"

namespace kabar {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef-history";

HistoryRequest parsed(const std::string& target) {
  auto result = parse_history_request(*parse_request_target(target), 10);
  if (auto* error = std::get_if<HistoryRequestError>(&result))
    ADD_FAILURE() << target << ": " << error->message;
  return std::get<HistoryRequest>(result);
}

std::string refused(const std::string& target, std::size_t max_channels = 10) {
  auto result = parse_history_request(*parse_request_target(target), max_channels);
  if (std::holds_alternative<HistoryRequest>(result)) return "accepted";
  return std::get<HistoryRequestError>(result).code;
}

TEST(HistoryRequestParse, ChannelsSinceAndLimit) {
  const HistoryRequest request = parsed("/api/history?channel=b&channel=a&channel=b&since=latest&limit=7");
  EXPECT_EQ(request.channels, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(request.since, "latest");
  EXPECT_EQ(request.limit, 7u);

  const HistoryRequest defaults = parsed("/api/history?channel=a");
  EXPECT_EQ(defaults.since, "");
  EXPECT_EQ(defaults.limit, kHistoryDefaultLimit);
  EXPECT_EQ(parsed("/api/history?channel=a&limit=1").limit, 1u);
  EXPECT_EQ(parsed("/api/history?channel=a&limit=1000").limit, 1000u);
  EXPECT_EQ(parsed("/api/history?channel=a&limit=5000").limit, kHistoryMaxLimit)
      << "more is taken as the maximum";
  EXPECT_EQ(parsed("/api/history?channel=a&since=garbage").since, "garbage") << "a reset, not a 400";
}

TEST(HistoryRequestParse, BadChannelsAndLimitsAreRefused) {
  EXPECT_EQ(refused("/api/history"), "bad_request");
  EXPECT_EQ(refused("/api/history?channel="), "invalid_channel");
  EXPECT_EQ(refused("/api/history?channel=a%20b"), "invalid_channel");
  EXPECT_EQ(refused("/api/history?channel=a&channel=b", 1), "too_many_subscriptions");
  for (const char* limit : {"0", "-1", "x", "", "1.5", "99999999999999999999"}) {
    EXPECT_EQ(refused(std::string("/api/history?channel=a&limit=") + limit), "bad_request") << limit;
  }
}

class History : public ::testing::Test {
 protected:
  void SetUp() override { open_store(0); }

  void open_store(std::size_t keep_per_channel) {
    dir_ = std::filesystem::temp_directory_path() /
           ("kabar-history-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    StoreOptions options;
    options.data_dir = dir_;
    options.retention_max_per_channel = keep_per_channel;
    options.retention_max_age = 0s;
    options.retention_interval = 0ms;  // retention only when a test calls prune_now()
    store_ = std::make_unique<EventStore>(options);
    hub_ = std::make_unique<Hub>(std::vector<boost::asio::io_context*>{&io_}, store_->epoch());
    replay_ = std::make_unique<ReplayReader>(*store_, 1);  // one thread: a test can hold it
    context_ = std::make_unique<ServerContext>(*hub_, *replay_, *store_, SessionLimits{}, stats_);
    std::ofstream(dir_ / "jwt.secret") << kSecret;
    authz::JwtSettings jwt;
    jwt.secret_file = (dir_ / "jwt.secret").string();
    context_->authorizer = authz::Authorizer::load("", jwt);
  }

  void TearDown() override {
    replay_->stop();
    store_->close();
    std::filesystem::remove_all(dir_);
  }

  std::int64_t append(const std::string& channel, int n, std::size_t pad = 0) {
    Envelope envelope;
    envelope.id = channel + "-" + std::to_string(n);
    envelope.event = "test.event";
    envelope.channel = channel;
    envelope.data = "{\"n\":" + std::to_string(n) +
                    (pad ? ",\"pad\":\"" + std::string(pad, 'x') + "\"}" : std::string("}"));
    envelope.time_ms = 1;
    return store_->append(envelope).seq;
  }

  // A position as the store names it: with the id of the event at seq (docs/protocol.md "Positions").
  std::string at(std::int64_t seq) const { return store_->position_at(seq).to_string(); }

  json page(const std::vector<std::string>& channels, const std::string& since, std::size_t limit = 100) {
    return json::parse(read_history_page(*store_, *replay_, HistoryRequest{channels, since, limit}));
  }

  static std::vector<int> numbers(const json& answer) {
    std::vector<int> out;
    for (const auto& frame : answer.at("frames")) {
      if (frame.at("type") == "event") out.push_back(frame.at("data").at("n").get<int>());
    }
    return out;
  }

  std::string token(const std::string& role, std::optional<int> cabang = std::nullopt) {
    json claims = {{"sub", role + "-1"}, {"role", role}, {"exp", std::time(nullptr) + 3600}};
    if (cabang) claims["cabang"] = json::array({*cabang});
    return authz::sign_token(claims, authz::Algorithm::HS256, kSecret);
  }

  struct Answered {
    HistoryAnswer answer;
    std::thread::id thread;
  };
  std::future<Answered> ask(const std::string& target, const std::string& bearer = {}) {
    auto promise = std::make_shared<std::promise<Answered>>();
    auto future = promise->get_future();
    boost::beast::http::request<boost::beast::http::string_body> request{boost::beast::http::verb::get,
                                                                         target, 11};
    if (!bearer.empty()) request.set(boost::beast::http::field::authorization, "Bearer " + bearer);
    answer_history(*context_, request, *parse_request_target(target), [promise](HistoryAnswer answer) {
      promise->set_value({std::move(answer), std::this_thread::get_id()});
    });
    return future;
  }
  HistoryAnswer answer(const std::string& target, const std::string& bearer = {}) {
    auto future = ask(target, bearer);
    EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
    return future.get().answer;
  }

  std::filesystem::path dir_;
  boost::asio::io_context io_;
  GatewayStats stats_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<ReplayReader> replay_;
  std::unique_ptr<ServerContext> context_;
};

TEST_F(History, WithoutSinceThereAreNoFramesAndThePositionIsTheHead) {
  append("a", 0);
  const std::int64_t head = append("a", 1);
  const json answer = page({"a"}, "");
  EXPECT_EQ(answer, json::object({{"frames", json::array()}, {"position", at(head)}, {"more", false}}));
}

TEST_F(History, PagesFollowOneCursorOverSeveralChannelsInPositionOrder) {
  for (int n = 0; n < 25; ++n) append(n % 5 == 0 ? "other" : (n % 2 ? "a" : "b"), n);
  std::vector<int> got;
  std::string since = "earliest";
  int pages = 0;
  for (;; ++pages) {
    ASSERT_LT(pages, 10);
    const json answer = page({"a", "b"}, since, 7);
    const auto numbers_of_page = numbers(answer);
    got.insert(got.end(), numbers_of_page.begin(), numbers_of_page.end());
    since = answer.at("position").get<std::string>();
    if (!answer.at("more")) {
      EXPECT_EQ(since, at(store_->head_seq())) << "the last page ends at the head";
      break;
    }
    EXPECT_EQ(numbers_of_page.size(), 7u);
    EXPECT_EQ(answer.at("frames").back().at("position"), since) << "a cut page goes on after its last frame";
  }
  std::vector<int> expected;
  for (int n = 0; n < 25; ++n) {
    if (n % 5 != 0) expected.push_back(n);
  }
  EXPECT_EQ(got, expected);
  EXPECT_EQ(pages, 2);
  // Polling from the position: nothing new, then exactly what came since.
  EXPECT_TRUE(numbers(page({"a", "b"}, since)).empty());
  append("b", 100);
  append("c", 101);
  EXPECT_EQ(numbers(page({"a", "b"}, since)), std::vector<int>{100});
}

TEST_F(History, EventFramesAreTheStreamsFramesByteForByte) {
  append("a", 0);
  const std::string body = read_history_page(*store_, *replay_, HistoryRequest{{"a"}, "earliest", 10});
  const auto events = store_->read_after({"a"}, 0, 10);
  ASSERT_EQ(events.size(), 1u);
  const std::string frame = encode_frame(events[0], store_->epoch())->json;
  EXPECT_NE(body.find("[" + frame + "]"), std::string::npos) << body;
}

TEST_F(History, LatestGivesTheNewestEventOfEachChannelInPositionOrder) {
  append("b", 0);
  append("a", 1);
  append("a", 2);
  const std::int64_t b_newest = append("b", 3);
  const std::int64_t head = append("other", 4);
  const json answer = page({"a", "b", "empty"}, "latest");
  EXPECT_EQ(numbers(answer), (std::vector<int>{2, 3}));
  EXPECT_EQ(answer.at("frames").size(), 2u) << "no reset for the empty channel";
  EXPECT_EQ(answer.at("position"), at(head));
  EXPECT_FALSE(answer.at("more"));
  // Cut by the limit: the next page goes on from the last frame.
  const json first = page({"a", "b"}, "latest", 1);
  EXPECT_EQ(numbers(first), std::vector<int>{2});
  EXPECT_TRUE(first.at("more"));
  const json rest = page({"a", "b"}, first.at("position").get<std::string>(), 1);
  EXPECT_EQ(numbers(rest), std::vector<int>{3});
  EXPECT_EQ(rest.at("frames")[0].at("position"), at(b_newest));
}

TEST_F(History, PositionsTheHistoryDoesNotCoverGetTheStreamsResets) {
  const std::int64_t head = append("a", 0);
  for (const auto& [since, reason] :
       std::vector<std::pair<std::string, std::string>>{{"ffffffffffff:1", "epoch_changed"},
                                                        {at(head + 1000), "position_ahead"},
                                                        {"garbage", "bad_position"}}) {
    const json answer = page({"a", "b"}, since);
    json frames = json::array();
    for (const char* channel : {"a", "b"}) {
      frames.push_back(json::object(
          {{"type", "reset"}, {"channel", channel}, {"reason", reason}, {"position", at(head)}}));
    }
    const json expected = json::object({{"frames", frames}, {"position", at(head)}, {"more", false}});
    EXPECT_EQ(answer, expected) << since;
  }
}

class PrunedHistory : public History {
 protected:
  void SetUp() override { open_store(5); }
};

TEST_F(PrunedHistory, APrunedPositionGetsAResetFirstAndNoStaleEvents) {
  const std::int64_t old = append("a", 0);
  for (int n = 1; n < 20; ++n) append("a", n);
  append("b", 20);
  store_->prune_now();
  const json answer = page({"a", "b"}, at(old));
  ASSERT_GE(answer.at("frames").size(), 1u);
  const json& reset = answer.at("frames")[0];
  EXPECT_EQ(reset.at("type"), "reset");
  EXPECT_EQ(reset.at("channel"), "a");
  EXPECT_EQ(reset.at("reason"), "history_pruned");
  EXPECT_EQ(reset.at("position"), at(store_->head_seq()));
  EXPECT_EQ(numbers(answer), std::vector<int>{20}) << "the covered channel's events, none of the pruned one";
  EXPECT_EQ(answer.at("position"), at(store_->head_seq()));
  EXPECT_FALSE(answer.at("more"));
  // The next poll, from the position given, is covered: no reset again.
  append("a", 21);
  const json next = page({"a", "b"}, answer.at("position").get<std::string>());
  EXPECT_EQ(next.at("frames").size(), 1u);
  EXPECT_EQ(numbers(next), std::vector<int>{21});
  // "earliest" asks for whatever is retained: no reset.
  EXPECT_EQ(numbers(page({"a"}, "earliest")), (std::vector<int>{15, 16, 17, 18, 19, 21}));
}

TEST_F(History, APageStopsAtItsByteBudgetAndSaysMore) {
  for (int n = 0; n < 12; ++n) append("big", n, 100 * 1024);  // ~200 KiB each as the reader counts them
  const std::string body = read_history_page(*store_, *replay_, HistoryRequest{{"big"}, "earliest", 1000});
  const json answer = json::parse(body);
  EXPECT_TRUE(answer.at("more"));
  EXPECT_GE(numbers(answer).size(), 1u);
  EXPECT_LT(numbers(answer).size(), 12u);
  EXPECT_LE(body.size(), kHistoryPageBytes + 110 * 1024);
  EXPECT_EQ(answer.at("position"), answer.at("frames").back().at("position"));
}

TEST_F(History, TokenPolicyAndParametersAreCheckedBeforeAnyRead) {
  append("private-cabang.3", 0);
  HistoryAnswer bad = answer("/api/history?channel=a&limit=0");
  EXPECT_EQ(bad.status, 400u);
  EXPECT_EQ(json::parse(bad.body).at("error"), "bad_request");

  HistoryAnswer anonymous = answer("/api/history?channel=private-cabang.3&since=earliest");
  EXPECT_EQ(anonymous.status, 403u);
  const json refusal = json::parse(anonymous.body);
  EXPECT_EQ(refusal.at("error"), "forbidden_channel");
  EXPECT_EQ(refusal.at("reason"), "token_required");
  EXPECT_EQ(refusal.at("channel"), "private-cabang.3");
  EXPECT_EQ(refusal.size(), 4u) << anonymous.body;  // and a message
  EXPECT_EQ(anonymous.www_authenticate, "");

  const std::string forged_token =
      authz::sign_token({{"sub", "x"}, {"role", "kasir"}, {"exp", std::time(nullptr) + 3600}},
                        authz::Algorithm::HS256, "another-secret-another-secret-another-secret");
  HistoryAnswer forged = answer("/api/history?channel=dokumen.1", forged_token);
  EXPECT_EQ(forged.status, 401u);
  EXPECT_EQ(json::parse(forged.body).at("error"), "invalid_token");
  EXPECT_EQ(json::parse(forged.body).at("reason"), "bad_signature");
  EXPECT_EQ(forged.www_authenticate, R"(Bearer error="invalid_token")");

  HistoryAnswer other_branch =
      answer("/api/history?channel=private-cabang.3&channel=private-cabang.7", token("kasir", 3));
  EXPECT_EQ(other_branch.status, 403u);
  EXPECT_EQ(json::parse(other_branch.body).at("reason"), "claim_mismatch");
  EXPECT_EQ(json::parse(other_branch.body).at("channel"), "private-cabang.7");

  HistoryAnswer own = answer("/api/history?channel=private-cabang.3&since=earliest", token("kasir", 3));
  EXPECT_EQ(own.status, 200u) << own.body;
  EXPECT_EQ(numbers(json::parse(own.body)), std::vector<int>{0});
}

// The caller's thread only checks the request: with the replay thread held, it returns at once without
// an answer, and the answer comes from the replay thread once it is free.
TEST_F(History, TheReadRunsOnAReplayThreadNotOnTheCaller) {
  append("a", 0);
  std::promise<void> release;
  std::promise<std::thread::id> held;
  replay_->run([&, wait = release.get_future().share()] {
    held.set_value(std::this_thread::get_id());
    wait.wait();
  });
  const std::thread::id replay_thread = held.get_future().get();
  auto answered = ask("/api/history?channel=a&since=earliest");
  EXPECT_EQ(answered.wait_for(200ms), std::future_status::timeout) << "read on the caller's thread";
  release.set_value();
  ASSERT_EQ(answered.wait_for(10s), std::future_status::ready);
  const Answered result = answered.get();
  EXPECT_EQ(result.thread, replay_thread);
  EXPECT_EQ(result.answer.status, 200u);
  EXPECT_EQ(numbers(json::parse(result.answer.body)), std::vector<int>{0});
}

TEST_F(History, AStoreReadErrorAnswers503) {
  append("a", 0);
  replay_->before_read_for_tests = [](const std::vector<ChannelCursor>&) {
    throw StoreError("disk I/O error");
  };
  const HistoryAnswer failed = answer("/api/history?channel=a&since=earliest");
  EXPECT_EQ(failed.status, 503u);
  EXPECT_EQ(json::parse(failed.body).at("error"), "store_unavailable");
}

}  // namespace
}  // namespace kabar
