# Process and port helpers shared by the benchmark scripts (sourced, not run): every process a script
# starts is stopped by its pid, never by name.

stop_pid() {  # pid: TERM, up to 5 s, then KILL
  local pid=$1
  [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {  # port, seconds
  for _ in $(seq $(($2 * 20))); do port_open "$1" && return 0; sleep 0.05; done
  return 1
}
