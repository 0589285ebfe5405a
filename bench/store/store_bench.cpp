// kabar-storebench: the store's two targets (docs/architecture.md "Targets to design for"), each measured
// beside a peer in the same run, on the same file:
//
//  * ingest -> committed. "bridge": one producer calling append() and waiting for its commit before the
//    next event, as an MQTT session's arrival callback does (bridge/ingest.h). "group": many appends in
//    flight at once (append_async), so the writer's group commit batches them. Peer: "autocommit",
//    the same inserts on a plain SQLite connection in WAL mode with one transaction per event.
//  * replay of M missed events of one channel, in replay pages (limit = the gateway's replay_page),
//    first from a store that holds only those M, then from one that holds H events over C channels.
//    Peer: "scan", one pass over the log with every index forbidden (NOT INDEXED, and +seq so that not
//    even the rowid range is used): a history that is walked from the start to find where the client
//    left off, as Mercure's history lookup is.
//
// Output: one JSON object per measurement on stdout, and a summary table on stderr.
#include <SQLiteCpp/Database.h>
#include <SQLiteCpp/Statement.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <string>
#include <vector>

#include "gateway/store/event_store.h"

namespace {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using kabar::Envelope;
using kabar::EventStore;
using kabar::StoreOptions;

struct Options {
  fs::path dir = "/tmp/kabar-storebench";
  std::size_t history = 1000000;  // H: events stored for the large-history replay
  std::size_t channels = 100;     // C: channels they are spread over
  std::size_t missed = 10000;     // M: events one client missed
  std::size_t serial = 20000;     // events of the "bridge" ingest run
  std::size_t page = 500;         // replay page (gateway default: http.replay_page)
  std::size_t repeats = 5;        // replays timed per case; the median is reported
};

double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// ~200 bytes of data, like a takings update.
Envelope event(std::size_t n, std::size_t channel, const std::string& tag) {
  Envelope envelope;
  envelope.id = tag + "-" + std::to_string(n);
  envelope.event = "omset.updated";
  envelope.channel = "private-cabang." + std::to_string(channel);
  envelope.data = R"({"omset_total":)" + std::to_string(1000 * n) +
                  R"(,"omset_bpjs":0,"omset_umum":0,"jumlah_transaksi":)" + std::to_string(n) +
                  R"(,"transaksi_terakhir":[{"id":1,"total":150000,"nama":"pelanggan"}],"pad":"xxxxxxxxxxxxxxxx"})";
  envelope.time_ms = 1700000000000 + static_cast<std::int64_t>(n);
  envelope.topic = "cabang/" + std::to_string(channel) + "/omset";
  return envelope;
}

StoreOptions store_options(const fs::path& dir) {
  StoreOptions options;
  options.data_dir = dir;
  options.retention_max_age = std::chrono::seconds(0);  // keep everything: the history is the point
  options.retention_max_per_channel = 0;
  return options;
}

void report(const std::string& name, double value, const std::string& unit, const std::string& note) {
  std::printf(R"({"measure":"%s","value":%.3f,"unit":"%s","note":"%s"})" "\n", name.c_str(), value, unit.c_str(),
              note.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "  %-34s %12.2f %-9s %s\n", name.c_str(), value, unit.c_str(), note.c_str());
}

// Appends `count` events round-robin over `channels`, all in flight at once (the group-commit path).
double fill(EventStore& store, std::size_t first, std::size_t count, std::size_t channels, const std::string& tag) {
  const auto start = Clock::now();
  constexpr std::size_t kWindow = 20000;  // bounded memory for the futures
  for (std::size_t done = 0; done < count;) {
    std::vector<std::future<kabar::AppendResult>> pending;
    const std::size_t batch = std::min(kWindow, count - done);
    pending.reserve(batch);
    for (std::size_t i = 0; i < batch; ++i, ++done)
      pending.push_back(store.append_async(event(first + done, (first + done) % channels, tag)));
    for (auto& result : pending) result.get();
  }
  return ms_since(start);
}

double ingest_bridge(EventStore& store, std::size_t count) {
  const auto start = Clock::now();
  for (std::size_t n = 0; n < count; ++n) store.append(event(n, n % 10, "serial"));
  return ms_since(start);
}

// The peer: one INSERT per transaction on an ordinary WAL connection, the same row layout.
double ingest_autocommit(const fs::path& dir, std::size_t count) {
  fs::create_directories(dir);
  SQLite::Database db((dir / "autocommit.db").string(), SQLite::OPEN_READWRITE | SQLite::OPEN_CREATE);
  db.exec("PRAGMA journal_mode = WAL");
  db.exec("PRAGMA synchronous = NORMAL");
  db.exec(
      "CREATE TABLE events(seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, channel TEXT NOT NULL, event TEXT NOT "
      "NULL, data TEXT NOT NULL, time_ms INTEGER NOT NULL, topic TEXT NOT NULL);"
      "CREATE INDEX events_by_channel ON events(channel)");
  SQLite::Statement insert(db, "INSERT INTO events(id, channel, event, data, time_ms, topic) VALUES(?,?,?,?,?,?)");
  const auto start = Clock::now();
  for (std::size_t n = 0; n < count; ++n) {
    const Envelope e = event(n, n % 10, "auto");
    insert.bind(1, e.id);
    insert.bind(2, e.channel);
    insert.bind(3, e.event);
    insert.bind(4, e.data);
    insert.bind(5, e.time_ms);
    insert.bind(6, e.topic);
    insert.exec();
    insert.reset();
  }
  return ms_since(start);
}

// The seq `missed` events before the channel's newest one.
std::int64_t cursor_for(EventStore& store, const std::string& channel, std::size_t missed) {
  std::vector<std::int64_t> seqs;
  for (std::int64_t after = 0;;) {
    auto page = store.read_after({channel}, after, 100000);
    if (page.empty()) break;
    for (const auto& stored : page) seqs.push_back(stored.seq);
    after = page.back().seq;
  }
  if (seqs.size() <= missed) return 0;
  return seqs[seqs.size() - missed - 1];
}

// Replays through EventStore::read_after in pages, as the gateway's catch-up does; checks the count.
double replay_indexed(EventStore& store, const std::string& channel, std::int64_t cursor, std::size_t expect,
                      std::size_t page) {
  const auto start = Clock::now();
  std::size_t got = 0;
  for (std::int64_t after = cursor;;) {
    auto events = store.read_after({channel}, after, page);
    got += events.size();
    if (events.size() < page) break;
    after = events.back().seq;
  }
  const double elapsed = ms_since(start);
  if (got != expect) {
    std::fprintf(stderr, "replay returned %zu events, expected %zu\n", got, expect);
    std::exit(1);
  }
  return elapsed;
}

// One pass over the whole log, as a history without a per-channel index has to make: every stored
// event is looked at, those of the channel after the cursor are read.
double replay_scan(const fs::path& db_file, const std::string& channel, std::int64_t cursor, std::size_t expect) {
  SQLite::Database db(db_file.string(), SQLite::OPEN_READONLY);
  SQLite::Statement query(db,
                          "SELECT seq, id, channel, event, data, socket_id, time_ms, topic, app FROM events NOT "
                          "INDEXED WHERE channel = ?1 AND +seq > ?2 ORDER BY seq");
  const auto start = Clock::now();
  query.bind(1, channel);
  query.bind(2, static_cast<std::int64_t>(cursor));
  std::size_t got = 0;
  while (query.executeStep()) {
    const std::string data = query.getColumn(4).getString();  // read the payload, as a replay must
    (void)data;
    ++got;
  }
  const double elapsed = ms_since(start);
  if (got != expect) {
    std::fprintf(stderr, "scan returned %zu events, expected %zu\n", got, expect);
    std::exit(1);
  }
  return elapsed;
}

struct ReplayCase {
  double indexed_ms, scan_ms;
};

// A store with `older` events round-robin over the channels, then the M+1 newest events of channel 1
// (the client saw the first of them); times the replay of the M it missed, both ways.
ReplayCase replay_case(const fs::path& dir, std::size_t older, const Options& options) {
  EventStore store(store_options(dir));
  if (older > 0) {
    const double fill_ms = fill(store, 0, older, options.channels, "old");
    report("fill_rate", older / fill_ms * 1000, "events/s", "group commit while filling the older history");
  }
  fill(store, older, options.missed + 1, 1, "recent");  // channel "private-cabang.0"
  const std::string channel = "private-cabang.0";
  const std::int64_t cursor = cursor_for(store, channel, options.missed);
  std::vector<double> indexed, scan;
  for (std::size_t i = 0; i < options.repeats; ++i) {
    indexed.push_back(replay_indexed(store, channel, cursor, options.missed, options.page));
    scan.push_back(replay_scan(dir / "kabar.db", channel, cursor, options.missed));
  }
  store.close();
  return {median(indexed), median(scan)};
}

Options parse(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--dir") options.dir = value;
    else if (flag == "--history") options.history = std::stoul(value);
    else if (flag == "--channels") options.channels = std::stoul(value);
    else if (flag == "--missed") options.missed = std::stoul(value);
    else if (flag == "--serial") options.serial = std::stoul(value);
    else if (flag == "--page") options.page = std::stoul(value);
    else if (flag == "--repeats") options.repeats = std::stoul(value);
    else {
      std::fprintf(stderr, "kabar-storebench: unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  if (argc % 2 == 0) {
    std::fprintf(stderr,
                 "usage: kabar-storebench [--dir D] [--history H] [--channels C] [--missed M] [--serial N] "
                 "[--page P] [--repeats R]\n");
    std::exit(2);
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = parse(argc, argv);
  fs::remove_all(options.dir);
  const std::string scale = std::to_string(options.history) + " events over " + std::to_string(options.channels) +
                            " channels, " + std::to_string(options.missed) + " missed";
  std::fprintf(stderr, "kabar-storebench: %s, in %s\n", scale.c_str(), options.dir.c_str());

  {  // ingest: the bridge's serial path, group commit, and the autocommit peer, on fresh files
    EventStore store(store_options(options.dir / "serial"));
    const double bridge_ms = ingest_bridge(store, options.serial);
    report("ingest_bridge_serial", options.serial / bridge_ms * 1000, "events/s", "append() per event, waits for commit");
    const double group_ms = fill(store, 0, 200000, 10, "group");
    report("ingest_group_commit", 200000 / group_ms * 1000, "events/s", "200000 appends in flight (append_async)");
    const double auto_ms = ingest_autocommit(options.dir / "peer", options.serial);
    report("ingest_peer_autocommit", options.serial / auto_ms * 1000, "events/s", "one transaction per INSERT");
  }

  // Replay of the M events one client missed, from a store that holds just them, then from one that
  // holds H events: H - M older ones over C channels, then the client's M.
  const ReplayCase small = replay_case(options.dir / "replay-small", 0, options);
  report("replay_small_history_indexed", small.indexed_ms, "ms", std::to_string(options.missed + 1) + " stored");
  report("replay_small_history_scan", small.scan_ms, "ms", std::to_string(options.missed + 1) + " stored, full scan");
  const std::size_t older = options.history > options.missed + 1 ? options.history - options.missed - 1 : 0;
  const ReplayCase large = replay_case(options.dir / "replay-large", older, options);
  report("replay_large_history_indexed", large.indexed_ms, "ms", std::to_string(older + options.missed + 1) + " stored");
  report("replay_large_history_scan", large.scan_ms, "ms", std::to_string(older + options.missed + 1) + " stored, full scan");
  fs::remove_all(options.dir);
  return 0;
}
