# Machine-load helpers shared by the benchmark scripts (sourced, not run).
# They read QUIET_WAIT and QUIET_WAIT_RUN and call the sourcing script's log().

busy_pct() {  # share of all cores busy over one second, from /proc/stat
  local a b
  read -r -a a < <(head -1 /proc/stat)
  sleep 1
  read -r -a b < <(head -1 /proc/stat)
  local busy=0 total=0 i d
  for i in 1 2 3 4 5 6 7 8; do
    d=$((b[i] - a[i]))
    total=$((total + d))
    [[ $i == 4 || $i == 5 ]] || busy=$((busy + d))  # 4 idle, 5 iowait
  done
  echo $((total > 0 ? 100 * busy / total : 0))
}

# Other work on the cores (a build, a test suite) skews latency and throughput: wait a bounded time
# for it to stop, and record what was measured in the report either way.
wait_quiet() {
  local waited=0
  BUSY_BEFORE=$(busy_pct)
  while ((BUSY_BEFORE > 15 && waited < QUIET_WAIT)); do
    ((waited == 0)) && log "machine is ${BUSY_BEFORE}% busy with other work; waiting up to ${QUIET_WAIT}s"
    sleep 4
    waited=$((waited + 5))
    BUSY_BEFORE=$(busy_pct)
  done
}

# Before each fan-out run: a shorter bounded wait, so one busy spell does not spoil a whole round.
wait_quiet_briefly() {
  local waited=0 busy
  busy=$(busy_pct)
  while ((busy > 15 && waited < QUIET_WAIT_RUN)); do
    sleep 2
    waited=$((waited + 3))
    busy=$(busy_pct)
  done
  ((busy <= 15)) || log "machine ${busy}% busy with other work; running anyway (see \"other processes\")"
}
