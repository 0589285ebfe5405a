#!/usr/bin/env bash
# Runs kabar's benchmark (docs/benchmarks.md): kabar's /ws and /sse against mosquitto's WebSocket
# listener, driven by the same load generator (kabar-loadgen) in the same run, so every figure can be
# read as a kabar/peer ratio. Starts and stops its own mosquitto and kabar (by pid), prints a table and
# writes bench/results/latest.md (+ latest.jsonl, the raw results). Bounded: each loadgen run has a
# timeout and the whole script stays under 15 minutes on the reference machine (2 cores).
#
#   scripts/bench.sh              full run
#   scripts/bench.sh --quick      small sizes, under a minute (smoke test of the harness)
#   scripts/bench.sh --peer-only  mosquitto and the baseline only (no kabar binary needed)
#
# Environment: BUILD_DIR (default build/), KABAR_BIN, LOADGEN_BIN, MOSQUITTO_BIN, PORT_BASE (18830),
# SUBS (1000), RATE (50), DURATION (10), BURST (500), DRAIN (30), HIGH_RATE (200: a second round without
# mosquitto, which cannot sustain it; 0 = skip),
# STEADY_PAIRS (0: after the rounds, this many alternating steady-only runs of the baseline and kabar
# /ws, each on a fresh server, summed into one /ws / baseline ratio: one run's steady ratio moves by
# about ±10% with the machine), IDLE_CONNS (10000), IDLE_MAX (19000; 0 = skip), THREADS (2), OUT_DIR (bench/results),
# QUIET_WAIT (60: seconds to wait for other work on the machine to stop before starting),
# QUIET_WAIT_RUN (15: the same before each fan-out run), NICE (-10 as root: priority of every process
# the benchmark starts, so other work on a shared machine disturbs it less), BUDGET (840: seconds after
# which remaining runs are skipped, so the script ends within 15 minutes whatever happens).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT/build}
KABAR_BIN=${KABAR_BIN:-$BUILD_DIR/kabar}
LOADGEN_BIN=${LOADGEN_BIN:-$BUILD_DIR/kabar-loadgen}
MOSQUITTO_BIN=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
PORT_BASE=${PORT_BASE:-18830}
SUBS=${SUBS:-1000}
RATE=${RATE:-50}
DURATION=${DURATION:-10}
DRAIN=${DRAIN:-30}  # seconds a phase may wait for its last deliveries
BURST=${BURST:-500}
HIGH_RATE=${HIGH_RATE:-200}
STEADY_PAIRS=${STEADY_PAIRS:-0}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_MAX=${IDLE_MAX:-19000}
THREADS=${THREADS:-2}
OUT_DIR=${OUT_DIR:-$ROOT/bench/results}
QUIET_WAIT=${QUIET_WAIT:-60}
QUIET_WAIT_RUN=${QUIET_WAIT_RUN:-15}
# Servers and loadgen run at this niceness (negative needs root): background work on a shared machine
# then gets a small share of the cores during a run. The same for every peer.
NICE=${NICE:--10}
BUDGET=${BUDGET:-840}
[[ $(id -u) == 0 ]] || NICE=0
PEER_ONLY=0

for arg in "$@"; do
  case "$arg" in
    --quick) SUBS=200 RATE=50 DURATION=3 BURST=100 HIGH_RATE=0 IDLE_CONNS=2000 IDLE_MAX=0 ;;
    --peer-only) PEER_ONLY=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown argument $arg (try --help)" >&2; exit 2 ;;
  esac
done

MQTT_PORT=$PORT_BASE
MQTT_WS_PORT=$((PORT_BASE + 1))
HTTP_PORT=$((PORT_BASE + 50))
BASELINE_PORT=$((PORT_BASE + 60))
WORK=$(mktemp -d /tmp/kabar-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
PAIRS=$WORK/steady-pairs.jsonl
COMMANDS=$WORK/commands.txt
MOSQ_PID=""
KABAR_PID=""
BASELINE_PID=""
FAILED=0
START_SECONDS=$SECONDS

log() { printf '[bench %3ds] %s\n' $((SECONDS - START_SECONDS)) "$*" >&2; }
die() { log "error: $*"; exit 1; }

# ---------------------------------------------------------------- processes (stopped by pid only)

source "$ROOT/scripts/lib/processes.sh"  # stop_pid, port_open, wait_port

cleanup() {
  stop_pid "$BASELINE_PID"
  stop_pid "$KABAR_PID"
  stop_pid "$MOSQ_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_mosquitto() {
  stop_pid "$MOSQ_PID"
  local conf=$WORK/mosquitto.conf
  # A websockets-only config does not start, and `listener N 127.0.0.1` with websockets binds every
  # interface (docs/toolchain notes): plain listener on 127.0.0.1, websockets on lo.
  {
    echo "listener $MQTT_PORT 127.0.0.1"
    echo "listener $MQTT_WS_PORT lo"
    echo "protocol websockets"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "log_dest stderr"
    echo "log_type error"
    echo "log_type warning"
    # No per-client queue limit, like kabar's send_queue_max_frames 65536: nothing is dropped in a burst.
    echo "max_queued_messages 0"
    echo "max_inflight_messages 0"
    [[ $(id -u) == 0 ]] && echo "user root"
  } >"$conf"
  nice -n "$NICE" "$MOSQUITTO_BIN" -c "$conf" >>"$WORK/mosquitto.log" 2>&1 &
  MOSQ_PID=$!
  wait_port "$MQTT_PORT" 5 && wait_port "$MQTT_WS_PORT" 5 || die "mosquitto did not start: $(tail -3 "$WORK/mosquitto.log")"
}

start_kabar() {
  stop_pid "$KABAR_PID"
  local dir=$WORK/kabar-data-$RANDOM
  mkdir -p "$dir"
  cat >"$WORK/kabar.json" <<EOF
{"http":{"listen":"127.0.0.1","port":$HTTP_PORT,"send_queue_max_frames":65536},
 "broker":{"embedded":false,"host":"127.0.0.1","port":$MQTT_PORT,"client_id":"kabar-bench"},
 "store":{"data_dir":"$dir"},"log":{"level":"warn"}}
EOF
  nice -n "$NICE" "$KABAR_BIN" serve --config "$WORK/kabar.json" >>"$WORK/kabar.log" 2>&1 &
  KABAR_PID=$!
  for _ in $(seq 300); do  # 15 s: store open, MQTT sessions connected and subscribed
    curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/readyz" && return 0
    kill -0 "$KABAR_PID" 2>/dev/null || break
    sleep 0.05
  done
  die "kabar did not become ready: $(tail -5 "$WORK/kabar.log")"
}

# ---------------------------------------------------------------- scenarios

loadgen() {  # loadgen ARGS...: one JSON line to $RESULTS, the summary to the terminal
  local args=("$@" --threads "$THREADS" --mqtt-port "$MQTT_PORT") rc=0
  local left=$((BUDGET - (SECONDS - START_SECONDS)))
  if ((left < 30)); then
    FAILED=$((FAILED + 1))
    log "skipped (time budget of ${BUDGET}s used up): kabar-loadgen $*"
    return 0
  fi
  { printf 'kabar-loadgen'; printf ' %q' "${args[@]}"; echo; } >>"$COMMANDS"
  nice -n "$NICE" timeout --kill-after=5 $((left < 190 ? left - 10 : 180)) "$LOADGEN_BIN" "${args[@]}" >>"$RESULTS" 2> >(tee -a "$WORK/loadgen.log" >&2) || rc=$?
  if [[ $rc != 0 ]]; then
    FAILED=$((FAILED + 1))
    log "loadgen exited with $rc (see the JSON line and the message above)"
  fi
}

fanout() {  # kind label port pid rate [more loadgen flags]
  log "fan-out: $2, $SUBS subscribers, $5 events/s for ${DURATION}s, then a burst of $BURST"
  loadgen fanout --kind "$1" --label "$2" --port "$3" --server-pid "$4" --subs "$SUBS" --rate "$5" \
    --duration "$DURATION" --burst "$BURST" --drain "$DRAIN" "${@:6}"
}

idle() {  # kind label port pid conns
  log "idle: $2, $5 connections"
  loadgen idle --kind "$1" --label "$2" --port "$3" --server-pid "$4" --conns "$5"
}

start_baseline() {
  stop_pid "$BASELINE_PID"
  nice -n "$NICE" "$LOADGEN_BIN" baseline-server --port "$BASELINE_PORT" --mqtt-port "$MQTT_PORT" --timeout 300 \
    >>"$WORK/baseline.log" 2>&1 &
  BASELINE_PID=$!
  wait_port "$BASELINE_PORT" 10 || die "baseline-server did not start: $(tail -3 "$WORK/baseline.log")"
}

# Fan-out runs of one rate, back to back so that the ratios compare runs minutes apart at most. The
# mosquitto run comes first, on a fresh broker; the broker then serves the other runs. The baseline
# (kabar-loadgen baseline-server) does one send() per delivery and nothing else.
fanout_round() {  # rate [label suffix]
  local rate=$1 suffix=${2:-} kind
  start_mosquitto
  if [[ -z "$suffix" ]]; then  # the peer saturates above RATE (docs/benchmarks.md)
    wait_quiet_briefly
    fanout mqtt-ws "mosquitto WS" "$MQTT_WS_PORT" "$MOSQ_PID" "$rate"
  fi
  start_baseline
  wait_quiet_briefly
  fanout sse "baseline: 1 send()/delivery$suffix" "$BASELINE_PORT" "$BASELINE_PID" "$rate" --role baseline
  stop_pid "$BASELINE_PID"
  [[ $PEER_ONLY == 1 ]] && return 0
  for kind in ws pusher sse; do
    start_kabar
    wait_quiet_briefly
    fanout "$kind" "$(kabar_label "$kind")$suffix" "$HTTP_PORT" "$KABAR_PID" "$rate"
  done
  stop_pid "$KABAR_PID"
}

# The steady phase alone, baseline then kabar /ws, STEADY_PAIRS times; results in $PAIRS (not in the
# main tables), summed by steady_pairs_table.
steady_pairs() {
  local i main_results=$RESULTS
  RESULTS=$PAIRS
  for ((i = 1; i <= STEADY_PAIRS; i++)); do
    start_baseline
    wait_quiet_briefly
    BURST=0 fanout sse "baseline steady $i" "$BASELINE_PORT" "$BASELINE_PID" "$RATE" --role baseline
    stop_pid "$BASELINE_PID"
    start_kabar
    wait_quiet_briefly
    BURST=0 fanout ws "kabar WS steady $i" "$HTTP_PORT" "$KABAR_PID" "$RATE"
    stop_pid "$KABAR_PID"
  done
  RESULTS=$main_results
}

steady_pairs_table() {
  [[ -s $PAIRS ]] || return 0
  echo "### Steady phase in alternating pairs (STEADY_PAIRS=$STEADY_PAIRS)"
  echo
  echo "| pair | baseline µs/delivery | kabar /ws µs/delivery | /ws / baseline | p99 ms last of N: baseline / /ws |"
  echo "|---|---|---|---|---|"
  jq -rs '
    def r2: (. * 100 | round) / 100;
    [.[] | {pair: (.label | split(" ") | last), role: .role, us: .steady.server_us_per_delivery,
            p99: .steady.last_of_n.p99_ms}] | group_by(.pair)[]
    | (map(select(.role == "baseline"))[0]) as $b | (map(select(.role != "baseline"))[0]) as $k
    | select($b != null and $k != null)
    | "| \($b.pair) | \($b.us | r2) | \($k.us | r2) | \($k.us / $b.us | r2) | \($b.p99 | r2) / \($k.p99 | r2) |"' "$PAIRS"
  jq -rs '
    def r2: (. * 100 | round) / 100;
    (map(select(.role == "baseline") | .steady.server_us_per_delivery) | add) as $b
    | (map(select(.role != "baseline") | .steady.server_us_per_delivery) | add) as $k
    | "| sum | \($b | r2) | \($k | r2) | **\($k / $b | r2)** | |"' "$PAIRS"
  echo
}

# kabar's doors as the report names them: /ws, /sse and the Pusher door /app/{key} (pusher-js's frames).
kabar_label() { case "$1" in pusher) echo "kabar APP" ;; *) echo "kabar ${1^^}" ;; esac; }

# Idle memory, each run on a freshly started server: memory freed by an earlier run would hide growth.
idle_round() {
  local n kind
  for n in $IDLE_CONNS $IDLE_MAX; do
    [[ $n == 0 ]] && continue
    start_mosquitto
    idle mqtt-ws "mosquitto WS" "$MQTT_WS_PORT" "$MOSQ_PID" "$n"
    [[ $PEER_ONLY == 1 ]] && continue
    for kind in ws pusher sse; do
      start_kabar
      idle "$kind" "$(kabar_label "$kind")" "$HTTP_PORT" "$KABAR_PID" "$n"
    done
    stop_pid "$KABAR_PID"
  done
}

# ---------------------------------------------------------------- machine load

source "$ROOT/scripts/lib/machine-load.sh"  # busy_pct, wait_quiet, wait_quiet_briefly

# ---------------------------------------------------------------- report

machine_info() {
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/{print $2}') GiB RAM, Linux $(uname -r)"
  echo "- RLIMIT_NOFILE: $(ulimit -Sn) soft / $(ulimit -Hn) hard; benchmark processes at nice $NICE"
  echo "- mosquitto: $("$MOSQUITTO_BIN" -h 2>&1 | head -1)"
  [[ $PEER_ONLY == 0 ]] && echo "- kabar: $("$KABAR_BIN" --version 2>&1 | head -1)"
  echo "- source: $(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo 'no commit yet')"
  echo "- other work on the machine: ${BUSY_BEFORE}% of all cores busy just before the run$( ((BUSY_BEFORE > 15)) && echo ' (**noisy: latency and throughput figures are unreliable; CPU per delivery less so**)'); per phase see \"other processes\" below"
}

write_report() {
  mkdir -p "$OUT_DIR"
  {
    echo "# kabar benchmark: latest run"
    echo
    echo "Written by scripts/bench.sh on $(date -u '+%Y-%m-%d %H:%M UTC') in $((SECONDS - START_SECONDS)) s. Method and caveats: docs/benchmarks.md."
    echo
    machine_info
    echo "- fan-out: $SUBS subscribers of one channel; steady $RATE events/s for ${DURATION} s, then $BURST events back to back; QoS 1 publish; loadgen threads: $THREADS"
    echo
    "$LOADGEN_BIN" report "$RESULTS"
    steady_pairs_table
    echo "### Commands (ports: MQTT $MQTT_PORT, mosquitto WebSocket $MQTT_WS_PORT, kabar HTTP $HTTP_PORT, baseline $BASELINE_PORT)"
    echo
    echo '```'
    cat "$COMMANDS"
    echo '```'
  } >"$OUT_DIR/latest.md"
  cp "$RESULTS" "$OUT_DIR/latest.jsonl"
  [[ -s $PAIRS ]] && cp "$PAIRS" "$OUT_DIR/latest-steady-pairs.jsonl"
  return 0
}

# ---------------------------------------------------------------- main

[[ -x "$LOADGEN_BIN" ]] || die "no load generator at $LOADGEN_BIN (cmake --build $BUILD_DIR --target kabar-loadgen)"
[[ -x "$MOSQUITTO_BIN" ]] || die "no mosquitto at $MOSQUITTO_BIN"
[[ $PEER_ONLY == 1 || -x "$KABAR_BIN" ]] || die "no kabar at $KABAR_BIN (or use --peer-only)"
command -v curl >/dev/null || die "curl is needed to wait for kabar's /readyz"
[[ $STEADY_PAIRS == 0 ]] || command -v jq >/dev/null || die "jq is needed to sum STEADY_PAIRS (apt install jq)"
for p in "$MQTT_PORT" "$MQTT_WS_PORT" "$HTTP_PORT" "$BASELINE_PORT"; do port_open "$p" && die "port $p is in use (set PORT_BASE)"; done
ulimit -n "$(ulimit -Hn)"  # servers and loadgen hold ~IDLE_MAX sockets each
touch "$RESULTS" "$COMMANDS"
wait_quiet

fanout_round "$RATE"
[[ $HIGH_RATE == 0 ]] || fanout_round "$HIGH_RATE" " @${HIGH_RATE}/s"
[[ $PEER_ONLY == 1 || $STEADY_PAIRS == 0 ]] || steady_pairs
idle_round
stop_pid "$KABAR_PID"
stop_pid "$MOSQ_PID"
write_report
echo
cat "$OUT_DIR/latest.md"
log "done in $((SECONDS - START_SECONDS)) s; results in ${OUT_DIR#"$ROOT"/}/latest.md"
[[ $FAILED == 0 ]] || { log "$FAILED loadgen run(s) incomplete"; exit 1; }
