#!/usr/bin/env bash
# Asio's io_uring backend against epoll, side by side in one run (docs/dependencies.md "Asio's io_uring
# backend"): two kabar binaries built from the same source, one as usual (epoll, Boost 1.74) and one with
# -DKABAR_IO_URING=ON (Boost 1.81, liburing), each driven by the same load generator through the fan-out
# scenario of scripts/bench.sh, /ws and /sse. Prints a table with the io_uring/epoll ratios and writes it
# to $OUT_DIR/uring-latest.md (+ uring-latest.jsonl, the raw loadgen results).
#
#   scripts/bench-uring.sh
#   EPOLL_BIN=build/kabar URING_BIN=build-uring/kabar scripts/bench-uring.sh
#
# Environment: EPOLL_BIN (default build/kabar), URING_BIN (build-uring/kabar), LOADGEN_BIN
# (build/kabar-loadgen: one client for both servers, so only the server differs), MOSQUITTO_BIN,
# PORT_BASE (18930: not bench.sh's, so the two can share a machine), SUBS (1000), RATE (50),
# DURATION (10), BURST (500), DRAIN (30), THREADS (2), KINDS ("ws sse"), NICE (-10 as root),
# QUIET_WAIT (120: seconds to wait at the start for other work to stop), QUIET_WAIT_RUN (30: the same
# before each run), BUDGET (600: seconds after the start wait beyond which remaining runs are skipped),
# OUT_DIR (bench/results).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
EPOLL_BIN=${EPOLL_BIN:-$ROOT/build/kabar}
URING_BIN=${URING_BIN:-$ROOT/build-uring/kabar}
LOADGEN_BIN=${LOADGEN_BIN:-$ROOT/build/kabar-loadgen}
MOSQUITTO_BIN=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
PORT_BASE=${PORT_BASE:-18930}
SUBS=${SUBS:-1000}
RATE=${RATE:-50}
DURATION=${DURATION:-10}
BURST=${BURST:-500}
DRAIN=${DRAIN:-30}
THREADS=${THREADS:-2}
KINDS=${KINDS:-ws sse}
NICE=${NICE:--10}
[[ $(id -u) == 0 ]] || NICE=0
QUIET_WAIT=${QUIET_WAIT:-120}
QUIET_WAIT_RUN=${QUIET_WAIT_RUN:-30}
BUDGET=${BUDGET:-600}
OUT_DIR=${OUT_DIR:-$ROOT/bench/results}
case "${1:-}" in
  -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  "") ;;
  *) echo "bench-uring.sh: unknown argument $1 (try --help)" >&2; exit 2 ;;
esac

MQTT_PORT=$PORT_BASE
HTTP_PORT=$((PORT_BASE + 50))
WORK=$(mktemp -d /tmp/kabar-bench-uring.XXXXXX)
RESULTS=$WORK/results.jsonl
COMMANDS=$WORK/commands.txt
MOSQ_PID=""
KABAR_PID=""
FAILED=0
START_SECONDS=$SECONDS

log() { printf '[bench-uring %3ds] %s\n' $((SECONDS - START_SECONDS)) "$*" >&2; }
die() { log "error: $*"; exit 1; }

source "$ROOT/scripts/lib/processes.sh"  # stop_pid, port_open, wait_port
cleanup() {
  stop_pid "$KABAR_PID"
  stop_pid "$MOSQ_PID"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_mosquitto() {
  {
    echo "listener $MQTT_PORT 127.0.0.1"
    echo "allow_anonymous true"
    echo "persistence false"
    echo "log_dest stderr"
    echo "log_type error"
    echo "log_type warning"
    echo "max_queued_messages 0"
    echo "max_inflight_messages 0"
    [[ $(id -u) == 0 ]] && echo "user root"
  } >"$WORK/mosquitto.conf"
  nice -n "$NICE" "$MOSQUITTO_BIN" -c "$WORK/mosquitto.conf" >>"$WORK/mosquitto.log" 2>&1 &
  MOSQ_PID=$!
  wait_port "$MQTT_PORT" 5 || die "mosquitto did not start: $(tail -3 "$WORK/mosquitto.log")"
}

start_kabar() {  # binary
  stop_pid "$KABAR_PID"
  local dir=$WORK/kabar-data-$RANDOM
  mkdir -p "$dir"
  cat >"$WORK/kabar.json" <<EOF
{"http":{"listen":"127.0.0.1","port":$HTTP_PORT,"send_queue_max_frames":65536},
 "broker":{"embedded":false,"host":"127.0.0.1","port":$MQTT_PORT,"client_id":"kabar-bench-uring"},
 "store":{"data_dir":"$dir"},"log":{"level":"warn"}}
EOF
  nice -n "$NICE" "$1" serve --config "$WORK/kabar.json" >>"$WORK/kabar.log" 2>&1 &
  KABAR_PID=$!
  for _ in $(seq 300); do
    curl -sf -o /dev/null "http://127.0.0.1:$HTTP_PORT/readyz" && return 0
    kill -0 "$KABAR_PID" 2>/dev/null || break
    sleep 0.05
  done
  die "$1 did not become ready: $(tail -5 "$WORK/kabar.log")"
}

source "$ROOT/scripts/lib/machine-load.sh"  # busy_pct, wait_quiet, wait_quiet_briefly

fanout() {  # kind backend
  local left=$((BUDGET - (SECONDS - RUNS_START))) rc=0
  if ((left < 40)); then
    FAILED=$((FAILED + 1))
    log "skipped (time budget of ${BUDGET}s used up): $1 $2"
    return 0
  fi
  local args=(fanout --kind "$1" --label "kabar ${1^^} $2" --port "$HTTP_PORT" --server-pid "$KABAR_PID"
    --subs "$SUBS" --rate "$RATE" --duration "$DURATION" --burst "$BURST" --drain "$DRAIN"
    --threads "$THREADS" --mqtt-port "$MQTT_PORT")
  { printf 'kabar-loadgen'; printf ' %q' "${args[@]}"; echo; } >>"$COMMANDS"
  log "fan-out: /$1 on $2, $SUBS subscribers, $RATE events/s for ${DURATION}s, then a burst of $BURST"
  nice -n "$NICE" timeout --kill-after=5 $((left < 190 ? left - 10 : 180)) "$LOADGEN_BIN" "${args[@]}" \
    >>"$RESULTS" 2>>"$WORK/loadgen.log" || rc=$?
  if [[ $rc != 0 ]]; then
    FAILED=$((FAILED + 1))
    log "loadgen exited with $rc: $(tail -2 "$WORK/loadgen.log")"
  fi
}

# One row per door and backend, then the io_uring/epoll ratio (below 1 is better for µs and latency,
# above 1 for deliveries/s).
table() {
  echo "| door | backend | server µs/delivery steady / burst | burst deliveries/s | p99 last-of-$SUBS steady (ms) | other processes, CPU % of a core steady / burst |"
  echo "|---|---|---|---|---|---|"
  local kind
  for kind in $KINDS; do
    jq -rs --arg k "$kind" '
      def f1: (. * 100 | round) / 100;
      def row(b): (map(select(.kind == $k and (.label | endswith(" " + b)))) | last);
      row("epoll") as $e | row("io_uring") as $u |
      def line(r; b): if r == null then "| /\($k) | \(b) | (no result) | | | |" else
        "| /\($k) | \(b) | \(r.steady.server_us_per_delivery | f1) / \(r.burst_phase.server_us_per_delivery | f1) | \(r.burst_phase.deliveries_per_s | round) | \(r.steady.last_of_n.p99_ms | f1) | \(r.steady.other_cpu_pct | round) / \(r.burst_phase.other_cpu_pct | round) |" end;
      line($e; "epoll"), line($u; "io_uring"),
      if $e == null or $u == null then empty else
        "| /\($k) | **io_uring / epoll** | **\($u.steady.server_us_per_delivery / $e.steady.server_us_per_delivery | f1)× / \($u.burst_phase.server_us_per_delivery / $e.burst_phase.server_us_per_delivery | f1)×** | **\($u.burst_phase.deliveries_per_s / $e.burst_phase.deliveries_per_s | f1)×** | **\($u.steady.last_of_n.p99_ms / $e.steady.last_of_n.p99_ms | f1)×** | |" end
    ' "$RESULTS"
  done
}

[[ -x "$EPOLL_BIN" ]] || die "no epoll kabar at $EPOLL_BIN (set EPOLL_BIN)"
[[ -x "$URING_BIN" ]] || die "no io_uring kabar at $URING_BIN (cmake -DKABAR_IO_URING=ON ...; set URING_BIN)"
[[ -x "$LOADGEN_BIN" ]] || die "no load generator at $LOADGEN_BIN (set LOADGEN_BIN)"
[[ -x "$MOSQUITTO_BIN" ]] || die "no mosquitto at $MOSQUITTO_BIN"
command -v curl >/dev/null || die "curl is needed to wait for kabar's /readyz"
command -v jq >/dev/null || die "jq is needed for the table"
for p in "$MQTT_PORT" "$HTTP_PORT"; do port_open "$p" && die "port $p is in use (set PORT_BASE)"; done
ulimit -n "$(ulimit -Hn)"
touch "$RESULTS" "$COMMANDS"

wait_quiet
log "machine ${BUSY_BEFORE}% busy before the run"
RUNS_START=$SECONDS  # BUDGET counts from here, not from the start of the wait
start_mosquitto
# Per door, epoll then io_uring back to back (each on a freshly started kabar), so the two runs that are
# compared are seconds apart.
for kind in $KINDS; do
  for backend in epoll io_uring; do
    if [[ $backend == epoll ]]; then start_kabar "$EPOLL_BIN"; else start_kabar "$URING_BIN"; fi
    wait_quiet_briefly
    fanout "$kind" "$backend"
    stop_pid "$KABAR_PID"
  done
done
stop_pid "$MOSQ_PID"

mkdir -p "$OUT_DIR"
{
  echo "# kabar: Asio's io_uring backend against epoll"
  echo
  echo "Written by scripts/bench-uring.sh on $(date -u '+%Y-%m-%d %H:%M UTC') in $((SECONDS - START_SECONDS)) s."
  echo
  echo "- machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), Linux $(uname -r); ${BUSY_BEFORE}% of all cores busy with other work just before the run; processes at nice $NICE"
  echo "- epoll: $EPOLL_BIN ($("$EPOLL_BIN" --version 2>&1 | head -1))"
  echo "- io_uring: $URING_BIN ($("$URING_BIN" --version 2>&1 | head -1); $(ldd "$URING_BIN" | grep -o 'liburing[^ ]*' | head -1 || echo 'liburing not linked!'))"
  echo "- fan-out: $SUBS subscribers of one channel; steady $RATE events/s for ${DURATION} s, then $BURST events back to back; QoS 1 publish through mosquitto; loadgen threads: $THREADS"
  echo
  table
  echo
  echo '```'
  cat "$COMMANDS"
  echo '```'
} >"$OUT_DIR/uring-latest.md"
cp "$RESULTS" "$OUT_DIR/uring-latest.jsonl"
echo
cat "$OUT_DIR/uring-latest.md"
log "done in $((SECONDS - START_SECONDS)) s; results in ${OUT_DIR#"$ROOT"/}/uring-latest.md"
[[ $FAILED == 0 ]] || { log "$FAILED loadgen run(s) incomplete"; exit 1; }
