// plugin_opt_state_file: the persistent sessions' identities across a broker restart (format:
// state_file_format.h; why: docs/authorization.md "Offline sessions after a broker restart").
//
// * Loaded at init: every token is verified again (signature, exp, iss/aud with today's settings): bad
//   or expired ones are dropped; "internal" entries only count when internal credentials are
//   configured. An unreadable, oversized or corrupt file is logged and the plugin starts with nothing
//   restored: the broker always starts.
// * Written when the set of persistent identities changed, at most once a second (from the tick), and
//   at cleanup: a temporary file in the same folder, 0600, fsync, rename over the old one, fsync of the
//   folder, so a crash leaves the old file or the new one, never half of one.
// The file holds bearer tokens: it is as secret as mosquitto's own persistence file (which holds the
// payloads) and lives next to it, readable by the broker's user only.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "broker-config/plugin/plugin_state.h"
#include "broker-config/plugin/state_file_format.h"

namespace kabar::plugin {
namespace {

constexpr auto kWriteEvery = std::chrono::seconds(1);   // debounce of the tick's writes
constexpr auto kRetryAfter = std::chrono::seconds(5);   // after a failed write

std::string errno_text() { return std::strerror(errno); }

bool write_all(int fd, const std::string& text) {
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

bool write_atomically(const std::string& path, const std::string& text, std::string& error) {
  const std::string temporary = path + ".tmp";
  ::unlink(temporary.c_str());  // a leftover (or a planted link) is never written through
  const int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    error = "cannot create " + temporary + ": " + errno_text();
    return false;
  }
  const bool written = ::fchmod(fd, 0600) == 0 && write_all(fd, text) && ::fsync(fd) == 0;
  if (!written) error = "cannot write " + temporary + ": " + errno_text();
  if (::close(fd) != 0 && written) error = "cannot write " + temporary + ": " + errno_text();
  if (!error.empty() || ::rename(temporary.c_str(), path.c_str()) != 0) {
    if (error.empty()) error = "cannot rename " + temporary + " to " + path + ": " + errno_text();
    ::unlink(temporary.c_str());
    return false;
  }
  const std::string folder = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/') + 1);
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);  // the rename itself survives a power cut
    ::close(dir);
  }
  return true;
}

// The whole file, or false with the reason. A missing file is not an error (first start): `missing`.
bool read_bounded(const std::string& path, std::string& text, bool& missing, std::string& error) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) {
    missing = errno == ENOENT;
    error = errno_text();
    return false;
  }
  if (!S_ISREG(info.st_mode)) {
    error = "not a regular file";
    return false;
  }
  if (static_cast<std::size_t>(info.st_size) > state_file::kMaxFileBytes) {
    error = "larger than " + std::to_string(state_file::kMaxFileBytes) + " bytes";
    return false;
  }
  if ((info.st_mode & 077) != 0)
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "kabar-auth: plugin_opt_state_file %s holds tokens but is readable by others "
                         "(mode %03o); it is rewritten 0600",
                         path.c_str(), static_cast<unsigned>(info.st_mode & 0777));
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!in && !in.eof()) {
    error = "cannot read it";
    return false;
  }
  text = buffer.str();
  if (text.size() > state_file::kMaxFileBytes) {
    error = "it grew while being read";
    return false;
  }
  return true;
}

}  // namespace

void load_state_file(PluginState& state) {
  if (state.state_file.empty()) return;
  state.state_dirty = true;  // rewritten on the first tick: without what was dropped now
  std::string text, error;
  bool missing = false;
  if (!read_bounded(state.state_file, text, missing, error)) {
    if (missing) {
      mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: no state file %s yet: no session identities to restore",
                           state.state_file.c_str());
    } else {
      mosquitto_log_printf(MOSQ_LOG_ERR,
                           "kabar-auth: state file %s: %s; starting without restored identities (sessions "
                           "mosquitto restored get nothing queued until their clients reconnect)",
                           state.state_file.c_str(), error.c_str());
    }
    return;
  }
  const auto parsed = state_file::parse(text);
  if (!parsed.ok) {
    mosquitto_log_printf(MOSQ_LOG_ERR, "kabar-auth: state file %s: %s; starting without restored identities",
                         state.state_file.c_str(), parsed.error.c_str());
    return;
  }
  std::size_t restored = 0, internal = 0, refused = 0;
  for (const auto& identity : parsed.identities) {
    if (identity.internal) {
      if (state.internal_secret.empty()) {
        ++refused;  // no internal credentials configured: no client may be the gateway itself
        continue;
      }
      state.sessions.restore(identity.client_id, kabar::authz::Claims::anonymous(), true, "");
      ++internal;
      continue;
    }
    auto result = state.authorizer->authenticate(identity.token);
    if (!result.ok()) {
      ++refused;  // expired, or signed with a key no longer configured: never restored
      continue;
    }
    state.sessions.restore(identity.client_id, std::move(*result.claims), false, identity.token);
    ++restored;
  }
  mosquitto_log_printf(MOSQ_LOG_NOTICE,
                       "kabar-auth: state file %s: %zu session identities restored (%zu with a token, %zu "
                       "internal), %zu dropped (expired or no longer valid), %zu unreadable lines",
                       state.state_file.c_str(), restored + internal, restored, internal, refused,
                       parsed.bad_lines);
}

void save_state_file(PluginState& state, bool at_cleanup) {
  if (state.state_file.empty()) return;
  if (state.sessions.take_dirty()) state.state_dirty = true;
  const auto now = std::chrono::steady_clock::now();
  if (!at_cleanup && (!state.state_dirty || now < state.state_next_write)) return;
  std::size_t left_out = 0;
  const std::string text = state_file::serialize(state.sessions.snapshot(), left_out);
  std::string error;
  if (!write_atomically(state.state_file, text, error)) {
    // Logged once per run of failures; the identities stay in memory and the write is retried.
    if (!state.state_write_failing || at_cleanup)
      mosquitto_log_printf(MOSQ_LOG_ERR,
                           "kabar-auth: state file: %s (retrying every %llds; until it works, a broker "
                           "restart loses the identities of offline sessions)",
                           error.c_str(), static_cast<long long>(kRetryAfter.count()));
    state.state_write_failing = true;
    state.state_next_write = now + kRetryAfter;
    return;
  }
  if (state.state_write_failing)
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "kabar-auth: state file %s written again", state.state_file.c_str());
  if (left_out > 0 && !state.state_left_out_logged) {
    mosquitto_log_printf(MOSQ_LOG_WARNING,
                         "kabar-auth: state file: more than %zu persistent sessions; %zu left out (they "
                         "lose their identity at a broker restart until their clients reconnect)",
                         state_file::kMaxEntries, left_out);
    state.state_left_out_logged = true;
  }
  state.state_write_failing = false;
  state.state_dirty = false;
  state.state_next_write = now + kWriteEvery;
}

}  // namespace kabar::plugin
