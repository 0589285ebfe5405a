#!/usr/bin/env bash
# One command from a fresh Debian machine to a running kabar: install, build, and run `kabar demo` with
# the embedded defaults (own mosquitto on 127.0.0.1:1883, SQLite in ./data, HTTP on 127.0.0.1:8080):
# the two sample apps at http://localhost:8080/ with development logins and sample traffic flowing
# (docs/demo.md). When 1883 is taken (Debian's mosquitto.service), kabar's broker takes a free port and
# the log says which.
#   scripts/run.sh                     kabar demo
#   scripts/run.sh serve [flags]       the gateway alone (kabar serve: 0.0.0.0:8080, your own keys)
#   scripts/run.sh [flags]             kabar demo with those flags (e.g. --port 9090, --no-traffic)
# KABAR_RUN_SKIP_BUILD=1 skips setup and build and runs $KABAR_BIN (default build/kabar): for the tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/kabar
if [[ ${KABAR_RUN_SKIP_BUILD:-} == 1 ]]; then
  bin=${KABAR_BIN:-build/kabar}
else
  scripts/setup.sh
  scripts/build.sh -DKABAR_BUILD_BENCH=OFF
fi
command=demo
if [[ ${1:-} == serve || ${1:-} == demo ]]; then
  command=$1
  shift
fi
exec "$bin" "$command" "$@"
