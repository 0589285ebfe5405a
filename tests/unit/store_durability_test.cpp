// Architecture promise 1 at the store's level: once append() has returned, the event survives kill -9
// of the process (WAL, synchronous=NORMAL). A child process appends and reports each acknowledged seq
// through a pipe; the parent kills it mid-stream and checks the reopened store holds every one.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <random>

#include "gateway/store/event_store.h"

namespace kabar {
namespace {

namespace fs = std::filesystem;

class TempDir {
 public:
  TempDir() {
    path_ = fs::temp_directory_path() / ("kabar-store-durability-test-" + std::to_string(::getpid()) + "-" +
                                         std::to_string(std::random_device{}()));
  }
  ~TempDir() {
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

StoreOptions options_for(const fs::path& dir) {
  StoreOptions options;
  options.data_dir = dir;
  options.retention_interval = std::chrono::milliseconds(0);
  return options;
}

// Child: append forever, writing each acknowledged seq to `ack_fd`. Never returns.
[[noreturn]] void append_until_killed(const fs::path& dir, int ack_fd) {
  EventStore store(options_for(dir));
  for (int i = 0;; ++i) {
    Envelope envelope;
    envelope.id = "kill-" + std::to_string(i);
    envelope.event = "test.happened";
    envelope.channel = i % 2 ? "a" : "b";
    envelope.data = R"({"i":)" + std::to_string(i) + "}";
    const std::int64_t seq = store.append(std::move(envelope)).seq;
    if (::write(ack_fd, &seq, sizeof seq) != sizeof seq) ::_exit(2);
  }
}

TEST(StoreDurability, AcknowledgedAppendsSurviveKill9) {
  TempDir dir;
  int acks[2];
  ASSERT_EQ(::pipe(acks), 0);
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(acks[0]);
    append_until_killed(dir.path(), acks[1]);
  }
  ::close(acks[1]);

  std::vector<std::int64_t> acknowledged;
  std::int64_t seq = 0;
  while (acknowledged.size() < 300 && ::read(acks[0], &seq, sizeof seq) == sizeof seq)
    acknowledged.push_back(seq);
  ASSERT_EQ(::kill(child, SIGKILL), 0);
  int status = 0;
  ::waitpid(child, &status, 0);
  // Acks written before the kill are still in the pipe.
  while (::read(acks[0], &seq, sizeof seq) == sizeof seq) acknowledged.push_back(seq);
  ::close(acks[0]);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child should have been killed, status " << status;
  ASSERT_GE(acknowledged.size(), 300u);

  EventStore store(options_for(dir.path()));
  const auto stored = store.read_after({"a", "b"}, 0, 1000000);
  std::vector<std::int64_t> stored_seqs;
  for (const auto& event : stored) stored_seqs.push_back(event.seq);
  // Every acknowledged event is there, in order; at most the one in flight at the kill comes on top.
  ASSERT_GE(stored_seqs.size(), acknowledged.size());
  EXPECT_TRUE(std::equal(acknowledged.begin(), acknowledged.end(), stored_seqs.begin()));
  EXPECT_LE(stored_seqs.size(), acknowledged.size() + 1);
  EXPECT_GT(store.append(Envelope{"after-restart", "e", "a", "{}", "", 0, "", ""}).seq, stored_seqs.back());
}

}  // namespace
}  // namespace kabar
