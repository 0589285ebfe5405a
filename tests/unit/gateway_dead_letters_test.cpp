// /api/dead-letters (gateway/doors/ops/dead_letters_view.h): pages filtered by the policy with a `next`
// cursor, payloads stored capped, and the read done on a replay thread, never on the I/O thread that
// took the request.
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
#include "gateway/doors/ops/dead_letters_view.h"
#include "gateway/http/server_context.h"
#include "gateway/hub/hub.h"

namespace kabar {
namespace {
using namespace std::chrono_literals;
using nlohmann::json;

constexpr std::string_view kSecret = "0123456789abcdef0123456789abcdef-dead-letters";

class DeadLetters : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kabar-dead-" + std::to_string(::getpid()) + "-" + std::to_string(std::random_device{}()));
    StoreOptions options;
    options.data_dir = dir_;
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

  std::string token(const std::string& role, std::optional<int> cabang = std::nullopt) {
    json claims = {{"sub", role + "-1"}, {"role", role}, {"exp", std::time(nullptr) + 3600}};
    if (cabang) claims["cabang"] = json::array({*cabang});
    return authz::sign_token(claims, authz::Algorithm::HS256, kSecret);
  }

  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  static Request get(const std::string& target, const std::string& bearer) {
    Request request{boost::beast::http::verb::get, target, 11};
    if (!bearer.empty()) request.set(boost::beast::http::field::authorization, "Bearer " + bearer);
    return request;
  }

  // The answer and the thread that gave it.
  struct Answered {
    DeadLetterAnswer answer;
    std::thread::id thread;
  };
  std::future<Answered> ask(const std::string& target, const std::string& bearer) {
    auto promise = std::make_shared<std::promise<Answered>>();
    auto future = promise->get_future();
    const auto request = get(target, bearer);
    answer_dead_letters(*context_, request, *parse_request_target(target), [promise](DeadLetterAnswer answer) {
      promise->set_value({std::move(answer), std::this_thread::get_id()});
    });
    return future;
  }

  json page(const std::string& target, const std::string& bearer) {
    auto future = ask(target, bearer);
    EXPECT_EQ(future.wait_for(10s), std::future_status::ready);
    const Answered answered = future.get();
    EXPECT_EQ(answered.answer.status, 200u) << answered.answer.body;
    return json::parse(answered.answer.body);
  }

  std::filesystem::path dir_;
  boost::asio::io_context io_;
  GatewayStats stats_;
  std::unique_ptr<EventStore> store_;
  std::unique_ptr<Hub> hub_;
  std::unique_ptr<ReplayReader> replay_;
  std::unique_ptr<ServerContext> context_;
};

TEST_F(DeadLetters, PagesFollowTheCursorAndTheTokenSeesOnlyItsTopics) {
  // 30 letters: branch 3 and branch 7 takings alternate (ids 1..30, 3 on odd ids).
  for (int i = 1; i <= 30; ++i) store_->record_dead_letter(i % 2 ? "cabang/3/omset" : "cabang/7/omset", "p" + std::to_string(i), "bad");
  const std::string boss = token("super_admin");
  json first = page("/api/dead-letters?limit=10", boss);
  ASSERT_EQ(first.at("letters").size(), 10u);
  EXPECT_EQ(first.at("letters")[0].at("id"), 30);
  EXPECT_EQ(first.at("letters")[9].at("id"), 21);
  EXPECT_EQ(first.at("next"), 21);
  json second = page("/api/dead-letters?limit=10&before=21", boss);
  EXPECT_EQ(second.at("letters")[0].at("id"), 20);
  EXPECT_EQ(second.at("next"), 11);
  json last = page("/api/dead-letters?limit=100&before=11", boss);
  EXPECT_EQ(last.at("letters").size(), 10u);
  EXPECT_TRUE(last.at("next").is_null()) << last.dump();

  // A cashier of branch 3: 15 letters, her own, in pages of 4 that are full although every other
  // letter is not hers; the cursor walks over the ones she may not see.
  const std::string kasir3 = token("kasir", 3);
  std::vector<std::int64_t> seen;
  std::string target = "/api/dead-letters?limit=4";
  for (int pages = 0; pages < 10; ++pages) {
    json p = page(target, kasir3);
    for (const auto& letter : p.at("letters")) {
      EXPECT_EQ(letter.at("topic"), "cabang/3/omset");
      seen.push_back(letter.at("id"));
    }
    if (p.at("next").is_null()) break;
    EXPECT_EQ(p.at("letters").size(), 4u);
    target = "/api/dead-letters?limit=4&before=" + std::to_string(p.at("next").get<std::int64_t>());
  }
  std::vector<std::int64_t> odd;
  for (int id = 29; id >= 1; id -= 2) odd.push_back(id);
  EXPECT_EQ(seen, odd);
}

TEST_F(DeadLetters, BadParametersAndMissingTokensAreRefusedBeforeAnyRead) {
  auto refused = [&](const std::string& target, const std::string& bearer) {
    auto future = ask(target, bearer);
    EXPECT_EQ(future.wait_for(0s), std::future_status::ready) << "answered at once, on the caller's thread";
    return future.get();
  };
  EXPECT_EQ(refused("/api/dead-letters?limit=abc", token("backend")).answer.status, 400u);
  EXPECT_EQ(refused("/api/dead-letters?limit=0", token("backend")).answer.status, 400u);
  EXPECT_EQ(refused("/api/dead-letters?before=-3", token("backend")).answer.status, 400u);
  const auto none = refused("/api/dead-letters", "");
  EXPECT_EQ(none.answer.status, 401u);
  EXPECT_EQ(none.answer.www_authenticate, "Bearer");
  EXPECT_EQ(refused("/api/dead-letters", "not.a.token").answer.status, 401u);
  // Over the maximum is clamped, not refused.
  store_->record_dead_letter("dokumen/1/updated", "x", "bad");
  EXPECT_EQ(page("/api/dead-letters?limit=5000", token("backend")).at("letters").size(), 1u);
}

TEST_F(DeadLetters, LargePayloadsAreStoredCappedWithTheirSize) {
  const std::string big(200 * 1024, 'x');
  std::string utf8(kDeadLetterPayloadMax - 1, 'a');
  utf8 += "\xC3\xA9tail";  // 'é' straddles the cap: cut before it
  store_->record_dead_letter("dokumen/1/updated", big, "too big");
  store_->record_dead_letter("dokumen/2/updated", utf8, "bad");
  store_->record_dead_letter("dokumen/3/updated", "small", "bad");
  const auto letters = store_->dead_letters(3);
  ASSERT_EQ(letters.size(), 3u);
  EXPECT_EQ(letters[2].payload, big.substr(0, kDeadLetterPayloadMax));
  EXPECT_EQ(letters[2].payload_bytes, static_cast<std::int64_t>(big.size()));
  EXPECT_TRUE(letters[2].truncated());
  EXPECT_EQ(letters[1].payload, utf8.substr(0, kDeadLetterPayloadMax - 1));
  EXPECT_TRUE(letters[1].truncated());
  EXPECT_EQ(letters[0].payload, "small");
  EXPECT_FALSE(letters[0].truncated());
  json answer = page("/api/dead-letters", token("super_admin"));
  EXPECT_EQ(answer.at("letters")[2].at("payload_bytes"), big.size());
  EXPECT_EQ(answer.at("letters")[2].at("truncated"), true);
  EXPECT_EQ(answer.at("letters")[2].at("payload").get<std::string>().size(), kDeadLetterPayloadMax);
  EXPECT_EQ(answer.at("letters")[0].at("truncated"), false);
}

TEST_F(DeadLetters, APageStopsAtItsByteBudgetAndSaysWhereToGoOn) {
  const std::size_t per_page = kDeadLettersPageBytes / kDeadLetterPayloadMax;
  for (std::size_t i = 0; i < per_page + 5; ++i) store_->record_dead_letter("dokumen/1/updated", std::string(kDeadLetterPayloadMax, 'y'), "bad");
  json first = page("/api/dead-letters?limit=1000", token("super_admin"));
  EXPECT_EQ(first.at("letters").size(), per_page);
  EXPECT_EQ(first.at("next"), first.at("letters").back().at("id"));
  json rest = page("/api/dead-letters?limit=1000&before=" + first.at("next").dump(), token("super_admin"));
  EXPECT_EQ(rest.at("letters").size(), 5u);
  EXPECT_TRUE(rest.at("next").is_null());
}

// The I/O thread only checks the request and the token: the read runs on a replay thread, so a shard
// keeps serving its connections while a large page is read. Here the one replay thread is held: the
// request returns at once without an answer, the caller's io_context runs other work meanwhile, and the
// answer comes from the replay thread once it is free.
TEST_F(DeadLetters, TheReadRunsOnAReplayThreadNotOnTheCaller) {
  store_->record_dead_letter("dokumen/1/updated", "x", "bad");
  std::promise<void> release;
  std::promise<std::thread::id> held;
  replay_->run([&, wait = release.get_future().share()] {
    held.set_value(std::this_thread::get_id());
    wait.wait();
  });
  const std::thread::id replay_thread = held.get_future().get();

  auto answered = ask("/api/dead-letters", token("super_admin"));
  EXPECT_EQ(answered.wait_for(200ms), std::future_status::timeout) << "read on the caller's thread";
  bool healthz = false;
  boost::asio::post(io_, [&] { healthz = true; });  // the shard's other work goes on
  io_.run_for(1s);
  EXPECT_TRUE(healthz);
  release.set_value();
  ASSERT_EQ(answered.wait_for(10s), std::future_status::ready);
  const Answered result = answered.get();
  EXPECT_EQ(result.thread, replay_thread);
  EXPECT_NE(result.thread, std::this_thread::get_id());
  EXPECT_EQ(json::parse(result.answer.body).at("letters").size(), 1u);
}

}  // namespace
}  // namespace kabar
