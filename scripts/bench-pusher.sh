#!/usr/bin/env bash
# Benchmarks kabar's Pusher door (docs/benchmarks.md, "The Pusher path") against laravel-echo-server,
# the Node server Laravel apps used before Reverb, in one run with one load generator (kabar-loadgen):
#   - fan-out to SUBS Pusher-protocol clients of one public channel (kabar /app/{key}) and SUBS
#     Socket.IO 2 clients (laravel-echo-server), a steady RATE then a BURST;
#   - publish -> receive latency, for kabar via its signed Pusher REST API, kabar via MQTT (the
#     embedded broker), and laravel-echo-server via its HTTP API (POST /apps/{id}/events);
#   - server CPU per delivered event (utime+stime of the server process only, /proc/PID/stat; kabar's
#     embedded mosquitto is reported beside it) and server RSS per idle connection.
# Starts kabar (with its embedded mosquitto), redis-server (if installed: laravel-echo-server's
# database) and laravel-echo-server on free ports, a fresh process for every run, and stops every
# process it started, by pid, also on error or Ctrl-C. Writes bench/results/pusher-latest.md (+ .jsonl).
#
#   scripts/bench-pusher.sh            full run (about 2 minutes on 2 cores)
#   scripts/bench-pusher.sh --quick    small sizes, about a minute (smoke test of the harness)
#
# Needs: kabar and kabar-loadgen built (cmake --build BUILD_DIR --target kabar kabar-loadgen), node, and
# laravel-echo-server installed with `npm --prefix bench/peers ci`.
# Environment: BUILD_DIR (default build/), KABAR_BIN, LOADGEN_BIN, NODE_BIN, REDIS_BIN (redis-server;
# "none": run laravel-echo-server without Redis), PORT_BASE (19830: first port tried), SUBS (1000),
# RATE (20 events/s), DURATION (20 s), BURST (200), DRAIN (40 s), IDLE_CONNS (SUBS), IDLE_MAX (10000;
# 0 = skip), THREADS (2), PUBLISH_CONNS (4: keep-alive connections of the REST publisher),
# QUIET_WAIT (60), QUIET_WAIT_RUN (15), NICE (-10 as root), BUDGET (600 s), OUT_DIR (bench/results),
# KABAR_SOURCE (what KABAR_BIN was built from, for the report; default: git describe of this tree).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
KABAR_BIN=${KABAR_BIN:-$BUILD_DIR/kabar}
LOADGEN_BIN=${LOADGEN_BIN:-$BUILD_DIR/kabar-loadgen}
NODE_BIN=${NODE_BIN:-$(command -v node || echo /usr/bin/node)}
REDIS_BIN=${REDIS_BIN:-$(command -v redis-server || echo none)}
ECHO_SERVER_JS=$ROOT/bench/peers/node_modules/laravel-echo-server/bin/server.js
PORT_BASE=${PORT_BASE:-19830}
SUBS=${SUBS:-1000}
RATE=${RATE:-20}
DURATION=${DURATION:-20}
BURST=${BURST:-200}
DRAIN=${DRAIN:-40}
IDLE_CONNS=${IDLE_CONNS:-$SUBS}
IDLE_MAX=${IDLE_MAX:-10000}
THREADS=${THREADS:-2}
PUBLISH_CONNS=${PUBLISH_CONNS:-4}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_WAIT_RUN=${QUIET_WAIT_RUN:-15}
NICE=${NICE:--10}
BUDGET=${BUDGET:-600}
OUT_DIR=${OUT_DIR:-$ROOT/bench/results}
[[ $(id -u) == 0 ]] || NICE=0

for arg in "$@"; do
  case "$arg" in
    --quick) SUBS=200 RATE=20 DURATION=3 BURST=50 IDLE_CONNS=500 IDLE_MAX=0 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-pusher.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

# One app, the same id/key on both servers; the secret signs kabar's REST requests.
APP_ID=bench
APP_KEY=bench-key
APP_SECRET=bench-secret
CHANNEL=dokumen.1        # public; kabar's built-in route maps MQTT dokumen/1/updated to it
TOPIC=dokumen/1/updated

WORK=$(mktemp -d /tmp/kabar-bench-pusher.XXXXXX)
RESULTS=$WORK/results.jsonl
COMMANDS=$WORK/commands.txt
KABAR_PID="" BROKER_PID="" ECHO_PID="" REDIS_PID=""
FAILED=0
START_SECONDS=$SECONDS

log() { printf '[bench-pusher %3ds] %s\n' $((SECONDS - START_SECONDS)) "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes (stopped by pid only)

source "$ROOT/scripts/lib/processes.sh"  # stop_pid, port_open, wait_port

stop_kabar() {  # kabar stops its embedded broker; the broker's pid is checked in case it did not
  stop_pid "$KABAR_PID"
  [[ -n "$BROKER_PID" ]] && kill -0 "$BROKER_PID" 2>/dev/null && kill -TERM "$BROKER_PID" 2>/dev/null
  KABAR_PID="" BROKER_PID=""
}

cleanup() {
  stop_pid "$ECHO_PID"
  stop_pid "$REDIS_PID"
  stop_kabar
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The first port from $1 up that nothing listens on (and that this script has not handed out).
TAKEN=" "
free_port() {
  local p=$1
  while port_open "$p" || [[ $TAKEN == *" $p "* ]]; do p=$((p + 1)); done
  TAKEN+="$p "
  echo "$p"
}

start_kabar() {  # a fresh kabar with its embedded mosquitto, new data directory
  stop_kabar
  local dir=$WORK/kabar-data-$RANDOM
  mkdir -p "$dir"
  cat >"$WORK/kabar.json" <<EOF
{"http":{"listen":"127.0.0.1","port":$HTTP_PORT,"send_queue_max_frames":65536},
 "broker":{"embedded":true,"host":"127.0.0.1","port":$MQTT_PORT,"client_id":"kabar-bench"},
 "store":{"data_dir":"$dir"},"log":{"level":"warn"},
 "apps":[{"id":"$APP_ID","key":"$APP_KEY","secret":"$APP_SECRET"}]}
EOF
  nice -n "$NICE" "$KABAR_BIN" serve --config "$WORK/kabar.json" >>"$WORK/kabar.log" 2>&1 &
  KABAR_PID=$!
  for _ in $(seq 300); do  # 15 s: broker started, store open, MQTT session subscribed
    if curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/readyz"; then
      BROKER_PID=$(pgrep -P "$KABAR_PID" mosquitto | head -1 || true)
      return 0
    fi
    kill -0 "$KABAR_PID" 2>/dev/null || break
    sleep 0.05
  done
  die "kabar did not become ready: $(tail -5 "$WORK/kabar.log")"
}

start_redis() {
  [[ $REDIS_BIN == none ]] && return 0
  nice -n "$NICE" "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
    >>"$WORK/redis.log" 2>&1 &
  REDIS_PID=$!
  wait_port "$REDIS_PORT" 10 || die "redis-server did not start: $(tail -3 "$WORK/redis.log")"
}

# laravel-echo-server as its README sets it up, for public channels: the http subscriber on (the API
# Laravel's Pusher broadcaster can post to), the redis subscriber off (no Laravel here), Redis as its
# database (it holds presence members only). Without Redis it still serves public channels but its
# Redis client retries in the background, so that mode is only a fallback (REDIS_BIN=none).
start_echo() {
  stop_pid "$ECHO_PID"
  local database=redis
  [[ $REDIS_BIN == none ]] && database=none
  cat >"$WORK/laravel-echo-server.json" <<EOF
{"authHost":"http://127.0.0.1:9","authEndpoint":"/broadcasting/auth",
 "clients":[{"appId":"$APP_ID","key":"$APP_KEY"}],
 "database":"$database","databaseConfig":{"redis":{"host":"127.0.0.1","port":$REDIS_PORT}},
 "devMode":false,"host":"127.0.0.1","port":"$ECHO_PORT","protocol":"http","socketio":{},
 "subscribers":{"http":true,"redis":false},"apiOriginAllow":{"allowCors":false}}
EOF
  NODE_ENV=production nice -n "$NICE" "$NODE_BIN" "$ECHO_SERVER_JS" start --config="$WORK/laravel-echo-server.json" \
    >>"$WORK/echo.log" 2>&1 &
  ECHO_PID=$!
  for _ in $(seq 200); do  # 10 s
    curl -sf -o /dev/null "http://127.0.0.1:$ECHO_PORT/socket.io/?EIO=3&transport=polling" && return 0
    kill -0 "$ECHO_PID" 2>/dev/null || break
    sleep 0.05
  done
  die "laravel-echo-server did not start: $(tail -5 "$WORK/echo.log")"
}

# ---------------------------------------------------------------- scenarios

loadgen() {  # loadgen ARGS...: one JSON line to $RESULTS, the summary to the terminal
  local args=("$@" --threads "$THREADS" --channel "$CHANNEL" --topic "$TOPIC" --mqtt-port "$MQTT_PORT"
              --app-id "$APP_ID" --app-key "$APP_KEY" --app-secret "$APP_SECRET" --publish-conns "$PUBLISH_CONNS")
  local rc=0 left=$((BUDGET - (SECONDS - START_SECONDS)))
  if ((left < 30)); then
    FAILED=$((FAILED + 1))
    log "skipped (time budget of ${BUDGET}s used up): kabar-loadgen $*"
    return 0
  fi
  { printf 'kabar-loadgen'; printf ' %q' "${args[@]}"; echo; } >>"$COMMANDS"
  nice -n "$NICE" timeout --kill-after=5 $((left < 190 ? left - 10 : 180)) "$LOADGEN_BIN" "${args[@]}" \
    >>"$RESULTS" 2> >(tee -a "$WORK/loadgen.log" >&2) || rc=$?
  if [[ $rc != 0 ]]; then
    FAILED=$((FAILED + 1))
    log "loadgen exited with $rc (see the JSON line and the message above)"
  fi
}

fanout() {  # kind publish label port pid [more loadgen flags]
  log "fan-out: $3, $SUBS subscribers, $RATE events/s for ${DURATION}s, then a burst of $BURST"
  loadgen fanout --kind "$1" --publish "$2" --label "$3" --port "$4" --server-pid "$5" --subs "$SUBS" \
    --rate "$RATE" --duration "$DURATION" --burst "$BURST" --drain "$DRAIN" "${@:6}"
}

# Each run on a freshly started server. laravel-echo-server first, then kabar with each way in.
fanout_round() {
  start_echo
  wait_quiet_briefly
  fanout socketio rest "laravel-echo-server (HTTP API)" "$ECHO_PORT" "$ECHO_PID"
  stop_pid "$ECHO_PID"
  local via
  for via in rest mqtt; do
    start_kabar
    wait_quiet_briefly
    fanout pusher "$via" "kabar Pusher (${via^^} publish)" "$HTTP_PORT" "$KABAR_PID" ${BROKER_PID:+--aux-pid "$BROKER_PID"}
  done
  stop_kabar
}

# Idle memory: N subscribed connections on a fresh server; RSS growth / N. The verification event goes
# through each server's HTTP API.
idle_round() {
  local n
  for n in $IDLE_CONNS $IDLE_MAX; do
    [[ $n == 0 ]] && continue
    start_echo
    log "idle: laravel-echo-server, $n connections"
    loadgen idle --kind socketio --publish rest --label "laravel-echo-server" --port "$ECHO_PORT" \
      --server-pid "$ECHO_PID" --conns "$n"
    stop_pid "$ECHO_PID"
    start_kabar
    log "idle: kabar Pusher, $n connections"
    loadgen idle --kind pusher --publish rest --label "kabar Pusher" --port "$HTTP_PORT" --server-pid "$KABAR_PID" \
      --conns "$n"
    stop_kabar
  done
}

# ---------------------------------------------------------------- machine load

source "$ROOT/scripts/lib/machine-load.sh"  # busy_pct, wait_quiet, wait_quiet_briefly

# ---------------------------------------------------------------- report

machine_info() {
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, Linux $(uname -r); the servers, the broker and the loadgen share these cores"
  echo "- RLIMIT_NOFILE: $(ulimit -Sn) soft / $(ulimit -Hn) hard; benchmark processes at nice $NICE"
  echo "- kabar: $("$KABAR_BIN" --version 2>&1 | head -1), embedded $(/usr/sbin/mosquitto -h 2>&1 | head -1)"
  echo "- laravel-echo-server $(cd "$ROOT/bench/peers" && "$NODE_BIN" -p 'require("laravel-echo-server/package.json").version') (socket.io $(cd "$ROOT/bench/peers" && "$NODE_BIN" -p 'require("socket.io/package.json").version')) on Node $("$NODE_BIN" --version), NODE_ENV=production; database: $([[ $REDIS_BIN == none ]] && echo 'none (no Redis)' || "$REDIS_BIN" --version | cut -d' ' -f1-3)"
  echo "- kabar built from: ${KABAR_SOURCE:-$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no commit yet')}; loadgen (bench/) at $(git -C "$ROOT" log -1 --format=%h -- bench 2>/dev/null)$(git -C "$ROOT" diff --quiet -- bench 2>/dev/null || echo ' + uncommitted changes')"
  echo "- other work on the machine: ${BUSY_BEFORE}% of all cores busy just before the run; per phase see \"other processes\" below"
}

write_report() {
  mkdir -p "$OUT_DIR"
  {
    echo "# kabar Pusher path vs laravel-echo-server: latest run"
    echo
    echo "Written by scripts/bench-pusher.sh on $(date -u '+%Y-%m-%d %H:%M UTC') in $((SECONDS - START_SECONDS)) s. Method and caveats: docs/benchmarks.md (\"The Pusher path\")."
    echo
    machine_info
    echo "- fan-out: $SUBS subscribers of public channel $CHANNEL; steady $RATE events/s for ${DURATION} s, then $BURST events back to back; publish: kabar REST (Pusher-signed POST, $PUBLISH_CONNS keep-alive connections), kabar MQTT (QoS 1 to the embedded broker), laravel-echo-server HTTP API ($PUBLISH_CONNS keep-alive connections); loadgen threads: $THREADS"
    echo "- kabar's \"server + broker\" figures add its embedded mosquitto's CPU (every event goes through it); laravel-echo-server has no broker, its figure is the server alone"
    echo
    "$LOADGEN_BIN" report "$RESULTS"
    echo "### Commands (ports: kabar HTTP $HTTP_PORT, embedded MQTT $MQTT_PORT, laravel-echo-server $ECHO_PORT, redis $REDIS_PORT)"
    echo
    echo '```'
    cat "$COMMANDS"
    echo '```'
  } >"$OUT_DIR/pusher-latest.md"
  cp "$RESULTS" "$OUT_DIR/pusher-latest.jsonl"
}

# ---------------------------------------------------------------- main

[[ -x "$LOADGEN_BIN" ]] || die "no load generator at $LOADGEN_BIN (cmake --build $BUILD_DIR --target kabar-loadgen)"
[[ -x "$KABAR_BIN" ]] || die "no kabar at $KABAR_BIN (cmake --build $BUILD_DIR --target kabar)"
[[ -x "$NODE_BIN" ]] || die "no node at $NODE_BIN"
[[ -f "$ECHO_SERVER_JS" ]] || die "laravel-echo-server is not installed: npm --prefix bench/peers ci"
command -v curl >/dev/null || die "curl is needed to wait for the servers"
HTTP_PORT=$(free_port "$PORT_BASE")
MQTT_PORT=$(free_port $((PORT_BASE + 10)))
ECHO_PORT=$(free_port $((PORT_BASE + 20)))
REDIS_PORT=$(free_port $((PORT_BASE + 30)))
ulimit -n "$(ulimit -Hn)"  # servers and loadgen hold ~IDLE_MAX sockets each
touch "$RESULTS" "$COMMANDS"
wait_quiet
start_redis

fanout_round
idle_round
stop_pid "$ECHO_PID"
stop_pid "$REDIS_PID"
write_report
echo
cat "$OUT_DIR/pusher-latest.md"
log "done in $((SECONDS - START_SECONDS)) s; results in ${OUT_DIR#"$ROOT"/}/pusher-latest.md"
[[ $FAILED == 0 ]] || { log "$FAILED loadgen run(s) incomplete"; exit 1; }
